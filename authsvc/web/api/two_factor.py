"""/api/v1/auth/totp: set up, enable and disable two-factor login (access tokens only)."""

from __future__ import annotations

from typing import Any, ClassVar

import marshmallow as ma

from authsvc.core.tokens import ACCESS_ONLY
from authsvc.services.two_factor import enrolment
from authsvc.web.api import Blueprint, client
from authsvc.web.api import fields as f
from authsvc.web.api.schemas import SUDO, Schema, SudoSchema
from authsvc.web.credentials import current_principal

bp = Blueprint(
    "totp",
    __name__,
    url_prefix="/api/v1/auth/totp",
    description="Two-factor login with TOTP (RFC 6238) and recovery codes.",
)


class TotpSetupSchema(Schema):
    secret = ma.fields.String(required=True, metadata={"description": "Base32 secret."})
    otpauth_uri = ma.fields.String(required=True)
    qr_svg = ma.fields.String(required=True, metadata={"description": "The URI as an SVG QR code."})


class TotpSetupBodySchema(Schema):
    current_password = f.Str(required=True, max_length=1024, metadata={"description": SUDO})


class TotpEnableSchema(Schema):
    current_password = f.Str(required=True, max_length=1024, metadata={"description": SUDO})
    totp_code = f.Str(
        required=True,
        max_length=64,
        metadata={
            "description": "A current code of the pending secret: with the password, the proof."
        },
    )


class RecoveryCodesSchema(Schema):
    recovery_codes = ma.fields.List(ma.fields.String(), required=True)


class TotpStatusSchema(Schema):
    enabled = ma.fields.Boolean(required=True)
    recovery_codes_left = ma.fields.Integer(
        allow_none=True,
        required=True,
        metadata={"description": "Unused recovery codes; null while two-factor is off."},
    )


class TotpDisableSchema(Schema):
    class Meta(Schema.Meta):
        # One of the two, said with if/then/not rather than a schema-level oneOf, which
        # generated clients type as Any.
        openapi: ClassVar[dict[str, Any]] = {
            "if": {"not": {"required": ["password"]}},
            "then": {"required": ["current_password"]},
            "not": {"required": ["password", "current_password"]},
        }

    password = f.Str(
        allow_none=False,
        max_length=1024,
        metadata={"description": f"{SUDO} Required; `current_password` is accepted in its place."},
    )
    current_password = f.Str(
        allow_none=False,
        max_length=1024,
        metadata={
            "description": "The same as `password` (the other sudo routes' name); send one of them."
        },
    )
    totp_code = f.Str(required=True, max_length=64)

    @ma.validates_schema
    def _one_password(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "password" not in data and "current_password" not in data:
            raise ma.ValidationError("required", field_name="password")
        if "password" in data and "current_password" in data:
            raise ma.ValidationError(
                "Send one of password and current_password.", field_name="current_password"
            )


@bp.route("", methods=["GET"])
@bp.authenticated(ACCESS_ONLY)
@bp.response(200, TotpStatusSchema)
def status() -> enrolment.Status:
    """Whether two-factor is on, and how many recovery codes are left unused."""
    return enrolment.status(current_principal())


@bp.route("/setup", methods=["POST"])
@bp.authenticated(ACCESS_ONLY)
@bp.arguments(TotpSetupBodySchema)
@bp.response(200, TotpSetupSchema)
@bp.errors(400, 409, 415, 429)
def setup(body: dict[str, Any]) -> enrolment.Setup:
    """Start two-factor setup: a new pending secret, its otpauth URI and QR code (sudo mode)."""
    return enrolment.setup(current_principal(), body["current_password"], client())


@bp.route("/enable", methods=["POST"])
@bp.authenticated(ACCESS_ONLY)
@bp.arguments(TotpEnableSchema)
@bp.response(200, RecoveryCodesSchema)
@bp.errors(409, 415, 429)
def enable(body: dict[str, Any]) -> dict[str, Any]:
    """Turn two-factor login on with a code from the pending secret; recovery codes are shown once.

    Sudo mode: the password and that code; a wrong one of either gets the same answer."""
    return {
        "recovery_codes": enrolment.enable(
            current_principal(), body["current_password"], body["totp_code"], client()
        )
    }


@bp.route("/recovery-codes", methods=["POST"])
@bp.authenticated(ACCESS_ONLY)
@bp.arguments(SudoSchema)
@bp.response(200, RecoveryCodesSchema)
@bp.errors(400, 409, 415, 429)
def recovery_codes(body: dict[str, Any]) -> dict[str, Any]:
    """Ten new recovery codes, shown once; the old ones stop working (sudo mode: password + code)."""
    return {
        "recovery_codes": enrolment.regenerate_recovery_codes(
            current_principal(), body["current_password"], body["totp_code"], client()
        )
    }


@bp.route("/disable", methods=["POST"])
@bp.authenticated(ACCESS_ONLY)
@bp.arguments(TotpDisableSchema)
@bp.response(204)
@bp.errors(409, 415, 429)
def disable(body: dict[str, Any]) -> None:
    """Turn two-factor login off: needs the password and a current or recovery code.

    A wrong password and a wrong code get the same answer; both count towards the lockout."""
    attr = "password" if "password" in body else "current_password"
    enrolment.disable(
        current_principal(), body[attr], body["totp_code"], client(), password_attr=attr
    )
