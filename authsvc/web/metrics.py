"""Request latency for Prometheus, observed around every request (counters: `services.metrics`)."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, Response, g, request

from authsvc.services.metrics import LATENCY


def _start() -> None:
    g.metrics_started = time.perf_counter()


_BOUND: dict[tuple[str, str], Any] = {}  # (method, rule) -> its histogram child, bound once


def _finish(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    if started is not None:
        key = (request.method, request.url_rule.rule if request.url_rule else "unmatched")
        child = _BOUND.get(key)
        if child is None:
            child = _BOUND[key] = LATENCY.labels(*key)
        child.observe(time.perf_counter() - started)
    return response


def init_app(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_finish)
