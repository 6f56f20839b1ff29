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
from collections.abc import Callable
from typing import Any

from flask import Flask, has_request_context, request
from pythonjsonlogger.json import JsonFormatter

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
access_log = logging.getLogger("authsvc.access")


ENVIRON_KEY = "authsvc.request_id"  # set by `web.edge` before the app sees the request


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request.environ.get(ENVIRON_KEY) if has_request_context() else None
        return True


_IDS: list[str] = []  # made ahead, 256 per `os.urandom` call: one system call, not one a request
_ID_BATCH = 256


def request_id(incoming: str) -> str:
    """A well-formed `X-Request-ID` as it came, else 128 random bits from the OS, in hex."""
    if incoming and _REQUEST_ID.fullmatch(incoming):
        return incoming
    try:
        return _IDS.pop()
    except IndexError:
        raw = os.urandom(16 * _ID_BATCH).hex()
        _IDS.extend([raw[i : i + 32] for i in range(0, len(raw), 32)])
        return _IDS.pop()


# A forked child must not hand out the ids its parent made (they would be the parent's next ones).
os.register_at_fork(after_in_child=_IDS.clear)


_ACCESS_FIELDS = ("method", "path", "status", "duration_ms", "remote_addr")
# Built once: `json.dumps(..., default=str)` builds an encoder per call.
_ENCODER = json.JSONEncoder(default=str)
# The quoting the encoder applies to a string (C), for the line built directly in `access`.
_quote: Callable[[str], str] = json.encoder.encode_basestring_ascii
_NAME = _quote(access_log.name)


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


def _quoted(text: str | None) -> str:
    return "null" if text is None else _quote(text)


def access(
    method: str, path: str, status: int, seconds: float, remote_addr: str | None, request_id: str
) -> None:
    """The access line of one request. As shipped (`_direct`), written straight to the
    stream, the JSON built as `AccessFormatter.line` would build it (one C quoting call per
    string, not an encoder made per line); else a `LogRecord` through `Logger.handle`."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    duration_ms = round(seconds * 1000, 2)
    direct = _direct(access_log)
    if direct is None:
        access_log.handle(
            _access_record(method, path, status, duration_ms, remote_addr, request_id)
        )
        return
    handler, formatter = direct
    text = (
        f'{{"asctime": {_quote(formatter.now())}, "levelname": "INFO", "name": {_NAME}, '
        f'"message": "request", "request_id": {_quoted(request_id or None)}, '
        f'"method": {_quote(method)}, "path": {_quote(path)}, "status": {int(status)!r}, '
        f'"duration_ms": {float(duration_ms)!r}, "remote_addr": {_quoted(remote_addr)}}}'
    )
    handler.acquire()
    try:
        stream = handler.stream
        stream.write(text + handler.terminator)
        stream.flush()
    except OSError:  # what `StreamHandler.emit` does with a failed write
        handler.handleError(
            _access_record(method, path, status, duration_ms, remote_addr, request_id)
        )
    finally:
        handler.release()


def _access_record(
    method: str,
    path: str,
    status: int,
    duration_ms: float,
    remote_addr: str | None,
    request_id: str,
) -> logging.LogRecord:
    # makeRecord: the line without `Logger.info`'s caller lookup (a stack walk).
    fields = {
        "method": method,
        "path": path,
        "status": status,
        "duration_ms": duration_ms,
        "remote_addr": remote_addr,
        "request_id": request_id or None,
    }
    return access_log.makeRecord(
        access_log.name, logging.INFO, "", 0, "request", (), None, extra=fields
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
