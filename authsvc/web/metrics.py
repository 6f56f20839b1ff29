"""Request latency for Prometheus, observed around every request (counters: `services.metrics`)."""

from __future__ import annotations

import time

from flask import Flask, Response, g, request

from authsvc.services.metrics import LATENCY


def _start() -> None:
    g.metrics_started = time.perf_counter()


def _finish(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    if started is not None:
        LATENCY.labels(
            request.method, request.url_rule.rule if request.url_rule else "unmatched"
        ).observe(time.perf_counter() - started)
    return response


def init_app(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_finish)
