"""/api/v1/auth/introspect: RFC 7662 token introspection for gateways and resource servers."""
from __future__ import annotations

from typing import Any

import marshmallow as ma

from authsvc.web.api import Blueprint
from authsvc.web.api import fields as f
from authsvc.web.api.schemas import Schema
from authsvc.web.credentials import current_principal
from authsvc.services import introspection

bp = Blueprint("introspection", __name__, url_prefix="/api/v1/auth",
               description="RFC 7662 introspection (needs the introspect scope).")
# RFC 7662 sends a form body; this API's convention is JSON. Both are taken and documented.
bp.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {**Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
                                            "json_or_form": "application/json"}


class IntrospectRequestSchema(Schema):
    # Any string is answered (an unknown token is simply inactive), up to the body limit.
    token = f.Str(required=True, max_length=1 << 20)
    token_type_hint = ma.fields.String(load_default=None, metadata={
        "description": "Accepted and ignored, as RFC 7662 allows."})


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


@bp.route("/introspect", methods=["POST"])
@bp.authenticated()
@bp.arguments(IntrospectRequestSchema, location="json_or_form")
@bp.doc(requestBody={"content": {"application/x-www-form-urlencoded": {
    "schema": IntrospectRequestSchema}}})
@bp.response(200, IntrospectionSchema)
@bp.errors(403, 415)
def introspect(body: dict[str, Any]) -> dict[str, Any]:
    """`{"active": true, ...}` for a token accepted now, else `{"active": false}` and nothing more."""
    return introspection.introspect(current_principal(), body["token"])
