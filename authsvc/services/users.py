"""Accounts: registration, creation by the CLI, the caller's profile, password change."""
from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from authsvc import clock, passwords
from authsvc.auth import Principal
from authsvc.errors import Conflict, InvalidCredentials, NotFound, PermissionDenied, ValidationFailed
from authsvc.extensions import db
from authsvc.models import PrivateToken, User, new_id
from authsvc.runtime import settings
from authsvc.services import Client, audit
from authsvc.services.sessions import revoke_sessions, normalize_email


def check_password(password: str, email: str, attr: str = "password") -> None:
    try:
        passwords.check_strength(password, email=email)
    except passwords.WeakPassword as exc:
        raise ValidationFailed.one(attr, "weak_password", exc.detail) from exc


def create_user(email: str, password: str, *, client: Client, scopes: Sequence[str] | None = None,
                is_admin: bool = False, actor_id: str | None = None,
                event: str = "user.created") -> User:
    """Validate, hash and store a new user. Commits; a taken email is `409` and writes nothing."""
    email = normalize_email(email)
    check_password(password, email)
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict("A user with this email already exists.", attr="email")
    user = User(
        id=new_id(), email=email, created_at=clock.now(), is_admin=is_admin, is_active=True,
        password_hash=passwords.hash_password(password, settings().hash_params),
        scopes=" ".join(settings().default_scopes if scopes is None else scopes),
    )
    db.session.add(user)
    audit.record(event, client=client, user_id=user.id, actor_id=actor_id, email=email,
                 is_admin=is_admin, scopes=user.scope_list)
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
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


def change_password(principal: Principal, current_password: str, new_password: str,
                    client: Client) -> None:
    """Revokes every other session and every private token: a changed password means "not them"."""
    user = get_me(principal)
    if not passwords.verify(user.password_hash, current_password, settings().hash_params):
        raise InvalidCredentials("The current password is incorrect.",
                                 attr="current_password")
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
    db.session.commit()
