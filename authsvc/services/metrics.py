"""Prometheus counters of what the use cases do: logins by outcome, refreshes, reuse
detections, replays, rejected tokens by reason, and request latency (observed by the web
layer). Under gunicorn, `PROMETHEUS_MULTIPROC_DIR` (set by `gunicorn.conf.py`) makes every
worker's counts add up.

The public app does not serve them (issue 13, item 8): they tell an outsider how many logins
fail and how many refresh tokens are replayed. `gunicorn.conf.py` serves `/metrics` on
`AUTHSVC_METRICS_BIND` only; `exposition_app()` is the same text as a WSGI app."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    make_wsgi_app,
    multiprocess,
)

LOGINS = Counter("authsvc_logins_total", "Login attempts by outcome.", ["outcome"])
REFRESHES = Counter("authsvc_refreshes_total", "Successful refresh-token rotations.")
REUSE = Counter(
    "authsvc_refresh_reuse_detections_total",
    "Sessions revoked because a spent refresh token came back (once per session).",
)
REPLAYS = Counter(
    "authsvc_refresh_replays_total",
    "Successors answered again to their predecessor within the reuse window (once per successor).",
)
REJECTED = Counter("authsvc_rejected_tokens_total", "Tokens refused, by reason.", ["reason"])
LATENCY_NAME = "authsvc_request_duration_seconds"
LATENCY_HELP = "Request latency by route."
LATENCY_LABELS = ("method", "endpoint")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
LATENCY = Histogram(LATENCY_NAME, LATENCY_HELP, LATENCY_LABELS, buckets=LATENCY_BUCKETS)

_EVENTS: dict[str, Callable[[], None]] = {
    "login.succeeded": lambda: LOGINS.labels("succeeded").inc(),
    "login.failed": lambda: LOGINS.labels("failed").inc(),
    "token.refreshed": REFRESHES.inc,
    "refresh.reuse_detected": REUSE.inc,
    "token.refresh_replayed": REPLAYS.inc,
}


def observe_event(event_type: str) -> None:
    """Count an audited event that has a metric (audit events are the one place events happen)."""
    count = _EVENTS.get(event_type)
    if count is not None:
        count()


def observe_rejection(reason: str) -> None:
    REJECTED.labels(reason).inc()


def registry() -> CollectorRegistry:
    """Every worker's counts under a multiprocess server, else this process's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        summed = CollectorRegistry()
        # prometheus_client leaves this constructor unannotated.
        multiprocess.MultiProcessCollector(summed)  # type: ignore[no-untyped-call]
        return summed
    return REGISTRY


def exposition_app() -> Callable[..., Iterable[bytes]]:
    """`/metrics` as a WSGI app of its own, for a private address (and for tests)."""
    return make_wsgi_app(registry())
