"""The second factor at login. TOTP itself is issue #5; until a user turns it on, this passes."""
from __future__ import annotations

from authsvc.models import User
from authsvc.services import Client


def check_login(user: User, totp_code: str | None, client: Client) -> None:
    """Raise `MfaRequired` / `InvalidTotp` when the user has TOTP on and the code is missing or wrong."""
    if user.totp_enabled:
        raise NotImplementedError("TOTP verification arrives with issue #5")
