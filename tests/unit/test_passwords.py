"""passwords: the policy, argon2id verification (same work for unknown users), rehashing."""

from __future__ import annotations

import time
from typing import Any

import pytest

from authsvc.core import passwords
from authsvc.core.passwords import HashParams, WeakPassword

FAST = HashParams(memory_kib=256, time_cost=1, parallelism=1)
EMAIL = "alice.wonder@example.com"
STRONG = "quartz-Meadow-91-lantern"

WEAK_ROWS = [
    pytest.param("", None, id="empty"),
    pytest.param("a", None, id="one-char"),
    pytest.param("Xk9#mQ2$vL7", None, id="strong-but-11-chars"),
    pytest.param("password1234", None, id="common-password1234"),
    pytest.param("Password123!", None, id="common-Password123!"),
    pytest.param("iloveyou1234", None, id="common-iloveyou1234"),
    pytest.param("letmein12345", None, id="common-letmein12345"),
    pytest.param("monkey123456", None, id="common-monkey123456"),
    pytest.param("123456789012", None, id="digits-sequence"),
    pytest.param("trustno1trustno1", None, id="common-repeated"),
    pytest.param("qwerty123456", None, id="walk-qwerty123456"),
    pytest.param("qwertyuiop[]", None, id="walk-top-row"),
    pytest.param("qwertyuiopasdfgh", None, id="walk-two-rows"),
    pytest.param("1qaz2wsx3edc", None, id="walk-columns"),
    pytest.param("1QAZ2WSX3EDC", None, id="walk-columns-caps"),
    pytest.param("!QAZ2wsx#EDC", None, id="walk-columns-half-shifted"),
    pytest.param("!QAZ@WSX#EDC$RFV", None, id="walk-columns-shifted"),
    pytest.param("1q2w3e4r5t6y", None, id="walk-zigzag"),
    pytest.param("zxcvbnm,./;'", None, id="walk-bottom-row"),
    pytest.param("asdfghjkl;'\\", None, id="walk-home-row"),
    pytest.param("aaaaaaaaaaaa", None, id="repeated-a"),
    pytest.param("111111111111", None, id="repeated-1"),
    pytest.param("abcabcabcabc", None, id="repeated-abc"),
    pytest.param("abcdefghijkl", None, id="alphabet-sequence"),
    pytest.param(EMAIL, EMAIL, id="the-email-itself"),
    pytest.param(EMAIL.upper(), EMAIL, id="the-email-in-capitals"),
    pytest.param(f"x{EMAIL}!", EMAIL, id="containing-the-email"),
    pytest.param("alice.wonder-Quartz-91", EMAIL, id="containing-the-local-part"),
    pytest.param("Quartz-ALICE.WONDER-91", EMAIL, id="containing-the-local-part-in-capitals"),
    pytest.param("bob@example.com", "bob@example.com", id="the-email-with-a-short-local-part"),
    pytest.param(
        "xx-bob@example.com-xx", "bob@example.com", id="containing-an-email-with-short-local"
    ),
    pytest.param("quartz-\ud800-Meadow-91-lantern", None, id="lone-surrogate"),
]


@pytest.mark.parametrize(("password", "email"), WEAK_ROWS)
def test_weak_passwords_are_refused(password: str, email: str | None) -> None:
    with pytest.raises(WeakPassword) as info:
        passwords.check_strength(password, email=email)
    assert info.value.detail


STRONG_ROWS = [
    pytest.param(STRONG, None, id="the-test-password"),
    pytest.param(STRONG, EMAIL, id="with-an-unrelated-email"),
    pytest.param("correct horse battery staple", EMAIL, id="passphrase"),
    pytest.param("7f#Kq!2vLp9@Zw", EMAIL, id="random-14"),
    pytest.param("Tr0ub4dor&3xyz", None, id="mixed-14"),
    pytest.param("Grüße aus Köln, 1987 & mehr", None, id="non-ascii-passphrase"),
    pytest.param("水、火、風、土 - 四つの要素 42", None, id="cjk-passphrase"),
    pytest.param("v" + "Lq8#nR2!" * 127 + "xyz", None, id="1020-chars"),
    pytest.param(
        "bob-is-not-Quartz-Meadow-91", "bob@example.com", id="short-local-part-is-not-a-hint"
    ),
]


@pytest.mark.parametrize(("password", "email"), STRONG_ROWS)
def test_strong_passwords_pass(password: str, email: str | None) -> None:
    passwords.check_strength(password, email=email)


def test_the_policy_limits() -> None:
    assert passwords.MIN_LENGTH == 12 and passwords.MAX_LENGTH == 1024


# -- hashing and verification -----------------------------------------------------------------

STORED = passwords.hash_password(STRONG, FAST)


@pytest.mark.parametrize(
    ("stored", "password", "expected"),
    [
        pytest.param(STORED, STRONG, True, id="right"),
        pytest.param(STORED, STRONG + " ", False, id="trailing-space"),
        pytest.param(STORED, STRONG.upper(), False, id="other-case"),
        pytest.param(STORED, "", False, id="empty"),
        pytest.param(STORED, STRONG + "\x00", False, id="nul-appended"),
        pytest.param(STORED, STRONG[:-1] + "\ud800", False, id="lone-surrogate"),
        pytest.param(None, STRONG, False, id="no-user"),
        pytest.param(
            None, "authsvc dummy password, never anyone's", False, id="no-user-dummy-password"
        ),
        pytest.param("", STRONG, False, id="empty-hash"),
        pytest.param("not-a-hash", STRONG, False, id="garbage-hash"),
        pytest.param("$argon2id$v=19$m=256,t=1,p=1$broken", STRONG, False, id="truncated-hash"),
    ],
)
def test_verify(stored: str | None, password: str, expected: bool) -> None:
    assert passwords.verify(stored, password, FAST) is expected


def test_hashes_are_salted_argon2id() -> None:
    again = passwords.hash_password(STRONG, FAST)
    assert again != STORED and again.startswith("$argon2id$v=19$m=256,t=1,p=1$")
    assert STRONG not in again


def test_a_hash_verifies_under_other_current_params() -> None:
    """Old hashes keep working after the parameters change (until rehashed on login)."""
    assert passwords.verify(STORED, STRONG, HashParams(memory_kib=512, time_cost=2, parallelism=1))


def test_owasp_minimum() -> None:
    assert HashParams(memory_kib=19 * 1024, time_cost=2, parallelism=1) == passwords.OWASP_MINIMUM
    assert HashParams() == passwords.OWASP_MINIMUM
    stored = passwords.hash_password(STRONG, passwords.OWASP_MINIMUM)
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert passwords.verify(stored, STRONG, passwords.OWASP_MINIMUM)


@pytest.mark.parametrize(
    "params",
    [
        pytest.param(HashParams(memory_kib=512, time_cost=1, parallelism=1), id="memory"),
        pytest.param(HashParams(memory_kib=256, time_cost=2, parallelism=1), id="time"),
        pytest.param(HashParams(memory_kib=256, time_cost=1, parallelism=2), id="parallelism"),
        pytest.param(passwords.OWASP_MINIMUM, id="owasp"),
    ],
)
def test_needs_rehash_when_params_change(params: HashParams) -> None:
    assert passwords.needs_rehash(STORED, FAST) is False
    assert passwords.needs_rehash(STORED, params) is True
    assert passwords.needs_rehash(passwords.hash_password(STRONG, params), params) is False


@pytest.mark.parametrize("stored", ["", "not-a-hash", "$2b$12$abcdefghijklmnopqrstuu"])
def test_anything_but_an_argon2_hash_needs_rehash(stored: str) -> None:
    assert passwords.needs_rehash(stored, FAST) is True


class _Spy:
    def __init__(self, real: Any) -> None:
        self.real, self.calls = real, []

    def verify(self, stored: str, password: Any) -> bool:
        self.calls.append(stored)
        return bool(self.real.verify(stored, password))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@pytest.mark.parametrize("stored", [None, ""])
def test_an_unknown_user_still_runs_one_argon2id_verification(
    monkeypatch: pytest.MonkeyPatch, stored: str | None
) -> None:
    spy = _Spy(passwords._hasher(FAST))
    monkeypatch.setattr(passwords, "_hasher", lambda params: spy)
    assert passwords.verify(stored, STRONG, FAST) is False
    assert len(spy.calls) == 1 and spy.calls[0].startswith("$argon2id$v=19$m=256,t=1,p=1$")


@pytest.mark.slow
def test_an_unknown_user_costs_as_much_as_a_known_one_with_owasp_params() -> None:
    """Measured: the best of 5 of each, interleaved, so that load on the machine evens out."""
    params = passwords.OWASP_MINIMUM
    stored = passwords.hash_password(STRONG, params)
    passwords.verify(None, STRONG, params)  # the dummy hash is made once, on first use
    known, unknown = [], []
    for _ in range(5):
        for bucket, target in ((known, stored), (unknown, None)):
            start = time.perf_counter()
            passwords.verify(target, "wrong password, not the right one", params)
            bucket.append(time.perf_counter() - start)
    assert min(unknown) >= 0.5 * min(known), (known, unknown)
    assert min(known) >= 0.5 * min(unknown), (known, unknown)
