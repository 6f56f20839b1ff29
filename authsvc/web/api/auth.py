"""/api/v1/auth: login, refresh, logout, sessions, verify, revoke, register, password."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response

from authsvc.core.tokens import ACCESS_ONLY
from authsvc.services import oauth_clients, sessions, users
from authsvc.web.api import Blueprint, client, json_response
from authsvc.web.api import fields as f
from authsvc.web.api.fields import rfc3339
from authsvc.web.api.schemas import EmptySchema, Schema, SudoSchema, TokenPairSchema, UserSchema
from authsvc.web.credentials import authenticate_client, current_principal, has_client_auth

bp = Blueprint(
    "auth",
    __name__,
    url_prefix="/api/v1/auth",
    description="Sessions, token rotation, verification and revocation.",
)
# RFC 7009 sends a form body to /revoke; both it and JSON are taken and documented.
bp.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {
    **Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
    "json_or_form": "application/json",
}


class LoginSchema(Schema):
    email = f.Email(required=True)
    password = f.Str(required=True, max_length=1024)
    totp_code = f.Str(load_default=None, allow_none=True, max_length=64)


class RefreshSchema(Schema):
    refresh_token = f.Str(required=True, max_length=8192)


class TokenSchema(Schema):
    token = f.Str(required=True, max_length=8192)
    token_type_hint = ma.fields.String(
        load_default=None, metadata={"description": "Accepted and ignored, as RFC 7009 allows."}
    )
    client_id = ma.fields.String(
        load_default=None,
        metadata={"description": "An OAuth client authenticating with client_secret_post or none."},
    )
    client_secret = ma.fields.String(load_default=None)


class RevokeSchema(TokenSchema):
    token_type_hint = ma.fields.String(
        load_default=None,
        metadata={
            "description": "RFC 7009 `access_token` or `refresh_token` (or `private_token`); "
            "optional, and any value is accepted: every kind is searched."
        },
    )


class RevokeFormSchema(RevokeSchema):
    """The same fields as an RFC 7009 form body (a component of its own, so that generated
    clients tell the two bodies apart)."""


class RegisterSchema(Schema):
    email = f.Email(required=True)
    password = f.NewPassword(required=True)


class PasswordChangeSchema(SudoSchema):
    new_password = f.NewPassword(required=True)


class SessionSchema(Schema):
    id = ma.fields.String(required=True)
    created_at = f.Timestamp(required=True)
    last_used_at = f.Timestamp(required=True)
    user_agent = ma.fields.String(allow_none=True, required=True)
    ip = ma.fields.String(allow_none=True, required=True)
    current = ma.fields.Boolean(required=True)


class SessionListSchema(Schema):
    items = ma.fields.List(ma.fields.Nested(SessionSchema), required=True)


class VerifySchema(Schema):
    active = ma.fields.Boolean(required=True)
    token_type = ma.fields.String(required=True, metadata={"enum": ["access", "private"]})
    sub = ma.fields.String(required=True)
    email = ma.fields.String(required=True)
    scopes = ma.fields.List(ma.fields.String(), required=True)
    jti = ma.fields.String(required=True)
    iat = f.Timestamp(required=True)
    exp = f.Timestamp(required=True)
    owner_type = ma.fields.String(
        required=True,
        metadata={"enum": ["user", "team"], "description": "`team` for a team key."},
    )
    team_id = ma.fields.String(metadata={"description": "Only for a team key."})


@bp.route("/login", methods=["POST"])
@bp.arguments(LoginSchema)
@bp.response(200, TokenPairSchema)
@bp.errors(401, 415, 429)
def login(body: dict[str, Any]) -> sessions.TokenPair:
    """Trade email, password and (with two-factor on) a TOTP code for a token pair."""
    return sessions.login(body["email"], body["password"], body["totp_code"], client())


@bp.route("/refresh", methods=["POST"])
@bp.arguments(RefreshSchema)
@bp.response(200, TokenPairSchema)
@bp.errors(401, 415)
def refresh(body: dict[str, Any]) -> sessions.TokenPair:
    """Rotate a refresh token; a retry within the reuse window gets the same successor.

    The immediate predecessor of the session's current refresh token, presented within
    AUTHSVC_REFRESH_REUSE_WINDOW of the rotation, is answered with the same successor;
    any other spent one revokes its whole session (`reused`).
    """
    return sessions.refresh(body["refresh_token"], client())


@bp.route("/logout", methods=["POST"])
@bp.authenticated(ACCESS_ONLY)
@bp.response(204)
def logout() -> None:
    """Revoke the caller's session: its access and refresh tokens."""
    sessions.logout(current_principal(), client())


@bp.route("/sessions", methods=["GET"])
@bp.authenticated(ACCESS_ONLY)
@bp.response(200, SessionListSchema)
def list_sessions() -> dict[str, Any]:
    """The caller's live sessions."""
    return {"items": sessions.list_sessions(current_principal())}


@bp.route("/sessions", methods=["DELETE"])
@bp.authenticated(ACCESS_ONLY)
@bp.response(204)
def revoke_all_sessions() -> None:
    """Sign out everywhere, this session included."""
    sessions.revoke_all_sessions(current_principal(), client())


@bp.route("/sessions/<session_id>", methods=["DELETE"])
@bp.authenticated(ACCESS_ONLY)
@bp.response(204)
@bp.errors(404)
def revoke_session(session_id: str) -> None:
    """Sign out one session of the caller's."""
    sessions.revoke_session(current_principal(), session_id, client())


@bp.route("/verify", methods=["GET"])
@bp.authenticated()
@bp.response(200, VerifySchema)
def verify() -> Response:
    """What backends call to check a token they were sent."""
    p = current_principal()
    # The busiest route: rendered here, without the schema's dump (which documents it).
    return json_response(
        {
            "active": True,
            "token_type": p.kind,
            "sub": p.user_id,
            "email": p.email,
            "scopes": list(p.scopes),
            "jti": p.jti,
            "iat": rfc3339(p.issued_at),
            "exp": rfc3339(p.expires_at),
            "owner_type": p.owner_type,
            **({"team_id": p.team_id} if p.team_id else {}),
        }
    )


@bp.route("/revoke", methods=["POST"])
@bp.arguments(RevokeSchema, location="json_or_form")
@bp.doc(
    requestBody={"content": {"application/x-www-form-urlencoded": {"schema": RevokeFormSchema}}}
)
@bp.response(200, EmptySchema)
@bp.errors(415)
def revoke(body: dict[str, Any]) -> dict[str, Any]:
    """RFC 7009: kill any token you hold; the answer is the same whether or not it was valid.

    JSON or an RFC 7009 form body (`token=...&token_type_hint=...`), as OAuth clients send it.
    An OAuth client may authenticate (Basic, or client_id/client_secret in the body); it
    may then revoke only tokens issued to it; bad credentials are `401 invalid_credentials`.
    """
    fields = {
        name: [body[name]] for name in ("client_id", "client_secret") if body.get(name) is not None
    }
    oauth_client = None
    if has_client_auth(fields):
        oauth_client = authenticate_client(oauth_clients.authenticate, fields).id
    sessions.revoke_token(body["token"], client(), oauth_client=oauth_client)
    return {}


@bp.route("/register", methods=["POST"])
@bp.arguments(RegisterSchema)
@bp.response(201, UserSchema)
@bp.errors(403, 409, 415, 429)
def register(body: dict[str, Any]) -> Any:
    """Create an account yourself, where `AUTHSVC_OPEN_REGISTRATION` allows it."""
    return users.register(body["email"], body["password"], client())


@bp.route("/password", methods=["POST"])
@bp.authenticated(ACCESS_ONLY)
@bp.arguments(PasswordChangeSchema)
@bp.response(204)
@bp.errors(415, 429)
def change_password(body: dict[str, Any]) -> None:
    """Change your password; every other session and every private token is revoked (sudo mode)."""
    users.change_password(
        current_principal(),
        body["current_password"],
        body["new_password"],
        client(),
        body["totp_code"],
    )
