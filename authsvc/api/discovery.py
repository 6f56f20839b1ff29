"""Discovery and health: JWKS, RFC 8414 metadata, the health check."""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import url_for

from authsvc.api import Blueprint
from authsvc.api.schemas import Schema
from authsvc.runtime import settings
from authsvc.services import health
from authsvc.runtime import keystore

bp = Blueprint("discovery", __name__, description="Keys, server metadata and health.")


class JwksSchema(Schema):
    keys = ma.fields.List(ma.fields.Dict(), required=True)


class MetadataSchema(Schema):
    issuer = ma.fields.String(required=True)
    jwks_uri = ma.fields.String(required=True)
    token_endpoint = ma.fields.String(required=True)
    revocation_endpoint = ma.fields.String(required=True)
    introspection_endpoint = ma.fields.String(required=True)


class HealthSchema(Schema):
    status = ma.fields.String(required=True, metadata={"enum": ["ok"]})


@bp.route("/.well-known/jwks.json", methods=["GET"])
@bp.response(200, JwksSchema)
def jwks() -> dict[str, Any]:
    """The public keys that verify this service's tokens (RFC 7517)."""
    return keystore().jwks()


@bp.route("/.well-known/oauth-authorization-server", methods=["GET"])
@bp.response(200, MetadataSchema)
def metadata() -> dict[str, Any]:
    """RFC 8414 server metadata."""
    base = settings().issuer.rstrip("/")
    return {
        "issuer": settings().issuer,
        "jwks_uri": base + url_for("discovery.jwks"),
        "token_endpoint": base + url_for("auth.login"),
        "revocation_endpoint": base + url_for("auth.revoke"),
        "introspection_endpoint": base + "/api/v1/auth/introspect",
    }


@bp.route("/api/v1/health", methods=["GET"])
@bp.response(200, HealthSchema)
@bp.errors(503)
def health_check() -> dict[str, str]:
    """200 while storage answers; 503 with the envelope when it does not."""
    health.check()
    return {"status": "ok"}
