"""JSON logs, one line per request, each line carrying the request id.

The request id comes from a well-formed `X-Request-ID` or is made here, and is echoed
back. Nothing from headers or bodies is logged, so no token or password can leak here.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid

from flask import Flask, Response, g, has_request_context, request
from pythonjsonlogger.json import JsonFormatter

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
access_log = logging.getLogger("authsvc.access")


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id") if has_request_context() else None
        return True


def _begin() -> None:
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if _REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
    g.log_started = time.perf_counter()


_ACCESS_FIELDS = ("method", "path", "status", "duration_ms", "remote_addr")


class AccessFormatter(logging.Formatter):
    """The access line, as `JsonFormatter` wrote it (same members, same order), built
    directly: one `json.dumps` of a known shape instead of a scan of every record attribute."""

    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._stamp = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        second = int(record.created)
        if second != self._second:  # one strftime per second, not per line
            self._second, self._stamp = second, super().formatTime(record)[:-4]
        return f"{self._stamp},{int(record.msecs):03d}"

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "asctime": self.formatTime(record),
            "levelname": record.levelname,
            "name": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for name in _ACCESS_FIELDS:
            line[name] = getattr(record, name, None)
        return json.dumps(line, default=str)


def _end(response: Response) -> Response:
    request_id = g.get("request_id", "")
    response.headers["X-Request-ID"] = request_id
    if not access_log.isEnabledFor(logging.INFO):
        return response
    started = g.get("log_started")
    # makeRecord + handle: the line without `Logger.info`'s caller lookup (a stack walk).
    record = access_log.makeRecord(
        access_log.name,
        logging.INFO,
        "",
        0,
        "request",
        (),
        None,
        extra={
            "method": request.method,
            "path": request.path,
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2) if started else None,
            "remote_addr": request.remote_addr,
            "request_id": request_id or None,
        },
    )
    access_log.handle(record)
    return response


# werkzeug's development server's own access line: `127.0.0.1 - - [date] "GET / HTTP/1.1" 200 -`
_WERKZEUG_ACCESS = re.compile(r'^\S+ - - \[[^]]*\] "[^"]*" \d{3} ')
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # werkzeug colours the line on a terminal


class _NoWerkzeugAccessLines(logging.Filter):
    """`flask run` logs every request itself; this app already does, in JSON. Everything
    else werkzeug says (the address it serves, errors) still goes through."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not _WERKZEUG_ACCESS.match(_ANSI.sub("", record.getMessage()))


def init_app(app: Flask) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s", timestamp=False
        )
    )
    handler.addFilter(_RequestIdFilter())
    access = logging.StreamHandler()  # the same stream; its records carry their request id
    access.setFormatter(AccessFormatter())
    for logger, chosen in ((app.logger, handler), (access_log, access)):
        logger.handlers[:] = [chosen]
        logger.setLevel(logging.INFO)
        logger.propagate = False
    werkzeug = logging.getLogger("werkzeug")
    if not any(isinstance(f, _NoWerkzeugAccessLines) for f in werkzeug.filters):
        werkzeug.addFilter(_NoWerkzeugAccessLines())
    app.before_request(_begin)
    app.after_request(_end)
