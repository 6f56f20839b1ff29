"""authsvc.totp without an app: codes at chosen times, drift, replay, recovery codes."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, unquote, urlparse

import pyotp
import pytest

from authsvc.core import crypto, totp

T0 = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
STEP0 = int(T0.timestamp()) // 30


def code_at(offset_steps: int, secret: str = SECRET) -> str:
    return pyotp.TOTP(secret).at(T0 + timedelta(seconds=30 * offset_steps))


def test_new_secret_is_160_bit_base32_and_fresh():
    a, b = totp.new_secret(), totp.new_secret()
    assert re.fullmatch(r"[A-Z2-7]{32}", a) and a != b


def test_provisioning_uri_names_issuer_and_account():
    uri = totp.provisioning_uri(SECRET, account="alice@example.com", issuer="Acme Auth")
    parsed = urlparse(uri)
    assert (parsed.scheme, parsed.netloc) == ("otpauth", "totp")
    assert unquote(parsed.path) == "/Acme Auth:alice@example.com"
    query = parse_qs(parsed.query)
    assert query["secret"] == [SECRET] and query["issuer"] == ["Acme Auth"]
    assert pyotp.parse_uri(uri).at(T0) == code_at(0)


def test_qr_svg_is_an_svg_document():
    svg = totp.qr_svg(totp.provisioning_uri(SECRET, account="a@example.com", issuer="authsvc"))
    root = ET.fromstring(svg.encode())
    assert root.tag == "{http://www.w3.org/2000/svg}svg"


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_one_step_of_drift_either_way_is_accepted(offset):
    assert totp.match(SECRET, code_at(offset), at=T0, last_step=None) == STEP0 + offset


@pytest.mark.parametrize("offset", [-3, -2, 2, 3])
def test_two_steps_away_is_refused(offset):
    assert totp.match(SECRET, code_at(offset), at=T0, last_step=None) is None


def test_edges_of_a_step():
    last_second = T0 + timedelta(seconds=29)
    assert totp.match(SECRET, code_at(0), at=last_second, last_step=None) == STEP0
    assert totp.match(SECRET, code_at(-1), at=T0 + timedelta(seconds=30), last_step=None) is None


@pytest.mark.parametrize("typed", ["{c}", " {c} ", "{a} {b}", "{a}-{b}"])
def test_spaces_and_dashes_in_a_code_are_ignored(typed):
    c = code_at(0)
    assert totp.match(SECRET, typed.format(c=c, a=c[:3], b=c[3:]), at=T0, last_step=None) == STEP0


@pytest.mark.parametrize("bad", ["", "12345", "1234567", "abcdef", "１２３４５６", "١٢٣٤٥٦"])
def test_not_six_ascii_digits_never_matches(bad):
    assert totp.match(SECRET, bad, at=T0, last_step=None) is None


def test_the_step_used_last_and_older_ones_are_refused():
    assert totp.match(SECRET, code_at(0), at=T0, last_step=STEP0) is None
    assert totp.match(SECRET, code_at(-1), at=T0, last_step=STEP0) is None
    assert totp.match(SECRET, code_at(0), at=T0 + timedelta(seconds=30), last_step=STEP0) is None
    assert totp.match(SECRET, code_at(1), at=T0, last_step=STEP0) == STEP0 + 1


def test_wrong_secret_does_not_match():
    other = "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU"
    assert totp.match(other, code_at(0), at=T0, last_step=None) is None


@pytest.mark.parametrize(
    "code,expected",
    [("123456", True), ("123 456", True), ("abcd-efgh-ijkl", False), ("12345", False)],
)
def test_looks_like_totp(code, expected):
    assert totp.looks_like_totp(code) is expected


def test_recovery_codes_are_ten_distinct_grouped_base32_strings():
    codes = totp.new_recovery_codes()
    assert len(codes) == 10 == len(set(codes))
    assert all(re.fullmatch(r"[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}", c) for c in codes)
    assert not any(totp.looks_like_totp(c) for c in codes)
    assert set(codes).isdisjoint(totp.new_recovery_codes())


KEY = crypto.derive_key(b"x" * 32, "recovery-code")


@pytest.mark.parametrize(
    "typed",
    ["k7qp-3mzx-a2fd", "K7QP-3MZX-A2FD", "k7qp3mzxa2fd", " k7qp 3mzx a2fd ", "K7QP_3MZX_A2FD"],
)
def test_recovery_code_hash_ignores_case_spaces_and_dashes(typed):
    assert totp.hash_recovery_code(KEY, "u1", typed) == totp.hash_recovery_code(
        KEY, "u1", "k7qp-3mzx-a2fd"
    )


def test_recovery_code_hash_depends_on_key_and_user_and_hides_the_code():
    h = totp.hash_recovery_code(KEY, "u1", "k7qp-3mzx-a2fd")
    other_key = crypto.derive_key(b"y" * 32, "recovery-code")
    assert h != totp.hash_recovery_code(other_key, "u1", "k7qp-3mzx-a2fd")
    assert h != totp.hash_recovery_code(KEY, "u2", "k7qp-3mzx-a2fd")
    assert "k7qp" not in h and re.fullmatch(r"[0-9a-f]{64}", h)


def test_find_recovery_code():
    stored = {
        7: totp.hash_recovery_code(KEY, "u1", "aaaa-bbbb-cccc"),
        9: totp.hash_recovery_code(KEY, "u1", "dddd-eeee-ffff"),
    }
    assert totp.find_recovery_code(KEY, "u1", "DDDD EEEE FFFF", stored) == 9
    assert totp.find_recovery_code(KEY, "u1", "dddd-eeee-fffe", stored) is None
    assert totp.find_recovery_code(KEY, "u2", "dddd-eeee-ffff", stored) is None
    assert totp.find_recovery_code(KEY, "u1", "dddd-eeee-ffff", {}) is None
