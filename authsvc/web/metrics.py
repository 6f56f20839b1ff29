"""Prometheus metrics: logins by outcome, refreshes, reuse detections, rejected tokens by
reason, and request latency. Under gunicorn, `PROMETHEUS_MULTIPROC_DIR` (set by
`gunicorn.conf.py`) makes every worker's counts add up in `/metrics`."""
from __future__ import annotations

import os
import time

from flask import Flask, Response, g, request
from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram,
                               generate_latest, multiprocess)

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


def _start() -> None:
    g.metrics_started = time.perf_counter()


def _finish(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    if started is not None:
        LATENCY.labels(request.method, request.url_rule.rule if request.url_rule else "unmatched") \
            .observe(time.perf_counter() - started)
    return response


def render() -> Response:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest()
    return Response(body, content_type=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_finish)
    app.add_url_rule("/metrics", "metrics", render, methods=["GET"])
