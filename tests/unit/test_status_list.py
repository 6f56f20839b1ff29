"""Token Status Lists: bit order, ZLIB/base64url encoding, the signed list and its checks."""

from __future__ import annotations

import base64
import random
import zlib
from datetime import timedelta

import jwt
import pytest

from authsvc.core import keys, status_list
from tests.helpers import T0

KEY = keys.load("ES256", keys.generate("ES256"))
OTHER = keys.load("ES256", keys.generate("ES256"))
URI = "https://authsvc.test/api/v1/status-lists/0"


def test_two_bit_example_of_the_draft():
    # draft-ietf-oauth-status-list section 4.1, 2 bits: 12 statuses -> c9 44 f9 -> this lst.
    # Our deflate strategy (Z_RLE) writes another ZLIB header byte than the draft's level 9;
    # any inflater reads both, and ours inflates to the same bytes.
    example = [1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3]
    raw = status_list.pack(dict(enumerate(example)), size=12)
    assert raw == bytes([0xC9, 0x44, 0xF9])
    assert status_list.decode_lst("eNo76fITAAPfAgc") == raw
    assert status_list.decode_lst(status_list.encode_lst(raw)) == raw
    assert [status_list.status_at(raw, i) for i in range(12)] == example


def test_one_bit_example_of_the_draft():
    example = [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1]
    raw = status_list.pack(dict(enumerate(example)), size=16, bits=1)
    assert raw == bytes([0xB9, 0xA3]) and status_list.decode_lst("eNrbuRgAAhcBXQ") == raw
    assert status_list.decode_lst(status_list.encode_lst(raw)) == raw


def test_index_zero_is_the_least_significant_bits_of_the_first_byte():
    assert status_list.pack({0: 1}, size=8) == bytes([0b00000001, 0])
    assert status_list.pack({3: 2}, size=8) == bytes([0b10000000, 0])
    assert status_list.pack({4: 3}, size=8) == bytes([0, 0b00000011])


def test_round_trip_of_a_full_list():
    rng = random.Random(18)
    statuses = {rng.randrange(status_list.LIST_SIZE): rng.choice((1, 2)) for _ in range(5000)}
    raw = status_list.decode_lst(status_list.encode_lst(status_list.pack(statuses)))
    assert len(raw) == status_list.LIST_SIZE // 4
    for idx in list(statuses)[:500]:
        assert status_list.status_at(raw, idx) == statuses[idx]
    untouched = next(i for i in range(status_list.LIST_SIZE) if i not in statuses)
    assert status_list.status_at(raw, untouched) == 0


@pytest.mark.parametrize(
    "statuses", [{-1: 1}, {status_list.LIST_SIZE: 1}, {0: 4}, {0: -1}], ids=str
)
def test_statuses_that_do_not_fit_are_refused(statuses):
    with pytest.raises(ValueError):
        status_list.pack(statuses)


def test_a_zip_bomb_is_refused():
    bomb = base64.urlsafe_b64encode(zlib.compress(bytes(64 << 20), 9)).rstrip(b"=").decode()
    with pytest.raises(ValueError):
        status_list.decode_lst(bomb)


@pytest.mark.parametrize("lst", ["!!!", "AAAA", "eNo"], ids=repr)
def test_garbage_lst_is_refused(lst):
    with pytest.raises(ValueError):
        status_list.decode_lst(lst)


def test_etag_depends_on_the_statuses_only():
    assert status_list.etag([(1, 1), (5, 2)]) == status_list.etag([(5, 2), (1, 1)])
    assert status_list.etag([(1, 1)]) != status_list.etag([(1, 2)])
    assert status_list.etag([]).startswith('W/"')


def sign(**changes):
    args = {"uri": URI, "raw": status_list.pack({7: 1}), "key": KEY, "now": T0, "ttl": 2}
    args.update(changes)
    return status_list.sign(lifetime=3600, **args)


def verify(token, **changes):
    args = {"uri": URI, "keys": {KEY.kid: KEY}.get, "algorithm": "ES256", "now": T0}
    args.update(changes)
    return status_list.verify(token, **args)


def test_signed_list_round_trip():
    token = sign()
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "statuslist+jwt" and header["kid"] == KEY.kid
    payload, raw = verify(token)
    assert payload["sub"] == URI and payload["ttl"] == 2
    assert payload["exp"] - payload["iat"] == 3600
    assert payload["status_list"]["bits"] == 2
    assert status_list.status_at(raw, 7) == 1 and status_list.status_at(raw, 6) == 0


def test_a_list_signed_by_another_key_is_refused():
    with pytest.raises(ValueError):
        verify(sign(key=OTHER))
    forged = sign(
        key=OTHER.__class__(kid=KEY.kid, alg="ES256", verifying=None, signing=OTHER.signing)
    )
    with pytest.raises(ValueError):
        verify(forged)


def test_another_list_or_an_expired_one_is_refused():
    with pytest.raises(ValueError):
        verify(sign(), uri=URI[:-1] + "1")
    with pytest.raises(ValueError):
        verify(sign(), now=T0 + timedelta(hours=2))


def test_a_token_of_another_type_is_refused():
    token = jwt.encode(
        {"sub": URI, "iat": 1, "exp": 2**40, "status_list": {"bits": 2, "lst": "eNo76fITAAPfAgc"}},
        KEY.signing,
        algorithm="ES256",
        headers={"kid": KEY.kid, "typ": "at+jwt"},
    )
    with pytest.raises(ValueError):
        verify(token)


def test_locate():
    assert status_list.locate(0) == (0, 0)
    assert status_list.locate(status_list.LIST_SIZE + 5) == (1, 5)
    with pytest.raises(ValueError):
        status_list.locate(-1)
