"""Login-time two-factor codes and their replay rule: a TOTP step or a recovery code is spent once.

Spending is a conditional UPDATE in the caller's transaction (the login, the disable),
so a code is used up only if that whole request succeeds, and of two concurrent
requests with the same code at most one gets through.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select, update

from authsvc.core import clock, crypto, totp
from authsvc.core.errors import InvalidTotp, MfaRequired
from authsvc.core.principal import Client
from authsvc.extensions import db, rowcount
from authsvc.models import RecoveryCode, User
from authsvc.services import audit
from authsvc.services.runtime import settings

SECRET_PURPOSE = "totp-secret"
RECOVERY_PURPOSE = "recovery-code"


def seal_secret(user_id: str, secret: str) -> bytes:
    return crypto.seal(settings().secret, SECRET_PURPOSE, secret.encode(), aad=user_id.encode())


def open_secret(user_id: str, sealed: bytes) -> str:
    return crypto.open_sealed(
        settings().secret, SECRET_PURPOSE, sealed, aad=user_id.encode()
    ).decode()


def recovery_key() -> bytes:
    return crypto.derive_key(settings().secret, RECOVERY_PURPOSE)


@dataclass(frozen=True)
class Proof:
    """A code that matched, not yet spent: `spend_proof` spends it in the caller's transaction."""

    method: str  # "totp" or "recovery_code"
    step: int | None = None
    recovery_code_id: int | None = None
    remaining: int = 0


def match_totp(user: User, sealed: bytes, code: str) -> Proof:
    """The step `code` proves for the secret in `sealed` (newer than the last one used), or
    `InvalidTotp`. Writes nothing."""
    step = totp.match(
        open_secret(user.id, sealed), code, at=clock.now(), last_step=user.totp_last_step
    )
    if step is None:
        raise InvalidTotp()
    return Proof("totp", step=step)


def match(user: User, code: str) -> Proof:
    """A current TOTP code or an unused recovery code of an enabled user, or `InvalidTotp`."""
    if user.totp_secret is None:
        raise InvalidTotp()
    if totp.looks_like_totp(code):
        return match_totp(user, user.totp_secret, code)
    rows = db.session.execute(
        select(RecoveryCode.id, RecoveryCode.code_hash).where(
            RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
        )
    ).all()
    row_id = totp.find_recovery_code(
        recovery_key(), user.id, code, {r.id: r.code_hash for r in rows}
    )
    if row_id is None:
        raise InvalidTotp()
    return Proof("recovery_code", recovery_code_id=row_id, remaining=len(rows) - 1)


def spend_proof(user: User, proof: Proof, client: Client) -> str:
    """Spend a matched code once (a conditional UPDATE: of two requests with one code at most
    one gets here), or raise `InvalidTotp`; say which kind it was."""
    if proof.method == "totp":
        spent = db.session.execute(
            update(User)
            .where(
                User.id == user.id,
                or_(User.totp_last_step.is_(None), User.totp_last_step < proof.step),
            )
            .values(totp_last_step=proof.step)
            .execution_options(synchronize_session="fetch")
        )
    else:
        spent = db.session.execute(
            update(RecoveryCode)
            .where(RecoveryCode.id == proof.recovery_code_id, RecoveryCode.used_at.is_(None))
            .values(used_at=clock.now())
            .execution_options(synchronize_session=False)
        )
    if rowcount(spent) != 1:
        raise InvalidTotp()
    if proof.method == "recovery_code":
        audit.record(
            "totp.recovery_code_used", client=client, user_id=user.id, remaining=proof.remaining
        )
    return proof.method


def spend_totp(user: User, sealed: bytes, code: str) -> int:
    """Accept `code` for the secret in `sealed` once: record its step or raise `InvalidTotp`."""
    proof = match_totp(user, sealed, code)
    spend_proof(user, proof, Client())
    assert proof.step is not None
    return proof.step


def spend(user: User, code: str, client: Client) -> str:
    """Spend a current TOTP code or an unused recovery code of an enabled user; say which."""
    return spend_proof(user, match(user, code), client)


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
