"""Password hashing (argon2id) and the password policy.

An unknown email is verified against a dummy hash made with the same parameters, so a
login costs one argon2id verification whether or not the account exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 12
MAX_LENGTH = 1024
MIN_SCORE = 3
_SCORED_PREFIX = 72  # zxcvbn refuses longer input; 72 characters already score as strong
_UNSHIFTED = str.maketrans('!@#$%^&*()_+{}|:"<>?~', "1234567890-=[]\\;',./`")


@dataclass(frozen=True)
class HashParams:
    memory_kib: int = 19 * 1024
    time_cost: int = 2
    parallelism: int = 1


OWASP_MINIMUM = HashParams()


class WeakPassword(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@lru_cache(maxsize=8)
def _hasher(params: HashParams) -> PasswordHasher:
    return PasswordHasher(
        time_cost=params.time_cost,
        memory_cost=params.memory_kib,
        parallelism=params.parallelism,
        type=Type.ID,
    )


@lru_cache(maxsize=8)
def _dummy_hash(params: HashParams) -> str:
    return _hasher(params).hash("authsvc dummy password, never anyone's")


def hash_password(password: str, params: HashParams) -> str:
    return _hasher(params).hash(password)


def verify(stored: str | None, password: str, params: HashParams) -> bool:
    """True only for the right password; `stored=None` spends the same work and says False.

    A password no hash can hold (a lone surrogate) is hashed as its raw code units, so it
    costs the same verification and simply never matches.
    """
    secret = password.encode("utf-8", "surrogatepass")
    try:
        return _hasher(params).verify(stored or _dummy_hash(params), secret) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str, params: HashParams) -> bool:
    """True when `stored` was made with other parameters, or is not an argon2 hash at all."""
    try:
        return _hasher(params).check_needs_rehash(stored)
    except InvalidHashError:
        return True


def check_strength(password: str, *, email: str | None = None) -> None:
    """Raise `WeakPassword` for a short, common or easily guessed password."""
    from zxcvbn import zxcvbn  # its dictionaries cost ~12 MB: loaded only where passwords are set

    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"Use at least {MIN_LENGTH} characters.")
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in password):
        raise WeakPassword("The password contains characters that cannot be stored.")
    lowered = password.lower()
    hints: list[str] = []
    if email:
        local = email.split("@", 1)[0].lower()
        hints = [email.lower(), local]
        if email.lower() in lowered or (len(local) >= 4 and local in lowered):
            raise WeakPassword("The password must not contain your email address.")
    # zxcvbn misses keyboard walks typed with Shift on some keys ("!QAZ@WSX#EDC$RFV" scores 4),
    # so the password also has to stand up with Shift released (US layout).
    for candidate in dict.fromkeys((password, password.lower().translate(_UNSHIFTED))):
        if zxcvbn(candidate[:_SCORED_PREFIX], user_inputs=hints)["score"] < MIN_SCORE:
            raise WeakPassword("This password is too common or too easy to guess.")
