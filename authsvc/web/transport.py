"""Request bodies, read once, whole, before the app sees them (issue 13, items 6 and 9).

A WSGI server hands over a chunked body as a stream of unknown length. werkzeug caps such a
stream at `MAX_CONTENT_LENGTH` silently, so the prefix of a too-large body was parsed (a login
was attempted with it), and a framing error of the server's chunk parser surfaced in the
middle of the view as a `500`. `BufferedBody` reads every body before the app runs:

- a declared `Content-Length` over `AUTHSVC_MAX_BODY_BYTES`, or a chunked body that goes past
  it, is `413 too_large`, and nothing of it is parsed;
- a body the server cannot de-frame (bad chunk size, a chunk longer than announced, a bare LF,
  a client that stops half-way) is `400 invalid`;
- under a gevent worker (the shipped `gunicorn.conf.py`) the whole body must arrive within
  `AUTHSVC_BODY_TIMEOUT` seconds, else `408 request_timeout`: a client that sends a byte at a
  time holds a greenlet for that long at most.

Each of these answers closes the connection: what is left of the body cannot be trusted as the
start of the next request. The app then sees a complete body with a `Content-Length`.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from flask import Flask, request

from authsvc.config import Settings
from authsvc.core.errors import ApiError, BadRequest, TooLarge

ENVIRON_KEY = "authsvc.body_error"
_PIECE = 64 * 1024
_DRAIN_BYTES = 1024 * 1024  # read (and drop) this much past the limit, so the client sees the 413


class RequestTimeout(ApiError):
    status, code = 408, "request_timeout"
    default_detail = "The request body did not arrive in time."


class _BodyTimeout(Exception):
    pass


def _deadline(seconds: float) -> AbstractContextManager[Any]:
    """A deadline for the whole body under gevent; none for thread- or process-based servers."""
    monkey = sys.modules.get("gevent.monkey")
    if seconds > 0 and monkey is not None and monkey.is_module_patched("socket"):
        import gevent

        return gevent.Timeout(seconds, _BodyTimeout)
    return nullcontext()


def _content_length(environ: dict[str, Any]) -> int | None:
    raw = environ.get("CONTENT_LENGTH") or ""
    return int(raw) if raw.isdigit() else None


def _framing_errors() -> tuple[type[BaseException], ...]:
    """What the server raises for a body it cannot de-frame: werkzeug's dev server raises
    ValueError or OSError, gunicorn its ParseException family (NoMoreData, InvalidChunkSize,
    ChunkMissingTerminator)."""
    errors: tuple[type[BaseException], ...] = (ValueError, OSError)
    try:
        from gunicorn.http.errors import ParseException
    except ImportError:  # not under gunicorn
        return errors
    return (*errors, ParseException)


FRAMING_ERRORS = _framing_errors()
# The gateway check ignores bodies (nginx, Traefik and Envoy may forward any): never read.
UNREAD_PATHS = ("/api/v1/auth/check",)


def _chunked(environ: dict[str, Any]) -> bool:
    return "chunked" in (environ.get("HTTP_TRANSFER_ENCODING") or "").lower()


def _read(stream: Any, limit: int) -> bytes:
    """Up to `limit` bytes, fewer only at the end of the stream."""
    parts, total = [], 0
    while total < limit:
        piece = stream.read(min(_PIECE, limit - total))
        if not piece:
            break
        parts.append(piece)
        total += len(piece)
    return b"".join(parts)


class BufferedBody:
    """WSGI middleware: see the module's docstring."""

    def __init__(self, app: Callable[..., Iterable[bytes]], max_bytes: int, timeout: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith(UNREAD_PATHS):
            return self.app(environ, start_response)  # never reads its body: nothing to buffer
        length, chunked = _content_length(environ), _chunked(environ)
        if chunked or length:
            error = self._buffer(environ, length, chunked)
            if error is not None:
                environ[ENVIRON_KEY] = error
                environ["wsgi.input"] = io.BytesIO(b"")
                environ["CONTENT_LENGTH"] = "0"
                environ.pop("HTTP_TRANSFER_ENCODING", None)
                start_response = _closing(start_response)
        return self.app(environ, start_response)

    def _buffer(
        self, environ: dict[str, Any], length: int | None, chunked: bool
    ) -> ApiError | None:
        stream = environ["wsgi.input"]
        try:
            with _deadline(self.timeout):
                if not chunked and length is not None and length > self.max_bytes:
                    _drain(stream, length if length <= _DRAIN_BYTES else 0)
                    return TooLarge()
                want = self.max_bytes + 1 if chunked else length or 0
                body = _read(stream, want)
                if len(body) > self.max_bytes:
                    _drain(stream, _DRAIN_BYTES)
                    return TooLarge()
                if not chunked and len(body) < want:
                    return BadRequest("The request body ended before its Content-Length.")
        except _BodyTimeout:
            return RequestTimeout()
        except FRAMING_ERRORS:
            return BadRequest("The request body's framing is malformed.")
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        return None


def _drain(stream: Any, limit: int) -> None:
    try:
        while limit > 0:
            piece = stream.read(min(_PIECE, limit))
            if not piece:
                return
            limit -= len(piece)
    except FRAMING_ERRORS:  # the connection is closed after the answer anyway
        return


def _closing(start_response: Callable[..., Any]) -> Callable[..., Any]:
    """Close the connection after this answer.

    gunicorn ignores a `Connection` header from the app (PEP 3333 forbids hop-by-hop headers);
    its `start_response` is a method of the response, whose `force_close()` does it. The
    werkzeug dev server closes every connection anyway. Not gunicorn's public API: pinned in
    setup.cfg, checked by tests/unit/test_dependency_hooks.py.
    """
    force_close = getattr(getattr(start_response, "__self__", None), "force_close", None)
    if callable(force_close):
        force_close()
    return start_response


def _raise_body_error() -> None:
    error = request.environ.get(ENVIRON_KEY)
    if error is not None:
        raise error


def init_app(app: Flask, settings: Settings) -> None:
    """Wrap the app (innermost, so ProxyFix and the like stay outside) and answer body errors."""
    # Flask's documented way to add WSGI middleware; mypy sees a method being replaced.
    app.wsgi_app = BufferedBody(  # type: ignore[method-assign]
        app.wsgi_app, settings.max_body_bytes, float(settings.body_timeout)
    )
    app.before_request(_raise_body_error)
