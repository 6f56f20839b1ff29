"""Prometheus counters of what the use cases do: logins by outcome, refreshes, reuse
detections, rejected tokens by reason, and request latency (observed by the web layer)."""
from __future__ import annotations

from prometheus_client import Counter, Histogram

LOGINS = Counter("authsvc_logins_total", "Login attempts by outcome.", ["outcome"])
REFRESHES = Counter("authsvc_refreshes_total", "Successful refresh-token rotations.")
REUSE = Counter("authsvc_refresh_reuse_detections_total",
                "Spent refresh tokens presented again (each revoked a session).")
REJECTED = Counter("authsvc_rejected_tokens_total", "Tokens refused, by reason.", ["reason"])
LATENCY = Histogram("authsvc_request_duration_seconds", "Request latency by route.",
                    ["method", "endpoint"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))

_EVENTS = {
    "login.succeeded": lambda: LOGINS.labels("succeeded").inc(),
    "login.failed": lambda: LOGINS.labels("failed").inc(),
    "token.refreshed": REFRESHES.inc,
    "refresh.reuse_detected": REUSE.inc,
}


def observe_event(event_type: str) -> None:
    """Count an audited event that has a metric (audit events are the one place events happen)."""
    count = _EVENTS.get(event_type)
    if count is not None:
        count()


def observe_rejection(reason: str) -> None:
    REJECTED.labels(reason).inc()
