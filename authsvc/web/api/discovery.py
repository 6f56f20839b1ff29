"""Discovery and health: JWKS, RFC 8414 metadata, the health check."""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import url_for

from authsvc.web.api import Blueprint
from authsvc.web.api.schemas import Schema
from authsvc.core.keys import SYMMETRIC
from authsvc.services.runtime import keystore, settings
from authsvc.services import health

bp = Blueprint("discovery", __name__, description="Keys, server metadata and health.")


class JwksSchema(Schema):
    keys = ma.fields.List(ma.fields.Dict(), required=True)


class MetadataSchema(Schema):
    issuer = ma.fields.String(required=True)
    jwks_uri = ma.fields.String(metadata={"description": "Absent with HS256: no key is published."})
    token_endpoint = ma.fields.String(required=True)
    revocation_endpoint = ma.fields.String(required=True)
    introspection_endpoint = ma.fields.String(required=True)
    response_types_supported = ma.fields.List(ma.fields.String(), required=True)
    revocation_endpoint_auth_methods_supported = ma.fields.List(ma.fields.String(), required=True)
    access_token_signing_alg_values_supported = ma.fields.List(ma.fields.String(), required=True)


class HealthSchema(Schema):
    status = ma.fields.String(required=True, metadata={"enum": ["ok"]})


@bp.route("/.well-known/jwks.json", methods=["GET"])
@bp.response(200, JwksSchema)
def jwks() -> dict[str, Any]:
    """The public keys that verify this service's tokens (RFC 7517); none with HS256."""
    return keystore().jwks()


@bp.route("/.well-known/oauth-authorization-server", methods=["GET"])
@bp.response(200, MetadataSchema)
def metadata() -> dict[str, Any]:
    """RFC 8414 server metadata.

    With HS256 there is no public key, so `jwks_uri` is left out (it is optional in
    RFC 8414) and `access_token_signing_alg_values_supported` (an extension parameter,
    as section 2 allows) says which algorithm signs; such tokens can only be checked
    by introspection. No authorization endpoint exists, hence no response types.
    """
    s = settings()
    base = s.issuer.rstrip("/")
    body: dict[str, Any] = {
        "issuer": s.issuer,
        "token_endpoint": base + url_for("auth.login"),
        "revocation_endpoint": base + url_for("auth.revoke"),
        "introspection_endpoint": base + url_for("introspection.introspect"),
        "response_types_supported": [],
        "revocation_endpoint_auth_methods_supported": ["none"],
        "access_token_signing_alg_values_supported": [s.signing_alg],
    }
    if s.signing_alg not in SYMMETRIC:
        body["jwks_uri"] = base + url_for("discovery.jwks")
    return body


@bp.route("/api/v1/health", methods=["GET"])
@bp.response(200, HealthSchema)
@bp.errors(503)
def health_check() -> dict[str, str]:
    """200 while storage answers; 503 with the envelope when it does not."""
    health.check()
    return {"status": "ok"}
