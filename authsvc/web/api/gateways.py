"""/api/v1/auth/check: the forward-auth endpoint of nginx auth_request, Traefik and Envoy.

Every method, any path below it (Envoy's ext_authz appends the original path and keeps the
original method); the body is never read, so neither its type nor its size matters. The
answer is `200` with an empty body and the caller's identity in `X-Authsvc-*` headers,
which gateways copy onto the request they pass upstream; a refusal is the usual envelope
with `WWW-Authenticate`.
"""

from __future__ import annotations

from typing import Any, cast

import marshmallow as ma
from flask import Flask, Response, request

from authsvc.core.errors import InsufficientScope
from authsvc.core.tokens import BEARER_KINDS
from authsvc.web.api import Blueprint, F
from authsvc.web.api.schemas import Schema
from authsvc.web.credentials import authenticate

bp = Blueprint(
    "gateways",
    __name__,
    url_prefix="/api/v1/auth",
    description="Forward authentication for gateways (nginx, Traefik, Envoy).",
)

FIRST_PARTY_CLIENT = "authsvc"
# Documented methods; the others (HEAD, OPTIONS, WebDAV, ...) reach the same view undocumented.
DOCUMENTED = ["GET", "POST", "PUT", "PATCH", "DELETE"]
UNDOCUMENTED = [
    "OPTIONS",
    "TRACE",
    "PROPFIND",
    "PROPPATCH",
    "MKCOL",
    "COPY",
    "MOVE",
    "LOCK",
    "UNLOCK",
    "REPORT",
    "SEARCH",
    "PURGE",
]
IDENTITY_HEADERS = {
    "X-Authsvc-Subject": "The token's `sub` (a user id, or `team:<id>` for a team key).",
    "X-Authsvc-Scopes": "The effective scopes, space-separated (the token's that the user still holds).",
    "X-Authsvc-Token-Type": "`access` or `private`.",
    "X-Authsvc-Client-Id": "The OAuth client the token was issued to; `authsvc` for first-party logins.",
    "X-Authsvc-Team": "The team id, only for a team key.",
}


class CheckQuerySchema(Schema):
    scope = ma.fields.String(
        metadata={
            "description": "Space-separated scopes the token must carry (`?scope=a+b`); "
            "missing ones are `403 insufficient_scope`."
        }
    )


def _required_scopes() -> list[str]:
    return list(dict.fromkeys(s for value in request.args.getlist("scope") for s in value.split()))


def check_request(path: str = "") -> Response:
    """Authenticate the request's token (body ignored) and answer its identity in headers."""
    principal = authenticate(BEARER_KINDS)
    missing = [s for s in _required_scopes() if s not in principal.scopes]
    if missing:
        raise InsufficientScope(
            "The token lacks a scope this route needs.", extra={"scopes": missing}
        )
    response = Response(status=200)
    claims: dict[str, Any] = principal.claims
    response.headers["X-Authsvc-Subject"] = principal.user_id
    response.headers["X-Authsvc-Scopes"] = " ".join(principal.scopes)
    response.headers["X-Authsvc-Token-Type"] = principal.kind
    client_id = claims.get("client_id")
    response.headers["X-Authsvc-Client-Id"] = (
        client_id if isinstance(client_id, str) else FIRST_PARTY_CLIENT
    )
    team = claims.get("team_id")
    if isinstance(team, str) and team:
        response.headers["X-Authsvc-Team"] = team
    return response


def _checks_options_too(view: F) -> F:
    """OPTIONS is checked like any method, not answered by Flask (flask-smorest's route drops
    `provide_automatic_options`; Flask reads the attribute off the view)."""
    cast(Any, view).provide_automatic_options = False  # an attribute Flask reads, untyped
    return view


_DOC = {
    "responses": {
        "200": {
            "description": "Accepted; the identity is in the headers.",
            "headers": {
                name: {"description": text, "schema": {"type": "string"}}
                for name, text in IDENTITY_HEADERS.items()
            },
        }
    }
}


@bp.route("/check", methods=DOCUMENTED)
@_checks_options_too
@bp.arguments(CheckQuerySchema, location="query")
@bp.doc(security=[{"bearer": []}, {"apiKey": []}], **_DOC)
@bp.errors(400, 401, 403)
def check(query: dict[str, Any]) -> Response:
    """Forward auth: any method, body ignored; `200` with `X-Authsvc-*` identity headers."""
    return check_request()


@bp.route("/check/<path:path>", methods=DOCUMENTED)
@_checks_options_too
@bp.arguments(CheckQuerySchema, location="query")
@bp.doc(security=[{"bearer": []}, {"apiKey": []}], **_DOC)
@bp.errors(400, 401, 403)
def check_path(query: dict[str, Any], path: str) -> Response:
    """The same, with the original request's path appended (Envoy ext_authz `path_prefix`)."""
    return check_request(path)


def init_app(app: Flask) -> None:
    """The methods the document leaves out on the same paths, and `/check/` (Envoy's prefix
    plus an original path of `/`), all on the same view."""
    for rule, endpoint, methods in (
        ("/api/v1/auth/check", "gateways.check_other", UNDOCUMENTED),
        ("/api/v1/auth/check/<path:path>", "gateways.check_path_other", UNDOCUMENTED),
        ("/api/v1/auth/check/", "gateways.check_root", DOCUMENTED + UNDOCUMENTED),
    ):
        app.add_url_rule(
            rule,
            endpoint=endpoint,
            view_func=check_request,
            methods=methods,
            provide_automatic_options=False,
        )
