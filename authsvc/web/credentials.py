"""Reading the request's credentials into a `Principal`: the web side of the authenticated path.

The token is read from the request here (and only here); verifying it and checking its
state is `authsvc.services.authentication`. The principal is kept on `flask.g` for the view.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Collection, Mapping, Sequence
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import unquote_plus

from flask import Response, g, request

from authsvc.core import bearer
from authsvc.core.errors import (
    BadRequest,
    InvalidCredentials,
    InvalidRequest,
    NotAuthenticated,
)
from authsvc.core.oauth import OAuthError, invalid_client
from authsvc.core.principal import Client, Principal
from authsvc.core.tokens import BEARER_KINDS
from authsvc.models import OAuthClient
from authsvc.services import authentication
from authsvc.services.oauth_clients import ClientAuth

F = TypeVar("F", bound=Callable[..., Any])


class _Environ:
    """The request's headers as `bearer.read_token` reads them, straight from the WSGI environ
    (werkzeug's `EnvironHeaders.get` raises and catches a KeyError for each absent one)."""

    __slots__ = ("environ",)

    def __init__(self, environ: Mapping[str, Any]) -> None:
        self.environ = environ

    def get(self, key: str) -> str | None:
        value: str | None = self.environ.get("HTTP_" + key.upper().replace("-", "_"))
        return value


def read_credentials() -> str | None:
    environ = request.environ
    # No query string, no arguments: werkzeug would parse an empty one into a MultiDict.
    args: Collection[str] = request.args if environ.get("QUERY_STRING") else ()
    try:
        return bearer.read_token(args, _Environ(environ))
    except bearer.AmbiguousCredentials as exc:
        raise InvalidRequest(exc.detail, attr=exc.attr) from exc


def authenticate(kinds: Collection[str] = BEARER_KINDS) -> Principal:
    token = read_credentials()
    if token is None:
        raise NotAuthenticated()
    environ = request.environ
    principal = authentication.authenticate(
        token,
        kinds,
        Client(ip=environ.get("REMOTE_ADDR"), user_agent=environ.get("HTTP_USER_AGENT")),
    )
    g.principal = principal
    return principal


def rate_limit_headers(response: Response) -> Response:
    """A rate-limited key's budget after this use, on whatever route it was used (issue 22)."""
    principal = g.get("principal")
    budget = principal.budget if isinstance(principal, Principal) else None
    if budget is not None:
        response.headers["X-RateLimit-Limit"] = str(budget.limit)
        response.headers["X-RateLimit-Remaining"] = str(budget.remaining)
        response.headers["X-RateLimit-Reset"] = str(budget.reset_after)
    return response


def require_token(kinds: Collection[str] = BEARER_KINDS) -> Callable[[F], F]:
    """Decorate a view: it runs only for a live token of one of `kinds`."""
    allowed = frozenset(kinds)

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            authenticate(allowed)
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorator


def current_principal() -> Principal:
    return cast(Principal, g.principal)


def read_client_auth(form: Mapping[str, Sequence[str]]) -> ClientAuth:
    """How an OAuth client authenticates (RFC 6749 section 2.3.1): HTTP Basic or form fields.

    Basic credentials are form-urlencoded before base64, as the RFC says. Using two
    methods at once is `invalid_request`; a client_id alone is the `none` method.
    """
    header = request.headers.get("Authorization", "")
    basic = header[:6].lower() == "basic "
    ids, secrets = list(form.get("client_id") or []), list(form.get("client_secret") or [])
    form_id: str | None = ids[-1] if ids else None
    form_secret: str | None = secrets[-1] if secrets else None
    if len(form.get("client_id") or []) > 1 or len(form.get("client_secret") or []) > 1:
        raise OAuthError("invalid_request", "client_id or client_secret is given more than once.")
    if basic:
        if form_secret is not None:
            raise OAuthError("invalid_request", "Use one client authentication method, not two.")
        try:
            raw = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
            user, _, password = raw.partition(":")
            client_id, secret = unquote_plus(user), unquote_plus(password)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise invalid_client("The Basic credentials are malformed.", basic=True) from None
        if not _ or (form_id is not None and form_id != client_id):
            raise invalid_client("The Basic credentials are malformed.", basic=True)
        return ClientAuth("client_secret_basic", client_id, secret)
    if form_secret is not None:
        return ClientAuth("client_secret_post", form_id, form_secret)
    if form_id is not None:
        return ClientAuth("none", form_id)
    return ClientAuth(None, None)


def has_client_auth(form: Mapping[str, Sequence[str]]) -> bool:
    """Did the caller try to authenticate as an OAuth client (Basic or client_id in the body)?"""
    header = request.headers.get("Authorization", "")
    return header[:6].lower() == "basic " or "client_id" in form


def authenticate_client(
    auth: Callable[[ClientAuth], OAuthClient], form: Mapping[str, Sequence[str]]
) -> OAuthClient:
    """Client authentication on the contract's own routes (introspect, revoke): envelope errors.

    The OAuth endpoints answer `{"error"}`; these routes answer the envelope like every
    other, so a failure is `401 invalid_credentials` (or `400 invalid` for two methods at once).
    """
    try:
        return auth(read_client_auth(form))
    except OAuthError as exc:
        if exc.error == "invalid_request":
            raise BadRequest(exc.description) from exc
        raise InvalidCredentials(exc.description) from exc
