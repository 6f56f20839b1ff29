"""RFC 7662 introspection: what a gateway asks when it must see revocations at once.

`active` means "accepted now as a bearer credential": an access or private token whose
signature, claims, user and session (or private-token row) all pass, exactly as on an
authenticated route. A refresh token is never active here, even while `/auth/refresh`
would take it: it is not a credential a resource server may accept, and answering
`true` would invite a gateway that only reads `active` to let one through.
"""

from __future__ import annotations

from typing import Any

from authsvc.core import restrictions, tokens
from authsvc.core.errors import InsufficientScope, PermissionDenied, RateLimited, ValidationFailed
from authsvc.core.oauth import FIRST_PARTY_CLIENT, format_scope
from authsvc.core.principal import Client, Principal
from authsvc.core.tokens import BEARER_KINDS
from authsvc.models import OAuthClient
from authsvc.services.authentication import check_state, verify
from authsvc.services.runtime import settings

SCOPE = "introspect"
INACTIVE: dict[str, Any] = {"active": False}


def introspect(
    caller: Principal, token: str, user: Client, client_ip: str | None = None
) -> dict[str, Any]:
    """The RFC 7662 answer for `token`; the caller must hold the `introspect` scope.

    `user` is the request's own address; `client_ip` (RFC 7662 section 2.1 lets the resource
    server add context) the address of whoever presented `token` to the resource server.
    """
    if SCOPE not in caller.scopes:
        raise InsufficientScope(
            "Introspection needs a token with the introspect scope.", extra={"scopes": [SCOPE]}
        )
    return _answer(token, _user(user, client_ip))


def introspect_as_client(
    client: OAuthClient, token: str, user: Client, client_ip: str | None = None
) -> dict[str, Any]:
    """The same answer for a confidential OAuth client (a gateway) allowed to introspect."""
    if SCOPE not in client.scopes or not client.confidential:
        raise InsufficientScope(
            "This client is not allowed to introspect (no introspect scope).",
            extra={"scopes": [SCOPE]},
        )
    return _answer(token, _user(user, client_ip))


def _user(request: Client, client_ip: str | None) -> Client:
    if client_ip is None:
        return request
    addr = restrictions.address(client_ip)
    if addr is None:
        raise ValidationFailed.one("client_ip", "invalid", "Not an IPv4 or IPv6 address.")
    return Client(ip=str(addr), user_agent=request.user_agent)


def _answer(token: str, user: Client) -> dict[str, Any]:
    """A key refused by its restrictions is answered as on a route (403, 429), marked
    `extra.introspected`, so the caller can tell it from a refusal of its own credential."""
    try:
        principal = check_state(verify(token, BEARER_KINDS), user)
    except tokens.InvalidToken:
        return dict(INACTIVE)
    except (PermissionDenied, RateLimited) as error:
        error.extra = {**(error.extra or {}), "introspected": True}
        raise
    claims = principal.claims
    return {
        "active": True,
        "token_type": principal.kind,
        "sub": principal.user_id,
        "scope": format_scope(principal.scopes),
        "jti": principal.jti,
        "iat": claims["iat"],
        "exp": claims["exp"],
        "iss": settings().issuer,
        "aud": claims["aud"],
        "client_id": claims.get("client_id", FIRST_PARTY_CLIENT),
        "owner_type": principal.owner_type,
        **({"team_id": principal.team_id} if principal.team_id else {}),
    }
