"""/api/v1/auth/introspect: RFC 7662 token introspection for gateways and resource servers."""

from __future__ import annotations

from functools import wraps
from typing import Any, cast

import marshmallow as ma
from flask import g, request

from authsvc.services import introspection, oauth_clients
from authsvc.web.api import Blueprint, F, client
from authsvc.web.api import fields as f
from authsvc.web.api.schemas import Schema
from authsvc.web.credentials import authenticate, authenticate_client, current_principal

bp = Blueprint(
    "introspection",
    __name__,
    url_prefix="/api/v1/auth",
    description="RFC 7662 introspection (needs the introspect scope).",
)
# RFC 7662 sends a form body; this API's convention is JSON. Both are taken and documented.
bp.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {
    **Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
    "json_or_form": "application/json",
}


class IntrospectRequestSchema(Schema):
    # Any string is answered (an unknown token is simply inactive), up to the body limit.
    token = f.Str(required=True, max_length=1 << 20)
    token_type_hint = ma.fields.String(
        load_default=None, metadata={"description": "Accepted and ignored, as RFC 7662 allows."}
    )
    client_ip = f.Str(
        load_default=None,
        max_length=64,
        metadata={
            "pattern": r"^\s*[0-9A-Fa-f:.]+\s*$",
            "description": "The address of whoever presented the token to the caller, checked "
            "against a key's `allowed_ips` (default: this request's address).",
        },
    )


class IntrospectFormSchema(IntrospectRequestSchema):
    """The same fields as an RFC 7662 form body (a component of its own, so that generated
    clients tell the two bodies apart)."""


class IntrospectionSchema(Schema):
    active = ma.fields.Boolean(required=True)
    token_type = ma.fields.String(metadata={"enum": ["access", "private"]})
    sub = ma.fields.String()
    scope = ma.fields.String()
    jti = ma.fields.String()
    iat = ma.fields.Integer(metadata={"description": "Seconds since the epoch, as RFC 7662 says."})
    exp = ma.fields.Integer(metadata={"description": "Seconds since the epoch, as RFC 7662 says."})
    iss = ma.fields.String()
    aud = ma.fields.String()
    client_id = ma.fields.String()
    owner_type = ma.fields.String(metadata={"enum": ["user", "team"]})
    team_id = ma.fields.String(metadata={"description": "Only for a team key."})


def _bearer_or_client(view: F) -> F:
    """A bearer token with `introspect`, or (RFC 7662 section 2.1) a confidential client's Basic credentials."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if request.headers.get("Authorization", "")[:6].lower() == "basic ":
            g.introspecting_client = authenticate_client(
                oauth_clients.authenticate_confidential, {}
            )
        else:
            g.introspecting_client = None
            authenticate()
        return view(*args, **kwargs)

    return cast(F, wrapper)


@bp.route("/introspect", methods=["POST"])
@_bearer_or_client
@bp.doc(security=[{"bearer": []}, {"apiKey": []}, {"clientBasic": []}])
@bp.errors(401)
@bp.arguments(IntrospectRequestSchema, location="json_or_form")
@bp.doc(
    requestBody={"content": {"application/x-www-form-urlencoded": {"schema": IntrospectFormSchema}}}
)
@bp.response(200, IntrospectionSchema)
@bp.errors(400, 403, 415, 429)
def introspect(body: dict[str, Any]) -> dict[str, Any]:
    """`{"active": true, ...}` for a token accepted now, else `{"active": false}` and nothing more.

    A private token whose restrictions refuse this use is `403`/`429` with `extra.introspected`.
    """
    if g.introspecting_client is not None:
        return introspection.introspect_as_client(
            g.introspecting_client, body["token"], client(), body["client_ip"]
        )
    return introspection.introspect(current_principal(), body["token"], client(), body["client_ip"])
