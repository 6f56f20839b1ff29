"""Abuse limits: requests per client address (a moving window) and the failed-login log.

Both live in Redis when `AUTHSVC_REDIS_URL` is set, so every worker and host shares the
counts (the address window is then the `limits` library's, imported only there). Without
it the failed-login log lives in the database (shared by every worker and host), while the
address counts stay in each process (`core.rates.MovingWindow`; see docs/security.md,
"Lockout storage", for why). Each app gets its own `AddressLimit` and storage, so two
apps in one process (tests start many) never share counts.

The address limit covers the routes where guessing happens, chosen by path so that a
blueprint joins it by living under one of `ADDRESS_LIMITED`: no view has to opt in.
`/auth/refresh` stays out: one backend refreshes for many users from one address.

The check is one `before_request` hook that returns at once for every other path.
Flask-Limiter did the same job, but evaluated its limits on every request, the exempt hot
path included (about 6 % of a `/auth/verify`, docs/performance.md).
"""

from __future__ import annotations

import ipaddress
import math
import time
from typing import TYPE_CHECKING, Protocol

from flask import Flask, Response, current_app, request

from authsvc.config import Settings
from authsvc.core import errors, rates
from authsvc.services.failure_log import DatabaseFailureLog, FailureLog, RedisFailureLog
from authsvc.services.use_counts import DatabaseUseCounter, RedisUseCounter, UseCounter
from authsvc.web.errors import render

if TYPE_CHECKING:
    from redis import Redis

_EXTENSION = "authsvc.ratelimit"
ADDRESS_LIMITED = (
    "/api/v1/auth/login",
    "/api/v1/auth/register",
    "/api/v1/auth/totp/",
    "/console/session/login",
    "/api/v1/auth/oauth2/register",
)


_EXACT = frozenset(p for p in ADDRESS_LIMITED if not p.endswith("/"))
_PREFIXES = tuple(p for p in ADDRESS_LIMITED if p.endswith("/"))


def address_limited(path: str) -> bool:
    """True for the paths the per-address limit covers (an entry ending in `/` is a prefix)."""
    return path in _EXACT or path.startswith(_PREFIXES)


def client_address() -> str:
    """The key the address limit counts by: the client IP, an IPv6 client by its /64.

    `remote_addr` has already been rewritten by ProxyFix when, and only when,
    `AUTHSVC_TRUSTED_PROXIES` says how many proxies to trust.
    """
    raw = request.remote_addr or "unknown"
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return raw
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class AddressLimit(Protocol):
    def hit(self, address: str) -> None:
        """Count one request from `address`; `429` with the wait when over any of the limits."""


class LocalAddressLimit:
    """The moving-window count per client address, in this process."""

    def __init__(self, settings: Settings) -> None:
        self.rates = rates.parse_many(settings.address_rate)
        self.window = rates.MovingWindow()

    def hit(self, address: str) -> None:
        wait = self.window.hit(address, self.rates, time.monotonic())
        if wait is not None:
            raise errors.RateLimited(max(1, math.ceil(wait)))


class SharedAddressLimit:
    """The same count in Redis, shared by every worker and host: `limits`' moving window,
    imported only here, its keys as they always were."""

    SCOPE = "auth-address"

    def __init__(self, settings: Settings, url: str) -> None:
        from limits import parse_many
        from limits.storage import storage_from_string
        from limits.strategies import MovingWindowRateLimiter

        storage = storage_from_string(url, socket_connect_timeout=2, socket_timeout=2)
        self.window = MovingWindowRateLimiter(storage)
        self.items = parse_many(settings.address_rate)
        self.prefix = settings.redis_prefix

    def hit(self, address: str) -> None:
        key = (self.prefix, self.SCOPE, address)
        over = [item for item in self.items if not self.window.hit(item, *key)]
        if over:
            reset = max(self.window.get_window_stats(item, *key).reset_time for item in over)
            raise errors.RateLimited(max(1, math.ceil(reset - time.time())))


def _limit_address() -> None:
    if address_limited(request.path):
        limit: AddressLimit = current_app.extensions[_EXTENSION]
        limit.hit(client_address())


def init_app(app: Flask, settings: Settings) -> None:
    limit: AddressLimit = (
        SharedAddressLimit(settings, settings.redis_url)
        if settings.redis_url
        else LocalAddressLimit(settings)
    )
    app.extensions[_EXTENSION] = limit
    app.before_request(_limit_address)
    if (
        settings.redis_url
    ):  # redis-py (several MB per worker) is imported only where Redis is configured
        import redis

        app.register_error_handler(redis.RedisError, _storage_down)


def failure_log(settings: Settings) -> FailureLog:
    """The failed-login log: in Redis when one is configured, else in the database (shared by
    every worker and host without Redis)."""
    if settings.redis_url:
        return RedisFailureLog(_redis(settings.redis_url))
    return DatabaseFailureLog()


def use_counter(settings: Settings) -> UseCounter:
    """The per-key use counts (issue 22): where the failed-login log lives."""
    if settings.redis_url:
        return RedisUseCounter(_redis(settings.redis_url), settings.redis_prefix)
    return DatabaseUseCounter()


def _redis(url: str) -> Redis[bytes]:
    """A client with short timeouts: a Redis that hangs must not hang the request."""
    import redis  # redis-py (several MB per worker) only where Redis is configured

    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)


def _storage_down(error: Exception) -> Response:
    """Limits that cannot be checked are not waived: the request is refused, as for a database outage."""
    current_app.logger.error("rate-limit storage error: %s", type(error).__name__)
    return render(errors.ServiceUnavailable())
