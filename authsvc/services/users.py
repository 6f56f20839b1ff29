"""Accounts: registration, creation by the CLI and by admins, profiles, admin changes, passwords."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from authsvc.core import clock, emails, passwords
from authsvc.core.errors import (
    Conflict,
    InsufficientScope,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from authsvc.core.principal import Client, Principal
from authsvc.extensions import db
from authsvc.models import ADMIN_SCOPE, PrivateToken, User, new_id
from authsvc.services import audit
from authsvc.services.reauth import require_recent_proof
from authsvc.services.runtime import settings
from authsvc.services.sessions import revoke_sessions
from authsvc.services.transaction import transaction


def check_password(password: str, email: str, attr: str = "password") -> None:
    try:
        passwords.check_strength(password, email=email)
    except passwords.WeakPassword as exc:
        raise ValidationFailed.one(attr, "weak_password", exc.detail) from exc


def create_user(
    email: str,
    password: str,
    *,
    client: Client,
    scopes: Sequence[str] | None = None,
    is_admin: bool = False,
    actor_id: str | None = None,
    event: str = "user.created",
) -> User:
    """Validate, hash and store a new user. Commits; a taken email is `409` and writes nothing.

    The email rules (`authsvc.emails`) are checked here too, so `flask create-user` obeys
    the same ones as `POST /users` and `/auth/register`.
    """
    try:
        email = emails.check(email)
    except emails.InvalidEmail as exc:
        raise ValidationFailed.one(
            "email", "invalid", f"This email is not accepted: {exc}."
        ) from exc
    check_password(password, email)
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict("A user with this email already exists.", attr="email")
    try:
        with transaction():
            user = User(
                id=new_id(),
                email=email,
                created_at=clock.now(),
                is_admin=is_admin,
                is_active=True,
                password_hash=passwords.hash_password(password, settings().hash_params),
                scopes=list(settings().default_scopes if scopes is None else scopes),
            )
            db.session.add(user)
            audit.record(
                event,
                client=client,
                user_id=user.id,
                actor_id=actor_id,
                email=email,
                is_admin=is_admin,
                scopes=user.scopes,
            )
    except IntegrityError as exc:
        raise Conflict("A user with this email already exists.", attr="email") from exc
    return user


def count_users() -> int:
    return db.session.scalar(select(func.count()).select_from(User)) or 0


def register(email: str, password: str, client: Client) -> User:
    if not settings().open_registration:
        raise PermissionDenied("Registration is closed; ask an administrator for an account.")
    return create_user(email, password, client=client, event="user.registered")


def get_me(principal: Principal) -> User:
    user = db.session.get(User, principal.user_id)
    if user is None:
        raise NotFound()
    return user


def change_password(
    principal: Principal,
    current_password: str,
    new_password: str,
    client: Client,
    totp_code: str | None = None,
) -> None:
    """Revokes every other session and every private token: a changed password means "not them".

    Sudo mode: the current password, and a code when two-factor is on.
    """
    user = get_me(principal)
    with transaction():
        require_recent_proof(user, current_password, totp_code, client, action="password.change")
        check_password(new_password, user.email, attr="new_password")
        user.password_hash = passwords.hash_password(new_password, settings().hash_params)
        now = clock.now()
        revoke_sessions(user.id, keep=principal.session_id)
        db.session.execute(
            update(PrivateToken)
            .where(PrivateToken.user_id == user.id, PrivateToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        audit.record("password.changed", client=client, user_id=user.id)


# --- administration (admins only) ---

ADMIN_FIELDS = ("is_active", "scopes", "is_admin")


def require_admin(principal: Principal) -> None:
    """An administrator, through a token that carries the scope `admin`.

    `principal.is_admin` is read from the user row on this request, and `principal.scopes`
    is the token's scopes intersected with the user's effective ones (`admin` only while
    an admin), so a demotion bites at once. A private token carries `admin` only when it
    was asked for at creation: an admin's read-only CI key cannot make admins.
    """
    if not principal.is_admin:
        raise PermissionDenied("Only administrators may do this.")
    if ADMIN_SCOPE not in principal.scopes:
        raise InsufficientScope(
            "This token lacks the scope admin: use an access token, or a private token "
            "created with the scope admin.",
            extra={"scopes": [ADMIN_SCOPE]},
        )


def list_users(principal: Principal) -> list[User]:
    require_admin(principal)
    return list(db.session.scalars(select(User).order_by(User.created_at, User.id)))


def admin_create_user(
    principal: Principal,
    email: str,
    password: str,
    *,
    scopes: Sequence[str] | None,
    is_admin: bool,
    client: Client,
) -> User:
    require_admin(principal)
    return create_user(
        email, password, client=client, scopes=scopes, is_admin=is_admin, actor_id=principal.user_id
    )


def update_user(
    principal: Principal, user_id: str, changes: Mapping[str, Any], client: Client
) -> User:
    """Change `is_active`, `scopes` or `is_admin` of a user. Commits.

    Takes effect on the user's next request: every token check reads the user row, so a
    deactivated user's access, refresh and private tokens are refused at once, and
    narrowed scopes narrow every live token. The last active admin cannot be
    deactivated or demoted (`409`): nobody could undo it through the API.
    """
    require_admin(principal)
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound()
    current = {"is_active": user.is_active, "is_admin": user.is_admin, "scopes": user.scopes}
    diff = {
        k: list(v) if k == "scopes" else v
        for k, v in changes.items()
        if k in ADMIN_FIELDS and v != current[k]
    }
    if not diff:
        return user
    after = {**current, **diff}
    demoting = (
        current["is_admin"]
        and current["is_active"]
        and not (after["is_admin"] and after["is_active"])
    )
    with transaction():
        if demoting:
            _active_admins()  # PostgreSQL: take the admin rows' locks before changing one of them
        for name, value in diff.items():
            setattr(user, name, value)
        if demoting and not _active_admins():
            raise Conflict("This is the last active administrator; make another admin first.")
        audit.record(
            "user.updated", client=client, user_id=user.id, actor_id=principal.user_id, **diff
        )
    return user


def _active_admins() -> list[str]:
    """Ids of the active admins, this transaction's changes included, their rows locked.

    Locked first and counted again after the change, so two admins demoting each other
    at once cannot both pass: on PostgreSQL the second waits for the first's row locks;
    on SQLite (no row locks) the recount runs inside the write transaction.
    """
    return list(
        db.session.scalars(
            select(User.id)
            .where(User.is_admin.is_(True), User.is_active.is_(True))
            .with_for_update()
        )
    )
