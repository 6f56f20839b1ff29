"""The second factor: checking a TOTP or recovery code and spending it.

Spending is a conditional UPDATE in the caller's transaction (the login, the disable),
so a code is used up only if that whole request succeeds, and of two concurrent
requests with the same code at most one gets through.
"""
from __future__ import annotations

from sqlalchemy import or_, select, update

from authsvc import clock, crypto, totp
from authsvc.errors import InvalidTotp, MfaRequired
from authsvc.extensions import db
from authsvc.models import RecoveryCode, User
from authsvc.runtime import settings
from authsvc.services import Client, audit

SECRET_PURPOSE = "totp-secret"
RECOVERY_PURPOSE = "recovery-code"


def seal_secret(user_id: str, secret: str) -> bytes:
    return crypto.seal(settings().secret, SECRET_PURPOSE, secret.encode(), aad=user_id.encode())


def open_secret(user_id: str, sealed: bytes) -> str:
    return crypto.open_sealed(settings().secret, SECRET_PURPOSE, sealed,
                              aad=user_id.encode()).decode()


def recovery_key() -> bytes:
    return crypto.derive_key(settings().secret, RECOVERY_PURPOSE)


def spend_totp(user: User, sealed: bytes, code: str) -> int:
    """Accept `code` for the secret in `sealed` once: record its step or raise `InvalidTotp`."""
    step = totp.match(open_secret(user.id, sealed), code, at=clock.now(),
                      last_step=user.totp_last_step)
    if step is None:
        raise InvalidTotp()
    spent = db.session.execute(
        update(User)
        .where(User.id == user.id,
               or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session="fetch")
    )
    if spent.rowcount != 1:
        raise InvalidTotp()
    return step


def spend_recovery_code(user: User, code: str, client: Client) -> None:
    """Mark an unused recovery code of `user` used (audited), or raise `InvalidTotp`."""
    rows = db.session.execute(
        select(RecoveryCode.id, RecoveryCode.code_hash)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    ).all()
    row_id = totp.find_recovery_code(recovery_key(), user.id, code,
                                     {r.id: r.code_hash for r in rows})
    if row_id is None:
        raise InvalidTotp()
    spent = db.session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.id == row_id, RecoveryCode.used_at.is_(None))
        .values(used_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:
        raise InvalidTotp()
    audit.record("totp.recovery_code_used", client=client, user_id=user.id,
                 remaining=len(rows) - 1)


def spend(user: User, code: str, client: Client) -> str:
    """Spend a current TOTP code or an unused recovery code of an enabled user; say which."""
    if user.totp_secret is None:
        raise InvalidTotp()
    if totp.looks_like_totp(code):
        spend_totp(user, user.totp_secret, code)
        return "totp"
    spend_recovery_code(user, code, client)
    return "recovery_code"


def check_login(user: User, totp_code: str | None, client: Client) -> None:
    """Raise `MfaRequired` / `InvalidTotp` when the user has TOTP on and the code is missing or wrong.

    Called only after the password was right. On success the code is spent in the
    login's own transaction; the caller commits.
    """
    if not user.totp_enabled:
        return
    if totp_code is None:
        raise MfaRequired()
    spend(user, totp_code, client)
