"""/api/v1/auth/totp: set up, enable and disable two-factor login (access tokens only)."""
from __future__ import annotations

from typing import Any

import marshmallow as ma

from authsvc.web.api import Blueprint, client
from authsvc.web.api import fields as f
from authsvc.web.api.schemas import Schema
from authsvc.core.tokens import ACCESS_ONLY
from authsvc.web.credentials import current_principal
from authsvc.services import two_factor

bp = Blueprint("totp", __name__, url_prefix="/api/v1/auth/totp",
               description="Two-factor login with TOTP (RFC 6238) and recovery codes.")


class TotpSetupSchema(Schema):
    secret = ma.fields.String(required=True, metadata={"description": "Base32 secret."})
    otpauth_uri = ma.fields.String(required=True)
    qr_svg = ma.fields.String(required=True, metadata={"description": "The URI as an SVG QR code."})


class TotpEnableSchema(Schema):
    totp_code = f.Str(required=True, max_length=64)


class RecoveryCodesSchema(Schema):
    recovery_codes = ma.fields.List(ma.fields.String(), required=True)


class TotpDisableSchema(Schema):
    password = f.Str(required=True, max_length=1024)
    totp_code = f.Str(required=True, max_length=64)


@bp.route("/setup", methods=["POST"])
@bp.authenticated(ACCESS_ONLY)
@bp.response(200, TotpSetupSchema)
@bp.errors(409, 429)
def setup() -> two_factor.Setup:
    """Start two-factor setup: a new pending secret, its otpauth URI and QR code."""
    return two_factor.setup(current_principal(), client())


@bp.route("/enable", methods=["POST"])
@bp.authenticated(ACCESS_ONLY)
@bp.arguments(TotpEnableSchema)
@bp.response(200, RecoveryCodesSchema)
@bp.errors(409, 415, 429)
def enable(body: dict[str, Any]) -> dict[str, Any]:
    """Turn two-factor login on with a code from the pending secret; recovery codes are shown once."""
    return {"recovery_codes": two_factor.enable(current_principal(), body["totp_code"], client())}


@bp.route("/disable", methods=["POST"])
@bp.authenticated(ACCESS_ONLY)
@bp.arguments(TotpDisableSchema)
@bp.response(204)
@bp.errors(409, 415, 429)
def disable(body: dict[str, Any]) -> None:
    """Turn two-factor login off: needs the password and a current or recovery code."""
    two_factor.disable(current_principal(), body["password"], body["totp_code"], client())
