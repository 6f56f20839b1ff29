"""/api/v1/users: the caller's profile (and, for admins, the user list)."""
from __future__ import annotations

from typing import Any

from authsvc.api import Blueprint
from authsvc.api.schemas import UserSchema
from authsvc.auth import current_principal
from authsvc.services import users

bp = Blueprint("users", __name__, url_prefix="/api/v1/users", description="Users.")


@bp.route("/me", methods=["GET"])
@bp.authenticated()
@bp.response(200, UserSchema)
def me() -> Any:
    """The caller's own account."""
    return users.get_me(current_principal())
