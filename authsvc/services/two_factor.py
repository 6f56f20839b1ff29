"""Two-factor login: enrolment (setup, enable with recovery codes, disable) and the login-time
check of a TOTP or recovery code, with the replay rule that spends each code once.

Spending is a conditional UPDATE in the caller's transaction (the login, the disable),
so a code is used up only if that whole request succeeds, and of two concurrent
requests with the same code at most one gets through.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, or_, select, update

from authsvc.core import clock, crypto, passwords, totp
from authsvc.core.errors import Conflict, InvalidCredentials, InvalidTotp, MfaRequired, NotFound
from authsvc.extensions import db
from authsvc.models import RecoveryCode, User
from authsvc.services.runtime import settings
from authsvc.core.principal import Client, Principal
from authsvc.services import audit

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


@dataclass(frozen=True)
class Setup:
    secret: str
    otpauth_uri: str
    qr_svg: str


def setup(principal: Principal, client: Client) -> Setup:
    """Make a new pending secret (replacing a pending one); `409` when TOTP is already on."""
    user = _user(principal)
    if user.totp_enabled:
        raise Conflict("Two-factor authentication is already on; disable it first.")
    secret = totp.new_secret()
    user.totp_pending_secret = seal_secret(user.id, secret)
    audit.record("totp.setup", client=client, user_id=user.id)
    db.session.commit()
    uri = totp.provisioning_uri(secret, account=user.email, issuer=settings().totp_issuer)
    return Setup(secret=secret, otpauth_uri=uri, qr_svg=totp.qr_svg(uri))


def enable(principal: Principal, code: str, client: Client) -> list[str]:
    """Turn TOTP on with a code from the pending secret; return the recovery codes, once."""
    user = _user(principal)
    if user.totp_enabled:
        raise Conflict("Two-factor authentication is already on.")
    pending = user.totp_pending_secret
    if pending is None:
        raise Conflict("There is no pending secret; call /auth/totp/setup first.")
    spend_totp(user, pending, code)
    user.totp_secret = pending
    user.totp_pending_secret = None
    user.totp_enabled = True
    codes = totp.new_recovery_codes()
    key = recovery_key()
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.add_all(RecoveryCode(user_id=user.id,
                                    code_hash=totp.hash_recovery_code(key, user.id, c))
                       for c in codes)
    audit.record("totp.enabled", client=client, user_id=user.id, recovery_codes=len(codes))
    db.session.commit()
    return codes


def disable(principal: Principal, password: str, code: str, client: Client) -> None:
    """Turn TOTP off: needs the password and a current code or an unused recovery code."""
    user = _user(principal)
    if not user.totp_enabled:
        raise Conflict("Two-factor authentication is not on.")
    if not passwords.verify(user.password_hash, password, settings().hash_params):
        raise InvalidCredentials("The password is incorrect.", attr="password")
    method = spend(user, code, client)
    user.totp_enabled = False
    user.totp_secret = None
    user.totp_pending_secret = None
    user.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    audit.record("totp.disabled", client=client, user_id=user.id, method=method)
    db.session.commit()


def _user(principal: Principal) -> User:
    user = db.session.get(User, principal.user_id)
    if user is None:
        raise NotFound()
    return user
