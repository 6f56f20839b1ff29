"""Turning two-factor login on and off: setup, enable (with recovery codes), disable.

The secret stays pending until the user proves, with a code, that their app holds it;
only then is it moved into place and login starts asking for codes.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select

from authsvc.core import totp
from authsvc.core.errors import Conflict, NotFound
from authsvc.core.principal import Client, Principal
from authsvc.extensions import db
from authsvc.models import RecoveryCode, User
from authsvc.services import audit
from authsvc.services.reauth import require_recent_proof
from authsvc.services.runtime import settings
from authsvc.services.transaction import transaction
from authsvc.services.two_factor import codes


@dataclass(frozen=True)
class Setup:
    secret: str
    otpauth_uri: str
    qr_svg: str


def setup(principal: Principal, current_password: str | None, client: Client) -> Setup:
    """Make a new pending secret (replacing a pending one); `409` when TOTP is already on.

    Sudo mode: needs the password (two-factor is off here, or this is a 409).
    """
    user = _user(principal)
    if user.totp_enabled:
        raise Conflict("Two-factor authentication is already on; disable it first.")
    require_recent_proof(user, current_password, None, client, action="totp.setup")
    secret = totp.new_secret()
    with transaction():
        user.totp_pending_secret = codes.seal_secret(user.id, secret)
        audit.record("totp.setup", client=client, user_id=user.id)
    uri = totp.provisioning_uri(secret, account=user.email, issuer=settings().totp_issuer)
    return Setup(secret=secret, otpauth_uri=uri, qr_svg=totp.qr_svg(uri))


def enable(
    principal: Principal, current_password: str | None, code: str, client: Client
) -> list[str]:
    """Turn TOTP on with a code from the pending secret; return the recovery codes, once.

    Sudo mode: the password, and the code of the pending secret as the second factor.
    """
    user = _user(principal)
    if user.totp_enabled:
        raise Conflict("Two-factor authentication is already on.")
    pending = user.totp_pending_secret
    if pending is None:
        raise Conflict("There is no pending secret; call /auth/totp/setup first.")
    require_recent_proof(
        user, current_password, code, client, action="totp.enable", pending_secret=pending
    )
    with transaction():
        user.totp_secret = pending
        user.totp_pending_secret = None
        user.totp_enabled = True
        recovery_codes = _replace_recovery_codes(user)
        audit.record(
            "totp.enabled", client=client, user_id=user.id, recovery_codes=len(recovery_codes)
        )
    return recovery_codes


@dataclass(frozen=True)
class Status:
    enabled: bool
    recovery_codes_left: int | None


def status(principal: Principal) -> Status:
    """Whether two-factor is on and how many recovery codes are unused (None when off)."""
    user = _user(principal)
    if not user.totp_enabled:
        return Status(enabled=False, recovery_codes_left=None)
    left = db.session.scalar(
        select(func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    )
    return Status(enabled=True, recovery_codes_left=int(left or 0))


def regenerate_recovery_codes(
    principal: Principal, current_password: str | None, totp_code: str | None, client: Client
) -> list[str]:
    """Ten new recovery codes, shown once; every earlier one, used or not, stops working.

    Sudo mode: the password and a current code (or an unused recovery code, which is spent
    before the set is replaced). `409` when two-factor is off: there is nothing to recover.
    """
    user = _user(principal)
    if not user.totp_enabled:
        raise Conflict("Two-factor authentication is not on.")
    method = require_recent_proof(
        user, current_password, totp_code, client, action="totp.recovery_codes"
    )
    with transaction():
        recovery_codes = _replace_recovery_codes(user)
        audit.record(
            "totp.recovery_codes_regenerated",
            client=client,
            user_id=user.id,
            method=method,
            recovery_codes=len(recovery_codes),
        )
    return recovery_codes


def _replace_recovery_codes(user: User) -> list[str]:
    recovery_codes = totp.new_recovery_codes()
    key = codes.recovery_key()
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.add_all(
        RecoveryCode(user_id=user.id, code_hash=totp.hash_recovery_code(key, user.id, c))
        for c in recovery_codes
    )
    return recovery_codes


def disable(
    principal: Principal,
    password: str | None,
    code: str,
    client: Client,
    *,
    password_attr: str = "password",
) -> None:
    """Turn TOTP off: needs the password and a current code or an unused recovery code."""
    user = _user(principal)
    if not user.totp_enabled:
        raise Conflict("Two-factor authentication is not on.")
    method = require_recent_proof(
        user, password, code, client, action="totp.disable", password_attr=password_attr
    )
    with transaction():
        user.totp_enabled = False
        user.totp_secret = None
        user.totp_pending_secret = None
        user.totp_last_step = None
        db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        audit.record("totp.disabled", client=client, user_id=user.id, method=method)


def _user(principal: Principal) -> User:
    user = db.session.get(User, principal.user_id)
    if user is None:
        raise NotFound()
    return user
