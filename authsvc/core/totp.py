"""TOTP (RFC 6238) and recovery codes, as pure functions: no Flask, no database.

Codes are checked against a time the caller passes (the service clock), so tests see
step edges exactly. A code is matched only in time steps later than the last one used,
which is what makes "each code works once" hold across the whole drift window.
Recovery codes are random enough (60 bits) that a keyed HMAC is a sufficient hash: a
copy of the database without the instance secret gives no way to test guesses offline.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import secrets
from datetime import datetime

import pyotp

INTERVAL = 30
DIGITS = 6
DRIFT = 1
RECOVERY_CODE_COUNT = 10
_RECOVERY_GROUPS = 3
_RECOVERY_GROUP_LEN = 4
_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
_SEPARATORS = str.maketrans("", "", " \t\r\n-_")


def new_secret() -> str:
    """A fresh 160-bit base32 secret (RFC 4226's recommended length)."""
    return pyotp.random_base32()


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    """The `otpauth://` URI authenticator apps read."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL).provisioning_uri(
        name=account, issuer_name=issuer
    )


def qr_svg(uri: str) -> str:
    """The URI as a standalone SVG document, for a page to show or a client to save."""
    out = io.BytesIO()
    import segno  # only setup draws a QR code; serving workers need not load it

    segno.make(uri, error="m").save(out, kind="svg", scale=4, border=4)
    return out.getvalue().decode()


def step_at(at: datetime) -> int:
    return int(at.timestamp()) // INTERVAL


def normalize_code(code: str) -> str:
    return code.translate(_SEPARATORS)


def looks_like_totp(code: str) -> bool:
    """Six digits (spaces allowed) is a TOTP code; anything else is tried as a recovery code."""
    normal = normalize_code(code)
    return len(normal) == DIGITS and normal.isascii() and normal.isdigit()


def match(
    secret: str, code: str, *, at: datetime, last_step: int | None, drift: int = DRIFT
) -> int | None:
    """The time step `code` belongs to, within `drift` steps of `at` and after `last_step`; else None.

    Steps at or before `last_step` are never tried: the code used last, and every code
    older than it, is refused even while it is still inside the drift window.
    """
    code = normalize_code(code)
    if not looks_like_totp(code):
        return None
    otp = pyotp.TOTP(secret, digits=DIGITS, interval=INTERVAL)
    now = step_at(at)
    found: int | None = None
    for step in range(now - drift, now + drift + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(otp.generate_otp(step), code) and found is None:
            found = step
    return found


def new_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    """`count` distinct codes like `k7qp-3mzx-a2fd` (60 random bits each)."""
    codes: set[str] = set()
    while len(codes) < count:
        groups = (
            "".join(secrets.choice(_BASE32) for _ in range(_RECOVERY_GROUP_LEN))
            for _ in range(_RECOVERY_GROUPS)
        )
        codes.add("-".join(groups))
    return sorted(codes)


def normalize_recovery_code(code: str) -> str:
    """What the user typed, as stored: case, spaces and dashes do not matter."""
    return normalize_code(code).lower()


def hash_recovery_code(key: bytes, user_id: str, code: str) -> str:
    """HMAC-SHA256 under a key derived from the instance secret, bound to the user."""
    message = f"{user_id}\x00{normalize_recovery_code(code)}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def find_recovery_code(key: bytes, user_id: str, code: str, stored: dict[int, str]) -> int | None:
    """The id of the stored hash `code` matches, comparing with every one in constant time."""
    candidate = hash_recovery_code(key, user_id, code)
    found: int | None = None
    for row_id, code_hash in stored.items():
        if hmac.compare_digest(candidate, code_hash) and found is None:
            found = row_id
    return found
