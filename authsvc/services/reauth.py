"""Sudo mode: a fresh proof of the password (and of the second factor) for sensitive changes.

Every sensitive route (two-factor setup, enable and disable, creating and rotating private
tokens, changing the password) calls `require_recent_proof` before it changes anything.
The proof travels in the body: `current_password`, plus `totp_code` when two-factor is on
(at enable, the code of the pending secret being enabled). It is one guess as a login is:

- it runs inside `lockout.attempt` on the caller's own email (read from the user row,
  never from the body), so wrong answers count towards the account's lockout, a locked
  account gets `429` even with the right answer, and a right answer clears the count just
  as a successful login does;
- a wrong password and a right password with a wrong code get one and the same answer
  (`401 invalid_credentials` naming the password field), so the route is no oracle for the
  password; both are checked every time, the code first, so both cost the same work;
- a wrong answer writes one `login.failed` audit event (with `action`), and nothing else;
- two-factor on and no code is `401 mfa_required` before the password is looked at: not a
  guess, not counted, nothing written.

A code that proves is spent in the caller's transaction, after the lockout's bookkeeping
(which has its own connection: on SQLite a write held open across it would wait on itself),
so it is used up only if the change commits.
"""

from __future__ import annotations

from authsvc.core import passwords
from authsvc.core.errors import InvalidCredentials, InvalidTotp, MfaRequired, ValidationFailed
from authsvc.core.principal import Client
from authsvc.extensions import db
from authsvc.models import User
from authsvc.services import audit, lockout
from authsvc.services.runtime import settings
from authsvc.services.transaction import transaction
from authsvc.services.two_factor import codes

PASSWORD_ONLY = "The current password is incorrect."
PASSWORD_OR_CODE = "The password or the two-factor code is incorrect."


def require_recent_proof(
    user: User,
    password: str | None,
    totp_code: str | None,
    client: Client,
    *,
    action: str,
    password_attr: str = "current_password",
    pending_secret: bytes | None = None,
) -> str | None:
    """Check the proof for `action`, or raise; return how the second factor was proven.

    `pending_secret`: the code must come from this secret instead (enabling two-factor).
    The return value is `"totp"`, `"recovery_code"` or None (no second factor asked).
    """
    if password is None:
        raise ValidationFailed.one(password_attr, "required", "Missing data for required field.")
    user_id = user.id
    with lockout.attempt(user.email, client):
        second = pending_secret is not None or user.totp_enabled
        if second and totp_code is None:
            raise MfaRequired()
        proof, code_ok = None, True
        if second:
            try:
                proof = (
                    codes.match_totp(user, pending_secret, totp_code or "")
                    if pending_secret is not None
                    else codes.match(user, totp_code or "")
                )
            except InvalidTotp:
                code_ok = False
        password_ok = passwords.verify(user.password_hash, password, settings().hash_params)
        if not (password_ok and code_ok):
            db.session.rollback()  # nothing of the refused request is kept but its event
            with transaction():
                audit.record(
                    "login.failed",
                    client=client,
                    user_id=user_id,
                    action=action,
                    reason="credentials" if not password_ok else "totp",
                )
            raise InvalidCredentials(
                PASSWORD_OR_CODE if second else PASSWORD_ONLY, attr=password_attr
            )
    if proof is None:
        return None
    try:
        return codes.spend_proof(user, proof, client)
    except InvalidTotp:  # a concurrent request spent the same code first
        raise InvalidCredentials(PASSWORD_OR_CODE, attr=password_attr) from None
