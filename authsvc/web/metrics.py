"""Prometheus metrics: logins by outcome, refreshes, reuse detections, rejected tokens by
reason, and request latency. Under gunicorn, `PROMETHEUS_MULTIPROC_DIR` (set by
`gunicorn.conf.py`) makes every worker's counts add up in `/metrics`."""
from __future__ import annotations

import os
import time

from flask import Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

from authsvc.services.metrics import LATENCY

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
