"""Settings: defaults, then `instance/config.py`, then `AUTHSVC_*` variables, then test config
(read into the app by `authsvc.web.app`).

Every setting is named as its environment variable. Values from the environment are
parsed by the type of their default, and `validate` fails at start, not at first use.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from limits import parse_many

from authsvc.core import crypto
from authsvc.core.keys import ALGORITHMS
from authsvc.core.passwords import OWASP_MINIMUM, HashParams

DEFAULTS: dict[str, Any] = {
    "AUTHSVC_DATABASE_URL": None,  # None: SQLite in the instance folder
    "AUTHSVC_REDIS_URL": None,
    "AUTHSVC_REDIS_PREFIX": "authsvc:",  # namespaces this service's keys in a shared Redis
    "AUTHSVC_SECRET_KEY": None,  # None: instance/secret_key, created on first start
    "AUTHSVC_ISSUER": "http://127.0.0.1:5000",
    "AUTHSVC_AUDIENCE": "authsvc",
    "AUTHSVC_SIGNING_ALG": "ES256",
    "AUTHSVC_DEFAULT_SCOPES": "read write",
    "AUTHSVC_ACCESS_TTL": 3600,
    "AUTHSVC_REFRESH_TTL": 30 * 24 * 3600,
    "AUTHSVC_PRIVATE_TOKEN_MAX_DAYS": 365,
    "AUTHSVC_LEEWAY": 10,
    "AUTHSVC_OPEN_REGISTRATION": False,
    "AUTHSVC_REQUIRE_TOTP_FOR_PRIVATE_TOKENS": False,
    "AUTHSVC_TOTP_ISSUER": "authsvc",
    "AUTHSVC_LOGIN_FAILURES": 5,
    "AUTHSVC_LOGIN_WINDOW": 15 * 60,
    "AUTHSVC_ADDRESS_RATE": "50 per minute",
    "AUTHSVC_TRUSTED_PROXIES": 0,
    "AUTHSVC_MAX_BODY_BYTES": 64 * 1024,
    "AUTHSVC_AUTO_MIGRATE": True,
    "AUTHSVC_ARGON2_MEMORY_KIB": OWASP_MINIMUM.memory_kib,
    "AUTHSVC_ARGON2_TIME_COST": OWASP_MINIMUM.time_cost,
    "AUTHSVC_ARGON2_PARALLELISM": OWASP_MINIMUM.parallelism,
    "AUTHSVC_LAST_USED_RESOLUTION": 60,
    "AUTHSVC_OAUTH_DYNAMIC_REGISTRATION": False,  # RFC 7591 open to anyone (rate limited per address)
    "AUTHSVC_OAUTH_DYNAMIC_SCOPES": "read",  # the most a dynamically registered client may get
    "AUTHSVC_CONSOLE_SECURE_COOKIE": True,  # False only to serve the console over plain http beyond loopback
}
_TYPES = {name: type(value) for name, value in DEFAULTS.items() if value is not None}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(RuntimeError):
    """A setting that would make the service unsafe or unable to run."""


def parse(name: str, raw: str) -> Any:
    kind = _TYPES.get(name, str)
    if kind is bool:
        if raw.strip().lower() in _TRUE:
            return True
        if raw.strip().lower() in _FALSE:
            return False
        raise ConfigError(f"{name} must be true or false, not {raw!r}")
    if kind is int:
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    return raw


def validate(config: Mapping[str, Any]) -> None:
    if config["AUTHSVC_SIGNING_ALG"] not in ALGORITHMS:
        raise ConfigError(f"AUTHSVC_SIGNING_ALG must be one of {', '.join(ALGORITHMS)}")
    if len(config["INSTANCE_SECRET"]) < 32:
        raise ConfigError("AUTHSVC_SECRET_KEY must be at least 32 characters")
    for name in ("AUTHSVC_ACCESS_TTL", "AUTHSVC_REFRESH_TTL", "AUTHSVC_PRIVATE_TOKEN_MAX_DAYS",
                 "AUTHSVC_LOGIN_FAILURES", "AUTHSVC_LOGIN_WINDOW", "AUTHSVC_MAX_BODY_BYTES"):
        if not isinstance(config[name], int) or config[name] <= 0:
            raise ConfigError(f"{name} must be a positive whole number")
    if config["AUTHSVC_ACCESS_TTL"] > config["AUTHSVC_REFRESH_TTL"]:
        raise ConfigError("AUTHSVC_ACCESS_TTL must not exceed AUTHSVC_REFRESH_TTL")
    try:
        if not parse_many(config["AUTHSVC_ADDRESS_RATE"]):
            raise ValueError("empty")
    except ValueError:
        raise ConfigError('AUTHSVC_ADDRESS_RATE must read like "50 per minute"') from None
    if not isinstance(config["AUTHSVC_TRUSTED_PROXIES"], int) or config["AUTHSVC_TRUSTED_PROXIES"] < 0:
        raise ConfigError("AUTHSVC_TRUSTED_PROXIES must be a whole number of proxy hops, 0 or more")
    if not 0 <= config["AUTHSVC_LEEWAY"] <= 300:
        raise ConfigError("AUTHSVC_LEEWAY must be between 0 and 300 seconds")
    weaker = (
        config["AUTHSVC_ARGON2_MEMORY_KIB"] < OWASP_MINIMUM.memory_kib
        or config["AUTHSVC_ARGON2_TIME_COST"] < OWASP_MINIMUM.time_cost
        or config["AUTHSVC_ARGON2_PARALLELISM"] < OWASP_MINIMUM.parallelism
    )
    if weaker and not config.get("TESTING"):
        raise ConfigError("argon2id parameters below OWASP's minimum (19 MiB, t=2, p=1)")


@dataclass(frozen=True)
class Settings:
    """The settings the use cases read, typed and computed once per app."""

    issuer: str
    audience: str
    alg: str
    leeway: int
    access_ttl: timedelta
    refresh_ttl: timedelta
    private_max_days: int
    default_scopes: tuple[str, ...]
    open_registration: bool
    require_totp_for_private_tokens: bool
    totp_issuer: str
    hash_params: HashParams
    last_used_resolution: timedelta
    login_failures: int
    login_window: int
    secret: bytes
    console_secure_cookie: bool = True
    oauth_dynamic_registration: bool = False
    oauth_dynamic_scopes: tuple[str, ...] = ("read",)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        return cls(
            issuer=config["AUTHSVC_ISSUER"],
            audience=config["AUTHSVC_AUDIENCE"],
            alg=config["AUTHSVC_SIGNING_ALG"],
            leeway=config["AUTHSVC_LEEWAY"],
            access_ttl=timedelta(seconds=config["AUTHSVC_ACCESS_TTL"]),
            refresh_ttl=timedelta(seconds=config["AUTHSVC_REFRESH_TTL"]),
            private_max_days=config["AUTHSVC_PRIVATE_TOKEN_MAX_DAYS"],
            default_scopes=tuple(config["AUTHSVC_DEFAULT_SCOPES"].split()),
            open_registration=config["AUTHSVC_OPEN_REGISTRATION"],
            require_totp_for_private_tokens=config["AUTHSVC_REQUIRE_TOTP_FOR_PRIVATE_TOKENS"],
            totp_issuer=config["AUTHSVC_TOTP_ISSUER"],
            hash_params=HashParams(
                memory_kib=config["AUTHSVC_ARGON2_MEMORY_KIB"],
                time_cost=config["AUTHSVC_ARGON2_TIME_COST"],
                parallelism=config["AUTHSVC_ARGON2_PARALLELISM"],
            ),
            last_used_resolution=timedelta(seconds=config["AUTHSVC_LAST_USED_RESOLUTION"]),
            login_failures=config["AUTHSVC_LOGIN_FAILURES"],
            login_window=config["AUTHSVC_LOGIN_WINDOW"],
            secret=config["INSTANCE_SECRET"],
            console_secure_cookie=config["AUTHSVC_CONSOLE_SECURE_COOKIE"],
            oauth_dynamic_registration=config["AUTHSVC_OAUTH_DYNAMIC_REGISTRATION"],
            oauth_dynamic_scopes=tuple(config["AUTHSVC_OAUTH_DYNAMIC_SCOPES"].split()),
        )

    @property
    def longest_lifetime(self) -> timedelta:
        """How long a retired key must stay published: the longest any token lives."""
        return max(self.access_ttl, self.refresh_ttl, timedelta(days=self.private_max_days)) + \
            timedelta(seconds=self.leeway)
