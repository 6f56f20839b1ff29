"""The verifier's Flask integration: a decorator for views and a typed `current_token()`.

Refusals are rendered by `authsvc.core.errors.envelope`, the same function the server's
error handlers use, so a client meets one envelope and one set of RFC 6750 challenges from
authsvc and from every resource server that uses this module.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar, cast

from flask import Response, g, jsonify, request

from authsvc.core import bearer, tokens
from authsvc.core.errors import (
    ApiError,
    InsufficientScope,
    InvalidRequest,
    NotAuthenticated,
    ServiceUnavailable,
    envelope,
)

if TYPE_CHECKING:
    from authsvc.verifier import VerifiedToken, Verifier

F = TypeVar("F", bound=Callable[..., Any])


def require_token(
    verifier: Verifier,
    scopes: Iterable[str] = (),
    *,
    introspect: bool = False,
    kinds: Collection[str] | None = None,
) -> Callable[[F], F]:
    """Decorate a Flask view: it runs only for an accepted token holding every scope in `scopes`.

    The view reads the result with `current_token()`. With `introspect=True`, authsvc is
    asked (answers cached for `introspect_cache_seconds`), so a revoked token, a logged-out
    session or a deactivated user is refused at once, and the scopes checked are the live ones.
    """
    needed = tuple(scopes)
    if introspect and verifier.introspect_url is None:
        raise ValueError(
            "introspect=True needs a Verifier with introspect_url and introspect_token"
        )

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                verified = _authorize(verifier, needed, introspect, kinds)
            except (ApiError, tokens.InvalidToken) as exc:
                return error_response(exc, realm=verifier.realm)
            g.token = verified
            g.token_claims = verified.claims  # kept for views written before `current_token`
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorator


def current_token() -> VerifiedToken:
    """The token `require_token` accepted for this request."""
    from authsvc.verifier import VerifiedToken

    token = g.get("token")
    if not isinstance(token, VerifiedToken):
        raise RuntimeError("current_token() is for views decorated with require_token")
    return token


def _authorize(
    verifier: Verifier, needed: tuple[str, ...], introspect: bool, kinds: Collection[str] | None
) -> VerifiedToken:
    from authsvc.verifier import Unavailable

    try:
        token = bearer.read_token(request.args, request.headers)
    except bearer.AmbiguousCredentials as exc:
        raise InvalidRequest(exc.detail, attr=exc.attr) from exc
    if token is None:
        raise NotAuthenticated()
    forwarded = ", ".join(request.headers.getlist("X-Forwarded-For")) or None
    try:
        verified = verifier.verify(
            token,
            introspect=introspect,
            kinds=kinds,
            client_ip=verifier.client_address(request.remote_addr, forwarded),
        )
    except Unavailable as exc:
        raise ServiceUnavailable() from exc
    missing = [scope for scope in needed if scope not in verified.scopes]
    if missing:
        raise InsufficientScope(
            "The token lacks a scope this route needs.", extra={"scopes": missing}
        )
    return verified


def error_response(error: ApiError | tokens.InvalidToken, *, realm: str = "authsvc") -> Response:
    """The contract's envelope for `error`, as a Flask response that is never cached."""
    status, body, headers = envelope(error, realm=realm)
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers)
    response.headers["Cache-Control"] = "no-store"
    return response
