"""JSON logs, one line per request, each line carrying the request id.

The request id comes from a well-formed `X-Request-ID` or is made here, and is echoed
back. Nothing from headers or bodies is logged, so no token or password can leak here.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from typing import Any

from flask import Flask, Response, g, has_request_context, request
from pythonjsonlogger.json import JsonFormatter

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
access_log = logging.getLogger("authsvc.access")


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id") if has_request_context() else None
        return True


def _begin() -> None:
    incoming = request.environ.get("HTTP_X_REQUEST_ID", "")
    g.request_id = incoming if _REQUEST_ID.fullmatch(incoming) else os.urandom(16).hex()
    g.log_started = time.perf_counter()


_ACCESS_FIELDS = ("method", "path", "status", "duration_ms", "remote_addr")
# Built once: `json.dumps(..., default=str)` builds an encoder per call.
_ENCODER = json.JSONEncoder(default=str)


class AccessFormatter(logging.Formatter):
    """The access line, as `JsonFormatter` wrote it (same members, same order), built
    directly: one `json.dumps` of a known shape instead of a scan of every record attribute."""

    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._stamp = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return self._asctime(record.created, record.msecs)

    def _asctime(self, created: float, msecs: float) -> str:
        second = int(created)
        if second != self._second:  # one strftime per second, not per line
            stamp = time.strftime(self.default_time_format, self.converter(created))
            self._second, self._stamp = second, stamp
        return f"{self._stamp},{int(msecs):03d}"

    def format(self, record: logging.LogRecord) -> str:
        fields = {name: getattr(record, name, None) for name in _ACCESS_FIELDS}
        return self.line(
            self.formatTime(record),
            record.levelname,
            record.name,
            record.getMessage(),
            getattr(record, "request_id", None),
            fields,
        )

    def line(
        self,
        asctime: str,
        levelname: str,
        name: str,
        message: str,
        request_id: str | None,
        fields: dict[str, Any],
    ) -> str:
        return _ENCODER.encode(
            {
                "asctime": asctime,
                "levelname": levelname,
                "name": name,
                "message": message,
                "request_id": request_id,
                **fields,
            }
        )

    def now(self) -> str:
        """`asctime` of a line written now, as `LogRecord` would stamp it."""
        created = time.time()
        return self._asctime(created, (created - int(created)) * 1000)


def _direct(logger: logging.Logger) -> tuple[logging.StreamHandler[Any], AccessFormatter] | None:
    """The handler to write to directly while the access logger is as `init_app` set it up:
    one stream handler with the access formatter, no filters. Then a line costs one
    formatted string and one write, not a `LogRecord` through the logging machinery;
    any other set-up (a handler or filter added) gets every line through `Logger.handle`."""
    if logger.filters or len(logger.handlers) != 1:
        return None
    handler = logger.handlers[0]
    formatter = handler.formatter
    if type(handler) is not logging.StreamHandler or handler.filters:
        return None
    if not isinstance(formatter, AccessFormatter) or handler.level > logging.INFO:
        return None
    return handler, formatter


def _end(response: Response) -> Response:
    request_id = g.get("request_id", "")
    response.headers["X-Request-ID"] = request_id
    if not access_log.isEnabledFor(logging.INFO):
        return response
    started = g.get("log_started")
    fields = {
        "method": request.method,
        "path": request.path,
        "status": response.status_code,
        "duration_ms": round((time.perf_counter() - started) * 1000, 2) if started else None,
        "remote_addr": request.remote_addr,
    }
    direct = _direct(access_log)
    if direct is not None:
        handler, formatter = direct
        text = formatter.line(
            formatter.now(), "INFO", access_log.name, "request", request_id or None, fields
        )
        handler.acquire()
        try:
            handler.stream.write(text + handler.terminator)
            handler.flush()
        except OSError:  # what `StreamHandler.emit` does with a failed write
            handler.handleError(_record(fields, request_id))
        finally:
            handler.release()
        return response
    access_log.handle(_record(fields, request_id))
    return response


def _record(fields: dict[str, Any], request_id: str) -> logging.LogRecord:
    # makeRecord: the line without `Logger.info`'s caller lookup (a stack walk).
    return access_log.makeRecord(
        access_log.name,
        logging.INFO,
        "",
        0,
        "request",
        (),
        None,
        extra={**fields, "request_id": request_id or None},
    )


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
