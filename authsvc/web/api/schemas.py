"""Schemas shared by several areas: the error envelope, token pairs, users."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from authsvc.web.api import fields as f


class Schema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    def __deepcopy__(self, memo: dict[int, Any]) -> Schema:
        """The instance itself: a schema is not changed after it is made (marshmallow reads
        `only`, `partial` and the rest at construction), while flask-smorest deep-copies a
        view's whole OpenAPI notes, schema instances included, at each of its decorators and
        once more per blueprint. Shared, each view keeps one instance of each schema, not one
        per decorator: 3 MB less in every worker (docs/performance.md, "RSS")."""
        return self


class ErrorItemSchema(Schema):
    code = ma.fields.String(required=True)
    detail = ma.fields.String(required=True)
    attr = ma.fields.String(allow_none=True, required=True)
    extra = ma.fields.Dict(allow_none=True, required=True)


class ErrorSchema(Schema):
    type = ma.fields.String(
        required=True, metadata={"enum": ["client_error", "validation_error", "server_error"]}
    )
    errors = ma.fields.List(ma.fields.Nested(ErrorItemSchema), required=True)


class TokenPairSchema(Schema):
    access_token = ma.fields.String(required=True)
    refresh_token = ma.fields.String(required=True)
    token_type = ma.fields.String(required=True, metadata={"enum": ["bearer"]})
    expires_in = ma.fields.Integer(required=True)


class UserSchema(Schema):
    id = ma.fields.String(required=True)
    email = ma.fields.String(required=True)
    scopes = ma.fields.List(ma.fields.String(), required=True)
    is_admin = ma.fields.Boolean(required=True)
    totp_enabled = ma.fields.Boolean(required=True)
    created_at = f.Timestamp(required=True)


class EmptySchema(Schema):
    pass


SUDO = (
    "Sudo mode: the caller's password, checked like a login (wrong ones count towards "
    "the account's lockout)."
)


class SudoSchema(Schema):
    """The proof a sensitive change needs (`services.reauth`): the password, and the second
    factor when two-factor is on."""

    current_password = f.Str(required=True, max_length=1024, metadata={"description": SUDO})
    totp_code = f.Str(
        load_default=None,
        allow_none=True,
        max_length=64,
        metadata={
            "description": "Required when two-factor is on: a current code or an unused recovery "
            "code (else `401 mfa_required`)."
        },
    )
