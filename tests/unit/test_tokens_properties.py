"""Property tests for tokens.decode: claims come back only for tokens the service signed.

Whatever the input (any text, any bytes, any header and claims, any re-spelling of a valid
token), decode either returns claims that obey every rule or raises an InvalidToken;
never another exception. Bounded so the file runs in seconds.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from authsvc.core import tokens
from tests.unit.test_tokens import (
    AUD,
    GOOD,
    ISS,
    KEY,
    KEY_BY_ALG,
    NOW,
    STRANGER,
    T0,
    b64,
    claims,
    decode,
    es256,
    header,
    high_s,
)

BOUNDED = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
HEAVY = settings(BOUNDED, max_examples=100)  # big draws: slow to generate, not to check
REASONS = {
    "malformed",
    "signature",
    "algorithm",
    "expired",
    "not_yet_valid",
    "wrong_type",
    "unknown_key",
}
ALL_KINDS = tuple(tokens.KINDS)
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

# Every code point, lone surrogates included, with the awkward ones made likely.
CHARS = st.characters(exclude_categories=()) | st.sampled_from(
    ["\x00", "\ud800", "\udfff", "\u2028", "\u00a0", "\ufeff", "é", "\U0001d49c", '"', "\\"]
)
TEXT = st.text(CHARS, max_size=8)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(-(10**40), 10**40)
    | st.floats(allow_nan=False)
    | TEXT
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=6,
)
HEADER_NAMES = (
    st.sampled_from(
        [
            "alg",
            "ALG",
            "Alg",
            "typ",
            "TYP",
            "kid",
            "Kid",
            "KID",
            "jwk",
            "jku",
            "x5u",
            "x5c",
            "crit",
            "b64",
            "cty",
            "zip",
            "enc",
            "nonce",
        ]
    )
    | TEXT
)
CLAIM_NAMES = (
    st.sampled_from(
        [
            "iss",
            "ISS",
            "aud",
            "Aud",
            "sub",
            "iat",
            "exp",
            "EXP",
            "nbf",
            "jti",
            "scope",
            "scp",
            "sid",
            "SID",
        ]
    )
    | TEXT
)


def expect_refusal(token: object, **kwargs: Any) -> tokens.InvalidToken:
    with pytest.raises(tokens.InvalidToken) as info:
        decode(token, **kwargs)
    assert info.value.reason in REASONS
    return info.value


def serialize(pairs: list[tuple[str, Any]], ascii_only: bool) -> bytes:
    """A JSON object written by hand, so duplicate names survive; raw surrogates make bad UTF-8."""
    body = ",".join(
        f"{json.dumps(k, ensure_ascii=ascii_only)}:{json.dumps(v, ensure_ascii=ascii_only)}"
        for k, v in pairs
    )
    return ("{" + body + "}").encode("utf-8", "surrogatepass")


@st.composite
def mutated(
    draw: st.DrawFn, base: dict[str, Any], names: st.SearchStrategy[str]
) -> list[tuple[str, Any]]:
    """`base` with a few members replaced by any JSON, removed, added or duplicated by case."""
    pairs = list(base.items())
    for _ in range(draw(st.integers(0, 3))):
        action = draw(st.sampled_from(["replace", "remove", "add", "duplicate", "recase"]))
        if action == "add" or not pairs:
            pairs.append((draw(names), draw(JSON)))
            continue
        i = draw(st.integers(0, len(pairs) - 1))
        name, value = pairs[i]
        if action == "replace":
            pairs[i] = (name, draw(JSON))
        elif action == "remove":
            del pairs[i]
        elif action == "duplicate":
            pairs.insert(draw(st.integers(0, len(pairs))), (name, draw(JSON | st.just(value))))
        else:
            pairs.append(
                (draw(st.sampled_from([name.upper(), name.title(), name.swapcase()])), value)
            )
    return pairs


def obeys_every_rule(v: tokens.Verified, kinds: tuple[str, ...], leeway: int) -> bool:
    """The oracle: what an accepted token must look like, written independently of decode."""
    h, c = v.header, v.claims
    now = NOW
    required = ["iss", "aud", "sub", "iat", "exp", "jti", "scope"]
    if v.kind in ("access", "refresh"):
        required.append("sid")
    ints = all(type(c.get(n)) is int and 0 <= c[n] < 2**38 for n in ("iat", "exp"))
    return (
        h.get("alg") == "ES256"
        and h.get("kid") == KEY.kid
        and not {"jwk", "jku", "x5u", "x5c", "crit", "b64"} & set(h)
        and h.get("typ") == tokens.KINDS[v.kind]
        and v.kind in kinds
        and all(n in c for n in required)
        and all(
            type(c[n]) is str and c[n]
            for n in ("sub", "jti") + (("sid",) if "sid" in required else ())
        )
        and type(c["scope"]) is str
        and c["iss"] == ISS
        and c["aud"] == AUD
        and ints
        and now < c["exp"] + leeway
        and c["iat"] <= now + leeway
        and ("nbf" not in c or (type(c["nbf"]) is int and 0 <= c["nbf"] <= now + leeway))
    )


# -- any input -----------------------------------------------------------------------------------


@BOUNDED
@given(st.text(CHARS, max_size=400))
def test_any_text_is_refused_only_with_invalid_token(text: str) -> None:
    expect_refusal(text)


@BOUNDED
@given(
    st.lists(st.text(st.sampled_from(B64URL + "=+/ .\x00é"), max_size=120), min_size=1, max_size=5)
)
def test_token_shaped_text_is_refused_only_with_invalid_token(parts: list[str]) -> None:
    expect_refusal(".".join(parts), kinds=ALL_KINDS)


@BOUNDED
@given(st.binary(max_size=400), st.sampled_from(["latin-1", "utf-8"]))
def test_any_bytes_decoded_to_text_are_refused_only_with_invalid_token(
    raw: bytes, codec: str
) -> None:
    expect_refusal(raw.decode(codec, "surrogateescape"))
    expect_refusal(raw)


@BOUNDED
@given(st.lists(st.binary(max_size=200), min_size=3, max_size=3))
def test_three_segments_of_any_bytes_are_refused(parts: list[bytes]) -> None:
    expect_refusal(".".join(b64(p) for p in parts), kinds=ALL_KINDS)


# -- any header and claims -----------------------------------------------------------------------

SIGNERS = {
    "stranger": lambda data: es256(data, STRANGER),
    "hmac-with-kid": lambda data: hmac.new(KEY.kid.encode(), data, hashlib.sha256).digest(),
    "empty": lambda data: b"",
    "zero": lambda data: bytes(64),
}


@HEAVY
@given(
    head=mutated(header(), HEADER_NAMES),
    body=st.sampled_from(ALL_KINDS).flatmap(lambda kind: mutated(claims(kind), CLAIM_NAMES)),
    ascii_only=st.booleans(),
    signer=st.sampled_from(sorted(SIGNERS)),
)
def test_anything_signed_with_a_key_we_did_not_publish_is_never_accepted(
    head: list[tuple[str, Any]], body: list[tuple[str, Any]], ascii_only: bool, signer: str
) -> None:
    h, p = b64(serialize(head, ascii_only)), b64(serialize(body, ascii_only))
    expect_refusal(f"{h}.{p}.{b64(SIGNERS[signer](f'{h}.{p}'.encode()))}", kinds=ALL_KINDS)


@HEAVY
@given(
    head=st.lists(st.tuples(HEADER_NAMES, JSON), max_size=6), body=JSON, ascii_only=st.booleans()
)
def test_any_json_signed_with_a_stranger_key_is_never_accepted(
    head: list[tuple[str, Any]], body: Any, ascii_only: bool
) -> None:
    h = b64(serialize(head, ascii_only))
    p = b64(json.dumps(body, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass"))
    expect_refusal(f"{h}.{p}.{b64(es256(f'{h}.{p}'.encode(), STRANGER))}", kinds=ALL_KINDS)


@HEAVY
@given(
    head=mutated(header(), HEADER_NAMES),
    kind=st.sampled_from(ALL_KINDS),
    data=st.data(),
    ascii_only=st.booleans(),
    leeway=st.sampled_from([0, 10]),
    kinds=st.sampled_from([("access",), ("refresh",), ("private",), ALL_KINDS]),
)
def test_even_our_own_signature_admits_only_what_obeys_every_rule(
    head: list[tuple[str, Any]],
    kind: str,
    data: st.DataObject,
    ascii_only: bool,
    leeway: int,
    kinds: tuple[str, ...],
) -> None:
    """Our key signing nonsense (a bug elsewhere, or a stolen key) still gets no odd claims through."""
    body = data.draw(mutated(claims(kind), CLAIM_NAMES))
    h, p = b64(serialize(head, ascii_only)), b64(serialize(body, ascii_only))
    token = f"{h}.{p}.{b64(es256(f'{h}.{p}'.encode()))}"
    try:
        v = decode(token, kinds=kinds, leeway=leeway)
    except tokens.InvalidToken as exc:
        assert exc.reason in REASONS
        return
    assert len({n for n, _ in head}) == len(head) and len({n for n, _ in body}) == len(body)
    assert obeys_every_rule(v, kinds, leeway), (v.header, v.claims)


# -- any re-spelling of a valid token ------------------------------------------------------------


def _flip(segment: str, bit: int) -> str:
    """One bit of the decoded bytes flipped, re-encoded canonically (if it still decodes)."""
    try:
        raw = bytearray(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except binascii.Error:
        return segment
    if not raw:
        return segment
    raw[(bit // 8) % len(raw)] ^= 1 << (bit % 8)
    return b64(bytes(raw))


@st.composite
def respelled(draw: st.DrawFn) -> str:
    parts = GOOD.split(".")
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, 2))
        seg = parts[i]
        action = draw(
            st.sampled_from(
                [
                    "standard-alphabet",
                    "pad",
                    "flip",
                    "replace",
                    "insert",
                    "delete",
                    "swapcase",
                    "truncate",
                    "last-char",
                    "swap",
                ]
            )
        )
        pos = draw(st.integers(0, max(len(seg) - 1, 0)))
        ch = draw(st.sampled_from(B64URL + "=+/"))
        if action == "standard-alphabet":
            seg = seg.translate(str.maketrans("-_", "+/"))
        elif action == "pad":
            seg += "=" * draw(st.integers(1, 3))
        elif action == "flip":
            seg = _flip(seg, draw(st.integers(0, 8 * len(seg))))
        elif action == "replace":
            seg = seg[:pos] + ch + seg[pos + 1 :]
        elif action == "insert":
            seg = seg[:pos] + ch + seg[pos:]
        elif action == "delete":
            seg = seg[:pos] + seg[pos + 1 :]
        elif action == "swapcase":
            seg = seg[:pos] + seg[pos : pos + 1].swapcase() + seg[pos + 1 :]
        elif action == "truncate":
            seg = seg[:pos]
        elif action == "last-char":
            seg = seg[:-1] + ch
        else:
            j = draw(st.integers(0, 2))
            parts[i], parts[j] = parts[j], parts[i]
            continue
        parts[i] = seg
    return ".".join(parts)


@BOUNDED
@given(respelled())
def test_any_respelling_of_a_valid_token_is_refused_unless_identical(token: str) -> None:
    if token == GOOD:
        assert decode(token).claims == claims()
    else:
        expect_refusal(token)


def test_the_respelling_strategy_really_changes_tokens() -> None:
    """Guard against a vacuous property: most drawn tokens differ from the original."""
    seen: list[bool] = []

    @settings(max_examples=100, deadline=None, database=None)
    @given(respelled())
    def collect(token: str) -> None:
        seen.append(token != GOOD)

    collect()
    assert sum(seen) > len(seen) // 2


# -- what we sign round-trips --------------------------------------------------------------------

WORDS = st.text(CHARS, min_size=1, max_size=10).filter(lambda s: s.split() == [s])


@HEAVY
@given(
    kind=st.sampled_from(ALL_KINDS),
    alg=st.sampled_from(sorted(KEY_BY_ALG)),
    subject=st.text(CHARS, min_size=1, max_size=40),
    scopes=st.lists(WORDS, max_size=5),
    jti=st.text(CHARS, min_size=1, max_size=40),
    sid=st.text(CHARS, min_size=1, max_size=40),
    lifetime=st.integers(1, 10 * 365 * 86400),
)
def test_tokens_the_service_signed_round_trip(
    kind: str, alg: str, subject: str, scopes: list[str], jti: str, sid: str, lifetime: int
) -> None:
    key = KEY_BY_ALG[alg]
    token, body = tokens.encode(
        kind,
        subject=subject,
        scopes=scopes,
        key=key,
        issuer=ISS,
        audience=tokens.audience_for(kind, issuer=ISS, audience=AUD),
        now=T0,
        expires_at=T0 + timedelta(seconds=lifetime),
        jti=jti,
        session_id=sid if kind in tokens.SESSION_KINDS else None,
    )
    v = tokens.decode(
        token,
        kinds=(kind,),
        keys={key.kid: key},
        algorithm=alg,
        issuer=ISS,
        audience=AUD,
        now=T0,
        leeway=0,
    )
    assert v.claims == body and v.kind == kind and tokens.read_kind(token) == kind
    assert (v.sub, v.jti, v.scopes) == (subject, jti, scopes)
    assert v.sid == (sid if kind in tokens.SESSION_KINDS else None)


@HEAVY
@given(
    kind=st.sampled_from(ALL_KINDS),
    subject=st.text(CHARS, min_size=1, max_size=40),
    jti=st.text(CHARS, min_size=1, max_size=40),
)
def test_es256_signatures_are_low_s_and_their_high_s_twin_is_refused(
    kind: str, subject: str, jti: str
) -> None:
    """(r, s) and (r, n - s) both verify under ECDSA; only the low-S one is made or accepted."""
    token, _ = tokens.encode(
        kind,
        subject=subject,
        scopes=["read"],
        key=KEY,
        issuer=ISS,
        audience=AUD,
        now=T0,
        expires_at=T0 + timedelta(hours=1),
        jti=jti,
        session_id="s" if kind in tokens.SESSION_KINDS else None,
    )
    raw = base64.urlsafe_b64decode(token.split(".")[2] + "==")
    assert int.from_bytes(raw[32:], "big") <= tokens.P256_ORDER // 2
    twin = high_s(token)
    assert twin != token
    assert expect_refusal(twin, kinds=(kind,), leeway=0).reason == "signature"


# -- time is exact -------------------------------------------------------------------------------


@HEAVY
@given(
    exp=st.integers(-40, 40),
    iat=st.integers(-40, 40),
    nbf=st.none() | st.integers(-40, 40),
    leeway=st.integers(0, 20),
)
def test_time_checks_follow_the_rule_exactly(
    exp: int, iat: int, nbf: int | None, leeway: int
) -> None:
    body = claims(exp=NOW + exp, iat=NOW + iat)
    if nbf is not None:
        body["nbf"] = NOW + nbf
    assume(iat <= exp)
    token = f"{GOOD.split('.')[0]}.{b64(json.dumps(body).encode())}"
    token += "." + b64(es256(token.encode()))
    if exp + leeway <= 0:
        assert expect_refusal(token, leeway=leeway).reason == "expired"
    elif iat > leeway or (nbf is not None and nbf > leeway):
        assert expect_refusal(token, leeway=leeway).reason == "not_yet_valid"
    else:
        assert decode(token, leeway=leeway).claims == body
