"""Discovery and health: JWKS, RFC 8414 metadata, the health check."""

from __future__ import annotations

from typing import Any, ClassVar

import marshmallow as ma
from flask import current_app

from authsvc.core.oauth import AUTH_METHODS, GRANT_TYPES, ID_TOKEN_ALGS
from authsvc.services import health, oauth
from authsvc.services.runtime import keystore, settings
from authsvc.web.api import Blueprint
from authsvc.web.api.schemas import Schema


def public_url(endpoint: str, **values: Any) -> str:
    """The absolute URL of `endpoint`, built from AUTHSVC_ISSUER alone.

    Never from the request: not from Host or X-Forwarded-* (which a client can set), nor
    from SCRIPT_NAME (which some servers take from a request header), so no request can
    make the metadata or a redirect point at another host or path. A service mounted
    under a prefix says so in its issuer (`https://example.com/auth`).
    """
    path = current_app.url_map.bind("issuer.invalid", script_name="/").build(endpoint, values)
    return settings().issuer.rstrip("/") + path


bp = Blueprint("discovery", __name__, description="Keys, server metadata and health.")


class JwksSchema(Schema):
    keys = ma.fields.List(ma.fields.Dict(), required=True)


class MetadataSchema(Schema):
    class Meta(Schema.Meta):
        unknown = ma.INCLUDE
        openapi: ClassVar[dict[str, Any]] = {"additionalProperties": True}

    issuer = ma.fields.String(required=True)
    jwks_uri = ma.fields.String(required=True)
    authorization_endpoint = ma.fields.String(required=True)
    token_endpoint = ma.fields.String(required=True)
    registration_endpoint = ma.fields.String(required=True)
    revocation_endpoint = ma.fields.String(required=True)
    introspection_endpoint = ma.fields.String(required=True)
    userinfo_endpoint = ma.fields.String()
    response_types_supported = ma.fields.List(ma.fields.String(), required=True)
    response_modes_supported = ma.fields.List(ma.fields.String())
    grant_types_supported = ma.fields.List(ma.fields.String(), required=True)
    code_challenge_methods_supported = ma.fields.List(ma.fields.String(), required=True)
    token_endpoint_auth_methods_supported = ma.fields.List(ma.fields.String(), required=True)
    revocation_endpoint_auth_methods_supported = ma.fields.List(ma.fields.String(), required=True)
    introspection_endpoint_auth_methods_supported = ma.fields.List(ma.fields.String())
    scopes_supported = ma.fields.List(ma.fields.String(), required=True)
    authorization_response_iss_parameter_supported = ma.fields.Boolean(required=True)
    access_token_signing_alg_values_supported = ma.fields.List(ma.fields.String(), required=True)
    subject_types_supported = ma.fields.List(ma.fields.String())
    id_token_signing_alg_values_supported = ma.fields.List(ma.fields.String())
    claims_supported = ma.fields.List(ma.fields.String())
    prompt_values_supported = ma.fields.List(ma.fields.String())
    request_parameter_supported = ma.fields.Boolean()
    request_uri_parameter_supported = ma.fields.Boolean()
    claims_parameter_supported = ma.fields.Boolean()
    status_list_aggregation_endpoint = ma.fields.String()


class HealthSchema(Schema):
    status = ma.fields.String(required=True, metadata={"enum": ["ok"]})


@bp.route("/.well-known/jwks.json", methods=["GET"])
@bp.response(
    200,
    JwksSchema,
    headers={
        "Cache-Control": {
            "description": "`public, max-age=N`, N shorter than AUTHSVC_KEY_PUBLISH_DELAY.",
            "schema": {"type": "string"},
        }
    },
)
def jwks() -> tuple[dict[str, Any], int, dict[str, str]]:
    """The public keys that verify this service's tokens (RFC 7517), then the id_token keys.

    A new key is here `AUTHSVC_KEY_PUBLISH_DELAY` seconds before it signs; caching this
    answer for its `max-age` (less than that) never misses a key a token names.
    """
    return oauth.jwks(), 200, {"Cache-Control": f"public, max-age={keystore().jwks_max_age}"}


def _endpoints() -> dict[str, Any]:
    s = settings()
    return {
        "issuer": s.issuer,
        "authorization_endpoint": public_url("oauth.authorize"),
        "token_endpoint": public_url("oauth.token"),
        "registration_endpoint": public_url("oauth.register"),
        "revocation_endpoint": public_url("auth.revoke"),
        "introspection_endpoint": public_url("introspection.introspect"),
        "jwks_uri": public_url("discovery.jwks"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(GRANT_TYPES),
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "revocation_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "bearer"],
        "scopes_supported": scopes_supported(),
        "authorization_response_iss_parameter_supported": True,
        "access_token_signing_alg_values_supported": [s.signing_alg],
        # draft-ietf-oauth-status-list section 9.3: the URIs of every Status List
        "status_list_aggregation_endpoint": public_url("status_lists.aggregation"),
    }


def scopes_supported() -> list[str]:
    s = settings()
    return list(
        dict.fromkeys(
            ["openid", "email", *s.default_scopes, *s.oauth_dynamic_scopes, "introspect", "admin"]
        )
    )


@bp.route("/.well-known/oauth-authorization-server", methods=["GET"])
@bp.response(200, MetadataSchema)
def metadata() -> dict[str, Any]:
    """RFC 8414 server metadata (OAuth 2.1, RFC 9207 `iss`).

    The first-party `/auth/login` is not the `token_endpoint`: that is the OAuth token
    endpoint. `jwks_uri` is always there: even with HS256 access tokens, id_tokens are
    signed with a published RSA or EC key.
    """
    return _endpoints()


@bp.route("/.well-known/openid-configuration", methods=["GET"])
@bp.response(200, MetadataSchema)
def openid_configuration() -> dict[str, Any]:
    """OpenID Connect Discovery 1.0 provider metadata."""
    return {
        **_endpoints(),
        "userinfo_endpoint": public_url("oauth.userinfo"),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": list(ID_TOKEN_ALGS),
        "claims_supported": [
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "amr",
            "at_hash",
            "azp",
            "email",
        ],
        "prompt_values_supported": ["none", "login", "consent"],
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "claims_parameter_supported": False,
    }


@bp.route("/api/v1/health", methods=["GET"])
@bp.response(200, HealthSchema)
@bp.errors(503)
def health_check() -> dict[str, str]:
    """200 while storage answers; 503 with the envelope when it does not."""
    health.check()
    return {"status": "ok"}
