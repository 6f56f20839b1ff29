"""Flask's error handlers: every failure becomes `core.errors.envelope`'s answer.

`ApiError`s, `InvalidToken`s, werkzeug's HTTP errors, storage outages and unexpected
faults all meet the same renderer, so a client sees one shape from every route and from
Flask itself.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, jsonify
from sqlalchemy.exc import DBAPIError, InternalError, OperationalError
from werkzeug.exceptions import HTTPException

from authsvc.core import tokens
from authsvc.core.errors import (
    BY_STATUS,
    ApiError,
    BadRequest,
    ServerError,
    ServiceUnavailable,
    envelope,
)
from authsvc.core.oauth import OAuthError
from authsvc.extensions import db
from authsvc.services import metrics


def render(error: ApiError | tokens.InvalidToken) -> Response:
    status, body, headers = envelope(error)
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers)
    return response


def _rollback() -> None:
    try:
        db.session.rollback()
    except DBAPIError:
        current_app.logger.warning("rollback failed: storage unreachable")


def handle_api_error(error: ApiError) -> Response:
    if error.status >= 500:
        _rollback()
    return render(error)


def handle_invalid_token(error: tokens.InvalidToken) -> Response:
    metrics.observe_rejection(error.reason)
    return render(error)


def handle_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    if status >= 500:
        _rollback()
    api_error = BY_STATUS.get(status, BadRequest if status < 500 else ServerError)()
    allowed = getattr(error, "valid_methods", None)
    if status == 405 and allowed:
        api_error.headers["Allow"] = ", ".join(sorted(allowed))
    return render(api_error)


def handle_storage_error(error: DBAPIError) -> Response:
    """Storage that cannot answer is a 503, never a success and never a stack trace."""
    current_app.logger.error(
        "storage error: %s", type(error.orig).__name__ if error.orig else error
    )
    _rollback()
    return render(ServiceUnavailable())


READ_ONLY_SQL_TRANSACTION = "25006"  # PostgreSQL's SQLSTATE, e.g. a standby after a failover


def handle_refused_write(error: InternalError) -> Response:
    """A PostgreSQL that refuses writes (read-only transactions: a standby, a failover under
    way) cannot answer either; any other internal error is a fault and is not hidden."""
    if getattr(error.orig, "sqlstate", None) == READ_ONLY_SQL_TRANSACTION:
        return handle_storage_error(error)
    raise error


def handle_oauth_error(error: OAuthError) -> Response:
    """RFC 6749 5.2 / RFC 7591 / RFC 6750 answers: `{"error", "error_description"}`, never cached."""
    response = jsonify(error.body())
    response.status_code = error.status
    response.headers.update(error.headers)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def init_app(app: Flask) -> None:
    app.register_error_handler(OAuthError, handle_oauth_error)
    app.register_error_handler(ApiError, handle_api_error)
    app.register_error_handler(tokens.InvalidToken, handle_invalid_token)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(OperationalError, handle_storage_error)
    app.register_error_handler(InternalError, handle_refused_write)
