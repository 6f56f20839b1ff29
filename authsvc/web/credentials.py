"""Reading the request's credentials into a `Principal`: the web side of the authenticated path.

The token is read from the request here (and only here); verifying it and checking its
state is `authsvc.services.authentication`. The principal is kept on `flask.g` for the view.
"""
from __future__ import annotations

from collections.abc import Callable, Collection
from functools import wraps
from typing import Any, TypeVar, cast

from flask import g, request

from authsvc.core import bearer, tokens
from authsvc.core.errors import BadRequest, NotAuthenticated, PermissionDenied
from authsvc.core.principal import Principal
from authsvc.core.tokens import ALL_KINDS, BEARER_KINDS
from authsvc.services.authentication import check_state, verify

F = TypeVar("F", bound=Callable[..., Any])


def read_credentials() -> str | None:
    try:
        return bearer.read_token(request.args, request.headers)
    except bearer.AmbiguousCredentials as exc:
        raise BadRequest(exc.detail, attr=exc.attr) from exc


def authenticate(kinds: Collection[str] = BEARER_KINDS) -> Principal:
    token = read_credentials()
    if token is None:
        raise NotAuthenticated()
    v = verify(token, ALL_KINDS)
    if v.kind not in kinds:
        if v.kind == "private":
            raise PermissionDenied("Private tokens cannot be used for this action; use an access token.")
        raise tokens.WrongType()
    principal = check_state(v)
    g.principal = principal
    return principal


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
