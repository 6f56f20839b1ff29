"""/api/v1/users: the caller's profile and, for admins, listing, creating and changing users."""

from __future__ import annotations

from functools import wraps
from typing import Any, cast

import marshmallow as ma

from authsvc.services import administration, users
from authsvc.web.api import Blueprint, F, client
from authsvc.web.api import fields as f
from authsvc.web.api.auth import SessionListSchema
from authsvc.web.api.private_tokens import PrivateTokenListSchema
from authsvc.web.api.schemas import Schema, UserSchema
from authsvc.web.credentials import current_principal

bp = Blueprint("users", __name__, url_prefix="/api/v1/users", description="Users.")


class AdminUserSchema(UserSchema):
    is_active = ma.fields.Boolean(required=True)


class UserListSchema(Schema):
    items = ma.fields.List(ma.fields.Nested(AdminUserSchema), required=True)


class CreateUserSchema(Schema):
    email = f.Email(required=True)
    password = f.NewPassword(required=True)
    scopes = f.Scopes(
        load_default=None,
        allow_none=False,
        metadata={"description": "Defaults to AUTHSVC_DEFAULT_SCOPES."},
    )
    is_admin = f.Bool(load_default=False)


class UpdateUserSchema(Schema):
    is_active = f.Bool()
    scopes = f.Scopes()
    is_admin = f.Bool()
    id = f.ReadOnly()
    email = f.ReadOnly()
    password = f.ReadOnly()
    totp_enabled = f.ReadOnly()
    created_at = f.ReadOnly()


def admin_only(view: F) -> F:
    """Refuse a non-admin before the body is read, so they learn nothing from validation."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        users.require_admin(current_principal())
        return view(*args, **kwargs)

    return cast(F, wrapper)


@bp.route("/me", methods=["GET"])
@bp.authenticated()
@bp.response(200, UserSchema)
def me() -> Any:
    """The caller's own account."""
    return users.get_me(current_principal())


@bp.route("", methods=["GET"])
@bp.authenticated()
@admin_only
@bp.response(200, UserListSchema)
@bp.errors(403)
def list_users() -> dict[str, Any]:
    """Every user, oldest first (admins only)."""
    return {"items": users.list_users(current_principal())}


@bp.route("", methods=["POST"])
@bp.authenticated()
@admin_only
@bp.arguments(CreateUserSchema)
@bp.response(201, AdminUserSchema)
@bp.errors(403, 409, 415)
def create_user(body: dict[str, Any]) -> Any:
    """Create a user (admins only); scopes default to AUTHSVC_DEFAULT_SCOPES."""
    return users.admin_create_user(
        current_principal(),
        body["email"],
        body["password"],
        scopes=body["scopes"],
        is_admin=body["is_admin"],
        client=client(),
    )


@bp.route("/<user_id>", methods=["PATCH"])
@bp.authenticated()
@admin_only
@bp.arguments(UpdateUserSchema)
@bp.response(200, AdminUserSchema)
@bp.errors(403, 404, 409, 415)
def update_user(body: dict[str, Any], user_id: str) -> Any:
    """Deactivate or reactivate a user, set their scopes or admin flag (admins only).

    A deactivated user's tokens, of every kind, are refused from the next request on.
    """
    return users.update_user(current_principal(), user_id, body, client())


@bp.route("/<user_id>", methods=["GET"])
@bp.authenticated()
@admin_only
@bp.response(200, AdminUserSchema)
@bp.errors(403, 404)
def get_user(user_id: str) -> Any:
    """One user (admins only)."""
    return administration.get_user(current_principal(), user_id)


@bp.route("/<user_id>/sessions", methods=["GET"])
@bp.authenticated()
@admin_only
@bp.response(200, SessionListSchema)
@bp.errors(403, 404)
def list_user_sessions(user_id: str) -> dict[str, Any]:
    """A user's live sessions, newest first (admins only); `current` is the caller's own."""
    return {"items": administration.list_sessions(current_principal(), user_id)}


@bp.route("/<user_id>/sessions", methods=["DELETE"])
@bp.authenticated()
@admin_only
@bp.response(204)
@bp.errors(403, 404)
def revoke_user_sessions(user_id: str) -> None:
    """Sign a user out everywhere (admins only); their API keys keep working."""
    administration.revoke_all_sessions(current_principal(), user_id, client())


@bp.route("/<user_id>/sessions/<session_id>", methods=["DELETE"])
@bp.authenticated()
@admin_only
@bp.response(204)
@bp.errors(403, 404)
def revoke_user_session(user_id: str, session_id: str) -> None:
    """End one of a user's sessions (admins only); an unknown or someone else's is 404."""
    administration.revoke_session(current_principal(), user_id, session_id, client())


@bp.route("/<user_id>/private-tokens", methods=["GET"])
@bp.authenticated()
@admin_only
@bp.response(200, PrivateTokenListSchema)
@bp.errors(403, 404)
def list_user_keys(user_id: str) -> dict[str, Any]:
    """A user's personal API keys, newest first, revoked and expired ones too (admins only)."""
    return {"items": administration.list_keys(current_principal(), user_id)}


@bp.route("/<user_id>/private-tokens/<key_id>", methods=["DELETE"])
@bp.authenticated()
@admin_only
@bp.response(204)
@bp.errors(403, 404)
def revoke_user_key(user_id: str, key_id: str) -> None:
    """Revoke one of a user's API keys at once (admins only); the row stays, as `revoked`."""
    administration.revoke_key(current_principal(), user_id, key_id, client())
