"""/api/v1/private-tokens: create, list, read, rename, rotate and delete long-lived tokens.

Every route takes an access token only: managing private tokens is token management,
which the contract keeps from private tokens (a leaked one must not mint its successors).
"""

from __future__ import annotations

from typing import Any, ClassVar

import marshmallow as ma

from authsvc.core.tokens import ACCESS_ONLY
from authsvc.services import private_tokens
from authsvc.web.api import Blueprint, client
from authsvc.web.api import fields as f
from authsvc.web.api.schemas import Schema, SudoSchema
from authsvc.web.credentials import current_principal

bp = Blueprint(
    "private_tokens",
    __name__,
    url_prefix="/api/v1/private-tokens",
    description="Long-lived tokens for scripts, CI and backends; shown once.",
)


# What a schema can say of an address or range and of a limit; the rest (a range's breadth,
# host bits, an amount or window out of bounds) is `400 invalid` from the use case.
IP_PATTERN = r"^\s*[0-9A-Fa-f:.]+(/[0-9]{1,3})?\s*$"
RATE_PATTERN = r"^\s*[0-9]+\s*(/|per)\s*([0-9]+\s*)?(second|minute|hour|day)s?\s*$"
RATE_LIMIT = f.Str(
    load_default=None,
    allow_none=True,
    max_length=64,
    metadata={
        "pattern": RATE_PATTERN,
        "description": 'Uses per window in the `limits` syntax ("1000/hour", "10 per 2 '
        'minutes"), windows of a second up to a day; over it: `429 rate_limited`. Null: none.',
        "examples": ["1000/hour"],
    },
)


class CreateSchema(SudoSchema):
    class Meta(SudoSchema.Meta):
        # Exactly one of the two, said with if/then/not rather than a schema-level oneOf:
        # generated clients type a oneOf body as Any, and ignore these.
        openapi: ClassVar[dict[str, Any]] = {
            "description": "Exactly one of `expires_in_days` and `expires_at` is "
            "required (neither: `400 required`; both: `400 invalid`).",
            "if": {"not": {"required": ["expires_in_days"]}},
            "then": {"required": ["expires_at"]},
            "not": {"required": ["expires_in_days", "expires_at"]},
        }

    name = f.Str(required=True, max_length=private_tokens.NAME_MAX)
    description = f.Str(
        load_default=None,
        allow_none=True,
        allow_blank=True,
        max_length=private_tokens.DESCRIPTION_MAX,
    )
    scopes = f.Scopes(
        load_default=None,
        allow_none=False,
        metadata={
            "description": "Added to AUTHSVC_PRIVATE_TOKEN_BASE_SCOPES (default `read`), "
            "which every key carries; without it the key gets only those."
        },
    )
    expires_in_days = f.Int(
        load_default=None,
        allow_none=False,
        metadata={"minimum": 1, "description": "Whole days, 1 to AUTHSVC_PRIVATE_TOKEN_MAX_DAYS."},
    )
    expires_at = f.DateTime(
        load_default=None,
        allow_none=False,
        metadata={
            "description": "RFC 3339 with an offset, in the future, at most "
            "AUTHSVC_PRIVATE_TOKEN_MAX_DAYS days from now."
        },
    )
    allowed_ips = f.List(
        f.Str(max_length=64, metadata={"pattern": IP_PATTERN}),
        load_default=None,
        allow_none=True,
        metadata={
            "minItems": 1,
            "maxItems": 50,
            "description": "IPv4/IPv6 addresses or CIDR ranges (at most /8 and /32 wide) the "
            "key may be used from; fixed now and signed into the token (`allowed_ips` claim). "
            "Absent or null: any address.",
        },
    )
    rate_limit = RATE_LIMIT

    @ma.validates_schema
    def _one_expiry(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("expires_in_days") is None and data.get("expires_at") is None:
            raise ma.ValidationError("required", field_name="expires_in_days")
        if data.get("expires_in_days") is not None and data.get("expires_at") is not None:
            raise ma.ValidationError(
                "Send exactly one of expires_in_days and expires_at.", field_name="expires_at"
            )


class UpdateSchema(Schema):
    name = f.Str(max_length=private_tokens.NAME_MAX)
    description = f.Str(
        allow_none=True, allow_blank=True, max_length=private_tokens.DESCRIPTION_MAX
    )
    rate_limit = f.Str(
        allow_none=True,
        max_length=64,
        metadata={"pattern": RATE_PATTERN, "description": "A new limit; null lifts it."},
    )
    allowed_ips = f.ReadOnly()
    expires_at = f.ReadOnly()
    expires_in_days = f.ReadOnly()
    scopes = f.ReadOnly()
    token = f.ReadOnly()


class PrivateTokenSchema(Schema):
    id = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    description = ma.fields.String(allow_none=True, required=True)
    scopes = ma.fields.List(ma.fields.String(), required=True)
    created_at = f.Timestamp(required=True)
    expires_at = f.Timestamp(required=True)
    last_used_at = f.Timestamp(allow_none=True, required=True)
    last_used_ip = ma.fields.String(
        allow_none=True, required=True, metadata={"description": "Written with `last_used_at`."}
    )
    status = ma.fields.String(required=True, metadata={"enum": ["active", "expired", "revoked"]})
    rotated_to = ma.fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "The id of the key this one was rotated to; null otherwise."},
    )
    allowed_ips = ma.fields.List(
        ma.fields.String(),
        allow_none=True,
        required=True,
        metadata={"description": "Null: any address."},
    )
    rate_limit = ma.fields.String(allow_none=True, required=True)


class CreatedSchema(PrivateTokenSchema):
    token = ma.fields.String(
        required=True,
        metadata={"description": "Shown in this answer only; the service keeps no copy."},
    )


class KeyRulesSchema(Schema):
    base_scopes = ma.fields.List(
        ma.fields.String(),
        required=True,
        metadata={
            "description": "AUTHSVC_PRIVATE_TOKEN_BASE_SCOPES: in every key its holder may give them."
        },
    )
    scope_descriptions = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.String(),
        required=True,
        metadata={
            "description": "One line per scope of what it grants (AUTHSVC_SCOPE_DESCRIPTIONS)."
        },
    )
    max_days = ma.fields.Integer(required=True)
    name_max_length = ma.fields.Integer(required=True)
    description_max_length = ma.fields.Integer(required=True)


class PrivateTokenListSchema(Schema):
    items = ma.fields.List(ma.fields.Nested(PrivateTokenSchema), required=True)


@bp.route("", methods=["POST"])
@bp.authenticated(ACCESS_ONLY)
@bp.arguments(CreateSchema)
@bp.response(201, CreatedSchema)
@bp.errors(400, 415, 429)
def create(body: dict[str, Any]) -> private_tokens.MintedToken:
    """Mint a private token; the answer is the only place the token ever appears (sudo mode)."""
    return private_tokens.create(current_principal(), client=client(), **body)


@bp.route("", methods=["GET"])
@bp.authenticated(ACCESS_ONLY)
@bp.response(200, PrivateTokenListSchema)
def list_tokens() -> dict[str, Any]:
    """The caller's private tokens, newest first, revoked and expired ones included."""
    return {"items": private_tokens.list_tokens(current_principal())}


@bp.route("/settings", methods=["GET"])
@bp.authenticated(ACCESS_ONLY)
@bp.response(200, KeyRulesSchema)
def key_rules() -> private_tokens.KeyRules:
    """The rules a key form needs before it asks: base scopes, scope descriptions, limits."""
    return private_tokens.rules(current_principal())


@bp.route("/<token_id>", methods=["GET"])
@bp.authenticated(ACCESS_ONLY)
@bp.response(200, PrivateTokenSchema)
@bp.errors(404)
def get(token_id: str) -> private_tokens.TokenInfo:
    """One of the caller's private tokens."""
    return private_tokens.get(current_principal(), token_id)


@bp.route("/<token_id>", methods=["PATCH"])
@bp.authenticated(ACCESS_ONLY)
@bp.arguments(UpdateSchema)
@bp.response(200, PrivateTokenSchema)
@bp.errors(400, 404, 415)
def update(body: dict[str, Any], token_id: str) -> private_tokens.TokenInfo:
    """Rename, redescribe or set `rate_limit`; expiry, scopes and `allowed_ips` never change."""
    return private_tokens.update_token(current_principal(), token_id, changes=body, client=client())


@bp.route("/<token_id>/rotate", methods=["POST"])
@bp.authenticated(ACCESS_ONLY)
@bp.arguments(SudoSchema)
@bp.response(201, CreatedSchema)
@bp.errors(400, 404, 409, 415, 429)
def rotate(body: dict[str, Any], token_id: str) -> private_tokens.MintedToken:
    """A new token with the same name, scopes and lifetime length; the old one dies now (sudo mode)."""
    return private_tokens.rotate(
        current_principal(), token_id, client(), body["current_password"], body["totp_code"]
    )


@bp.route("/<token_id>", methods=["DELETE"])
@bp.authenticated(ACCESS_ONLY)
@bp.response(204)
@bp.errors(404)
def delete(token_id: str) -> None:
    """Revoke the token at once; it stays listed with status `revoked`."""
    private_tokens.delete(current_principal(), token_id, client())
