"""tokens.encode/decode without an app: every hostile row names the exact InvalidToken it raises."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import ECAlgorithm

from authsvc.core import keys, tokens
from tests.helpers import T0

ISS = "http://authsvc.test"
AUD = "authsvc"
NOW = int(T0.timestamp())
KEY = keys.load("ES256", keys.generate("ES256"))
STRANGER = keys.load("ES256", keys.generate("ES256"))  # same algorithm, never published
KEY_BY_ALG = {
    alg: KEY if alg == "ES256" else keys.load(alg, keys.generate(alg)) for alg in tokens.ALGORITHMS
}
DROP = object()

IT = tokens.InvalidToken
Malformed, BadSignature, BadAlgorithm = tokens.Malformed, tokens.BadSignature, tokens.BadAlgorithm
Expired, NotYetValid, WrongType, UnknownKey = (
    tokens.Expired,
    tokens.NotYetValid,
    tokens.WrongType,
    tokens.UnknownKey,
)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: Any) -> str:
    return b64(json.dumps(value).encode())


def _apply(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for name, value in changes.items():
        if value is DROP:
            out.pop(name, None)
        else:
            out[name] = value
    return out


def header(kind: str = "access", **changes: Any) -> dict[str, Any]:
    return _apply({"alg": "ES256", "typ": tokens.KINDS[kind], "kid": KEY.kid}, changes)


def claims(kind: str = "access", **changes: Any) -> dict[str, Any]:
    base = {
        "iss": ISS,
        "aud": AUD,
        "sub": "user-1",
        "iat": NOW,
        "exp": NOW + 3600,
        "jti": f"jti-{kind}",
        "scope": "read write",
    }
    if kind in tokens.SESSION_KINDS:
        base["sid"] = "session-1"
    return _apply(base, changes)


def es256(signing_input: bytes, key: tokens.Key = KEY) -> bytes:
    """An ES256 signature as the service makes it: low S (s <= n/2)."""
    raw = ECAlgorithm(ECAlgorithm.SHA256).sign(signing_input, key.signing)
    s = int.from_bytes(raw[32:], "big")
    return (
        raw
        if s <= tokens.P256_ORDER // 2
        else raw[:32] + (tokens.P256_ORDER - s).to_bytes(32, "big")
    )


def high_s(token: str) -> str:
    """The same token with its ES256 signature (r, s) rewritten to (r, n - s): it still verifies."""
    head, payload, sig = token.split(".")
    raw = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    s = int.from_bytes(raw[32:], "big")
    return f"{head}.{payload}.{b64(raw[:32] + (tokens.P256_ORDER - s).to_bytes(32, 'big'))}"


def forge(
    head: dict[str, Any] | str,
    body: dict[str, Any] | str,
    sign: Callable[[bytes], bytes] | None = es256,
) -> str:
    """A compact JWS built by hand, so that any header survives (PyJWT would fix some up)."""
    h = head if isinstance(head, str) else segment(head)
    p = body if isinstance(body, str) else segment(body)
    signature = b64(sign(f"{h}.{p}".encode())) if sign else ""
    return f"{h}.{p}.{signature}"


def decode(
    token: object,
    *,
    kinds: tuple[str, ...] = ("access",),
    leeway: float = 10,
    now: datetime = T0,
    keyset: Any = None,
    algorithm: str = "ES256",
) -> tokens.Verified:
    return tokens.decode(
        token,
        kinds=kinds,
        keys={KEY.kid: KEY} if keyset is None else keyset,
        algorithm=algorithm,
        issuer=ISS,
        audience=AUD,
        now=now,
        leeway=leeway,
    )


def reject(token: object, expected: type[tokens.InvalidToken], **kwargs: Any) -> None:
    with pytest.raises(IT) as info:
        decode(token, **kwargs)
    assert type(info.value) is expected, (type(info.value), info.value.__cause__)
    assert info.value.reason == expected.reason


GOOD = forge(header(), claims())
GOOD_H, GOOD_P, GOOD_S = GOOD.split(".")


def test_the_forged_baseline_is_accepted() -> None:
    """Every row below changes one thing of this token, so its rejection is that change's."""
    v = decode(GOOD)
    assert v.kind == "access" and v.claims == claims() and v.header == header()
    assert (v.sub, v.jti, v.sid, v.scopes) == (
        "user-1",
        "jti-access",
        "session-1",
        ["read", "write"],
    )


# -- algorithm tricks -------------------------------------------------------------------------


def _pub(encoding: serialization.Encoding) -> bytes:
    return KEY.verifying.public_bytes(encoding, serialization.PublicFormat.SubjectPublicKeyInfo)


def _hs256_with(secret: bytes) -> Callable[[bytes], bytes]:
    return lambda data: hmac.new(secret, data, hashlib.sha256).digest()


_PUBLIC_FORMS = {
    "pem": _pub(serialization.Encoding.PEM),
    "pem-stripped": _pub(serialization.Encoding.PEM).strip(),
    "der": _pub(serialization.Encoding.DER),
    "x962-point": KEY.verifying.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    ),
    "jwk-json": json.dumps(keys.published_jwk(KEY)).encode(),
    "kid": KEY.kid.encode(),
}

ALGORITHM_ROWS = [
    *[
        pytest.param(forge(header(alg=alg), claims(), sign=None), id=f"unsigned-{alg}")
        for alg in ("none", "None", "NONE", "nOnE")
    ],
    *[
        pytest.param(forge(header(alg=alg), claims()), id=f"es256-signed-{alg}")
        for alg in ("none", "None", "NONE", "nOnE")
    ],
    *[
        pytest.param(
            forge(header(alg=alg), claims(), sign=lambda _: b"\x00" * 64), id=f"junk-signed-{alg}"
        )
        for alg in ("none", "nOnE")
    ],
    *[
        pytest.param(
            forge(header(alg="HS256"), claims(), sign=_hs256_with(secret)),
            id=f"hs256-keyed-with-public-{name}",
        )
        for name, secret in _PUBLIC_FORMS.items()
    ],
    *[
        pytest.param(forge(header(alg=alg), claims()), id=f"header-says-{alg}")
        for alg in ("RS256", "ES384", "ES512", "EdDSA", "HS512", "PS256", "es256", "ES256 ", "")
    ],
    pytest.param(forge(header(alg=DROP), claims()), id="alg-missing"),
    pytest.param(forge(header(alg=None), claims()), id="alg-null"),
    pytest.param(forge(header(alg=["ES256"]), claims()), id="alg-list"),
    pytest.param(forge(header(alg={"name": "ES256"}), claims()), id="alg-object"),
    pytest.param(forge(header(alg=256), claims()), id="alg-number"),
]


@pytest.mark.parametrize("token", ALGORITHM_ROWS)
def test_algorithm_tricks(token: str) -> None:
    reject(token, BadAlgorithm)


@pytest.mark.parametrize("alg", ["none", "NONE", "HS256"])
def test_configuring_a_disallowed_algorithm_does_not_open_the_door(alg: str) -> None:
    """Even a caller that asks for `none` gets nothing unsigned through."""
    reject(forge(header(alg=alg), claims(), sign=None), BadAlgorithm, algorithm=alg.lower())


def test_a_published_key_of_another_algorithm_is_refused() -> None:
    eddsa = keys.load("EdDSA", keys.generate("EdDSA"))
    token = forge(header(kid=eddsa.kid), claims())
    reject(token, BadAlgorithm, keyset={eddsa.kid: eddsa, KEY.kid: KEY})


def test_a_key_whose_material_does_not_fit_its_algorithm_is_refused_not_a_crash() -> None:
    """A JWKS entry labelled ES256 holding an Ed25519 key: PyJWT cannot use it (`malformed`)."""
    eddsa = keys.load("EdDSA", keys.generate("EdDSA"))
    mislabelled = tokens.Key(kid=KEY.kid, alg="ES256", verifying=eddsa.verifying)
    reject(GOOD, tokens.Malformed, keyset={KEY.kid: mislabelled})


# -- header injection -------------------------------------------------------------------------

HEADER_ROWS = [
    pytest.param(header(jwk=keys.published_jwk(KEY)), UnknownKey, id="jwk-our-own-key"),
    pytest.param(header(jwk=keys.published_jwk(STRANGER)), UnknownKey, id="jwk-foreign"),
    pytest.param(header(jku="https://evil.example/jwks.json"), UnknownKey, id="jku"),
    pytest.param(header(x5u="https://evil.example/cert.pem"), UnknownKey, id="x5u"),
    pytest.param(
        header(x5c=["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]), UnknownKey, id="x5c"
    ),
    pytest.param(header(x5c=None), UnknownKey, id="x5c-null"),
    pytest.param(header(crit=["exp"]), Malformed, id="crit-exp"),
    pytest.param(header(crit=["b64"], b64=False), Malformed, id="crit-b64-false"),
    pytest.param(header(crit=[]), Malformed, id="crit-empty"),
    pytest.param(header(b64=False), Malformed, id="b64-false"),
    pytest.param(header(b64=True), Malformed, id="b64-true"),
    pytest.param(header(kid="../../etc/passwd"), UnknownKey, id="kid-path"),
    pytest.param(header(kid="/etc/passwd"), UnknownKey, id="kid-absolute-path"),
    pytest.param(header(kid="file:///dev/random"), UnknownKey, id="kid-url"),
    pytest.param(header(kid="' OR 1=1 --"), UnknownKey, id="kid-sql"),
    pytest.param(header(kid=f"{KEY.kid}' OR '1'='1"), UnknownKey, id="kid-sql-suffix"),
    pytest.param(header(kid="x" * 5000), UnknownKey, id="kid-5000-chars"),
    pytest.param(header(kid="x" * 129), UnknownKey, id="kid-129-chars"),
    pytest.param(header(kid=42), UnknownKey, id="kid-int"),
    pytest.param(header(kid=None), UnknownKey, id="kid-null"),
    pytest.param(header(kid=[KEY.kid]), UnknownKey, id="kid-list"),
    pytest.param(header(kid={"kid": KEY.kid}), UnknownKey, id="kid-object"),
    pytest.param(header(kid=True), UnknownKey, id="kid-bool"),
    pytest.param(header(kid=DROP), UnknownKey, id="kid-missing"),
    pytest.param(header(kid=""), UnknownKey, id="kid-empty"),
    pytest.param(header(kid=KEY.kid + "\x00"), UnknownKey, id="kid-nul"),
    pytest.param(header(kid="\ud800"), UnknownKey, id="kid-lone-surrogate"),
    pytest.param(header(kid=KEY.kid + "\n"), UnknownKey, id="kid-newline"),
    pytest.param(header(kid=KEY.kid.upper()), UnknownKey, id="kid-other-case"),
    pytest.param(header(kid=STRANGER.kid), UnknownKey, id="kid-foreign"),
]


@pytest.mark.parametrize(("head", "expected"), HEADER_ROWS)
def test_header_injection(head: dict[str, Any], expected: type[tokens.InvalidToken]) -> None:
    """Validly signed by our key: the header alone is what gets it refused."""
    reject(forge(head, claims()), expected)


@pytest.mark.parametrize(
    ("head", "expected"), [row for row in HEADER_ROWS if row.id and row.id.startswith("kid")]
)
def test_hostile_kids_never_reach_the_key_store(
    head: dict[str, Any], expected: type[tokens.InvalidToken]
) -> None:
    asked: list[object] = []

    def lookup(kid: str) -> tokens.Key | None:
        asked.append(kid)
        return {KEY.kid: KEY}.get(kid)

    reject(forge(head, claims()), expected, keyset=lookup)
    assert asked in ([], [STRANGER.kid], [KEY.kid.upper()])


def test_a_kid_longer_than_any_token_is_malformed_by_length() -> None:
    """A 10 KB kid makes the token longer than MAX_TOKEN_LENGTH, which is refused first."""
    token = forge(header(kid="k" * 10240), claims())
    assert len(token) > tokens.MAX_TOKEN_LENGTH
    reject(token, Malformed)


# -- typ ---------------------------------------------------------------------------------------

TYP_ROWS = [
    pytest.param("access", "access", ("refresh",), id="access-where-refresh"),
    pytest.param("refresh", "refresh", ("access",), id="refresh-where-access"),
    pytest.param("refresh", "refresh", ("access", "private"), id="refresh-where-bearer"),
    pytest.param("private", "private", ("access",), id="private-where-access"),
    pytest.param("private", "private", ("refresh",), id="private-where-refresh"),
    pytest.param("access", DROP, ("access",), id="typ-missing"),
    pytest.param("access", "JWT", ("access",), id="typ-JWT"),
    pytest.param("access", "jwt", ("access",), id="typ-jwt"),
    pytest.param("access", "AT+JWT", ("access",), id="typ-upper"),
    pytest.param("access", "application/at+jwt", ("access",), id="typ-media-type"),
    pytest.param("access", "at+jwt ", ("access",), id="typ-trailing-space"),
    pytest.param("access", None, ("access",), id="typ-null"),
    pytest.param("access", 1, ("access",), id="typ-number"),
    pytest.param("access", ["at+jwt"], ("access",), id="typ-list"),
]


@pytest.mark.parametrize(("body_kind", "typ", "kinds"), TYP_ROWS)
def test_wrong_type(body_kind: str, typ: Any, kinds: tuple[str, ...]) -> None:
    head = header(body_kind) if isinstance(typ, str) and typ in tokens.KINDS else header(typ=typ)
    reject(forge(head, claims(body_kind)), WrongType, kinds=kinds)


# -- claims ------------------------------------------------------------------------------------

MISSING_ROWS = [
    pytest.param(kind, name, id=f"{kind}-without-{name}")
    for kind in tokens.KINDS
    for name in tokens.REQUIRED_CLAIMS + (("sid",) if kind in tokens.SESSION_KINDS else ())
]


@pytest.mark.parametrize(("kind", "name"), MISSING_ROWS)
def test_each_required_claim_missing(kind: str, name: str) -> None:
    reject(forge(header(kind), claims(kind, **{name: DROP})), Malformed, kinds=(kind,))


CLAIM_ROWS = [
    ("exp", str(NOW + 3600)),
    ("exp", float(NOW + 3600)),
    ("exp", NOW + 3600.5),
    ("exp", True),
    ("exp", 10**30),
    ("exp", -1),
    ("exp", -(10**30)),
    ("exp", None),
    ("exp", [NOW + 3600]),
    ("exp", tokens.MAX_TIMESTAMP + 1),
    ("iat", str(NOW)),
    ("iat", float(NOW)),
    ("iat", False),
    ("iat", 10**30),
    ("iat", -1),
    ("iat", None),
    ("nbf", str(NOW)),
    ("nbf", float(NOW)),
    ("nbf", True),
    ("nbf", 10**30),
    ("nbf", -5),
    ("nbf", None),
    ("sub", 42),
    ("sub", ""),
    ("sub", None),
    ("sub", ["user-1"]),
    ("sub", {"id": "user-1"}),
    ("jti", 7),
    ("jti", ""),
    ("jti", None),
    ("scope", ["read", "write"]),
    ("scope", None),
    ("scope", 5),
    ("scope", {"read": True}),
    ("sid", 5),
    ("sid", ""),
    ("sid", None),
    ("sid", ["session-1"]),
    ("iss", "http://evil.test"),
    ("iss", ISS + "/"),
    ("iss", ISS.upper()),
    ("iss", [ISS]),
    ("iss", None),
    ("iss", ""),
    ("aud", "someone-else"),
    ("aud", AUD.upper()),
    ("aud", [AUD]),
    ("aud", [AUD, "other"]),
    ("aud", ["other"]),
    ("aud", []),
    ("aud", None),
    ("aud", ""),
    ("aud", {"aud": AUD}),
]


@pytest.mark.parametrize(
    ("name", "value"), [pytest.param(n, v, id=f"{n}={v!r:.40}") for n, v in CLAIM_ROWS]
)
def test_claims_of_the_wrong_type_or_from_elsewhere(name: str, value: Any) -> None:
    reject(forge(header(), claims(**{name: value})), Malformed)


def test_extra_claims_are_carried_but_do_not_matter() -> None:
    v = decode(forge(header(), claims(role="admin", nbf=NOW)))
    assert v.claims["role"] == "admin"


# -- time --------------------------------------------------------------------------------------

TIME_ROWS = [
    # leeway, exp - now, iat - now, nbf - now (None: absent), expected (None: accepted)
    pytest.param(0, 0, -60, None, Expired, id="l0-exp-equals-now"),
    pytest.param(0, 1, -60, None, None, id="l0-exp-one-second-ahead"),
    pytest.param(0, -1, -60, None, Expired, id="l0-exp-one-second-ago"),
    pytest.param(10, 0, -60, None, None, id="l10-exp-equals-now-within-leeway"),
    pytest.param(10, -9, -60, None, None, id="l10-exp-9s-ago"),
    pytest.param(10, -10, -60, None, Expired, id="l10-exp-plus-leeway-equals-now"),
    pytest.param(10, -11, -60, None, Expired, id="l10-exp-11s-ago"),
    pytest.param(0, 3600, 0, None, None, id="l0-iat-now"),
    pytest.param(0, 3600, 1, None, NotYetValid, id="l0-iat-1s-ahead"),
    pytest.param(10, 3600, 10, None, None, id="l10-iat-10s-ahead"),
    pytest.param(10, 3600, 11, None, NotYetValid, id="l10-iat-11s-ahead"),
    pytest.param(10, 3600, 3000, None, NotYetValid, id="l10-iat-far-ahead"),
    pytest.param(0, 3600, -60, 0, None, id="l0-nbf-now"),
    pytest.param(0, 3600, -60, 1, NotYetValid, id="l0-nbf-1s-ahead"),
    pytest.param(10, 3600, -60, 10, None, id="l10-nbf-10s-ahead"),
    pytest.param(10, 3600, -60, 11, NotYetValid, id="l10-nbf-11s-ahead"),
    pytest.param(10, -3600, 60, 60, Expired, id="expired-and-future-says-expired"),
    pytest.param(0, 3600, -60, -3600, None, id="nbf-in-the-past"),
]


@pytest.mark.parametrize(("leeway", "exp", "iat", "nbf", "expected"), TIME_ROWS)
def test_time_edges(
    leeway: int, exp: int, iat: int, nbf: int | None, expected: type[tokens.InvalidToken] | None
) -> None:
    body = claims(exp=NOW + exp, iat=NOW + iat, nbf=DROP if nbf is None else NOW + nbf)
    token = forge(header(), body)
    if expected is None:
        assert decode(token, leeway=leeway).claims == body
    else:
        reject(token, expected, leeway=leeway)


@pytest.mark.parametrize(("exp", "expected"), [(0, Expired), (1, None)])
def test_sub_second_now_with_no_leeway(
    exp: int, expected: type[tokens.InvalidToken] | None
) -> None:
    """Half a second past `exp` is past it; `exp` is a whole second, `now` need not be."""
    token = forge(header(), claims(exp=NOW + exp, iat=NOW - 60))
    now = T0 + timedelta(milliseconds=500)
    if expected is None:
        decode(token, leeway=0, now=now)
    else:
        reject(token, expected, leeway=0, now=now)


def test_a_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        decode(GOOD, now=T0.replace(tzinfo=None))


# -- shape -------------------------------------------------------------------------------------


def _non_canonical(seg: str) -> str:
    """The same bytes spelled differently: unused low bits of the last character set."""
    raw = base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for ch in alphabet:
        other = seg[:-1] + ch
        if other != seg and base64.urlsafe_b64decode(other + "=" * (-len(other) % 4)) == raw:
            return other
    raise AssertionError("segment has no spare bits")


def _padded(value: dict[str, Any]) -> dict[str, Any]:
    """`value` with a filler member so that its base64url has spare bits to abuse."""
    for n in range(3):
        candidate = {**value, "pad": "p" * n}
        if len(json.dumps(candidate)) % 3:
            return candidate
    raise AssertionError("unreachable")


def _signed_non_canonical(which: int) -> str:
    """Validly signed over the odd spelling: only the spelling is wrong."""
    parts = [segment(_padded(header())), segment(_padded(claims()))]
    parts[which] = _non_canonical(parts[which])
    return forge(parts[0], parts[1])


def _resigned_header(raw: bytes) -> str:
    return forge(b64(raw), GOOD_P)


SHAPE_ROWS = [
    pytest.param(GOOD + "=", id="padding-at-end"),
    pytest.param(f"{GOOD_H}=.{GOOD_P}.{GOOD_S}", id="padding-header"),
    pytest.param(f"{GOOD_H}.{GOOD_P}==.{GOOD_S}", id="padding-payload"),
    pytest.param(f"{GOOD_H}.{GOOD_P}.{GOOD_S}==", id="padding-signature"),
    pytest.param(" " + GOOD, id="leading-space"),
    pytest.param(GOOD + " ", id="trailing-space"),
    pytest.param(GOOD + "\n", id="trailing-newline"),
    pytest.param(GOOD + "\r\n", id="trailing-crlf"),
    pytest.param(f"{GOOD_H}.\t{GOOD_P}.{GOOD_S}", id="tab-inside"),
    pytest.param(f"Bearer {GOOD}", id="scheme-included"),
    pytest.param(GOOD + ".x", id="four-segments"),
    pytest.param(GOOD + ".", id="four-segments-last-empty"),
    pytest.param(f"{GOOD_H}.{GOOD_P}", id="two-segments"),
    pytest.param(GOOD_H, id="one-segment"),
    pytest.param(f".{GOOD_P}.{GOOD_S}", id="empty-header"),
    pytest.param(f"{GOOD_H}..{GOOD_S}", id="empty-payload"),
    pytest.param("..", id="all-empty"),
    pytest.param(".", id="dot"),
    pytest.param("", id="empty"),
    pytest.param(GOOD.replace(".", "..", 1), id="double-dot"),
    pytest.param(GOOD[:10] + "ä" + GOOD[11:], id="non-ascii"),
    pytest.param(GOOD[:10] + "\uff21" + GOOD[11:], id="fullwidth-letter"),
    pytest.param(GOOD[:10] + "\ud800" + GOOD[11:], id="lone-surrogate"),
    pytest.param(GOOD + "\ud800", id="trailing-surrogate"),
    pytest.param(GOOD[:10] + "\x00" + GOOD[11:], id="nul-inside"),
    pytest.param(GOOD + "\x00", id="nul-at-end"),
    pytest.param(GOOD[:10] + "+" + GOOD[11:], id="standard-alphabet-plus"),
    pytest.param(GOOD[:10] + "/" + GOOD[11:], id="standard-alphabet-slash"),
    pytest.param("A" * 100_000 + "." + GOOD_P + "." + GOOD_S, id="100kb-header"),
    pytest.param(GOOD_H + "." + "A" * 100_000 + "." + GOOD_S, id="100kb-payload"),
    pytest.param("a.b.c" * 20_000, id="100kb-junk"),
    pytest.param(_signed_non_canonical(0), id="non-canonical-header-validly-signed"),
    pytest.param(_signed_non_canonical(1), id="non-canonical-payload-validly-signed"),
    pytest.param(f"{GOOD_H}.{GOOD_P}.{_non_canonical(GOOD_S)}", id="non-canonical-signature"),
    pytest.param(f"{GOOD_H[:-1]}.{GOOD_P}.{GOOD_S}", id="header-one-char-short"),
    pytest.param("x" + GOOD[1:] if GOOD[0] != "x" else "y" + GOOD[1:], id="header-first-char"),
    pytest.param(_resigned_header(b"[1, 2]"), id="header-json-array"),
    pytest.param(_resigned_header(b"null"), id="header-json-null"),
    pytest.param(_resigned_header(b'"ES256"'), id="header-json-string"),
    pytest.param(_resigned_header(b"{"), id="header-json-broken"),
    pytest.param(_resigned_header(b'{"alg": NaN}'), id="header-nan"),
    pytest.param(_resigned_header(b'{"alg": "ES256", "kid": Infinity}'), id="header-infinity"),
    pytest.param(
        _resigned_header(b"\xff\xfe" + json.dumps(header()).encode("utf-16-le")), id="header-utf16"
    ),
    pytest.param(_resigned_header(json.dumps(header()).encode("utf-32")), id="header-utf32"),
    pytest.param(
        _resigned_header(b"\xef\xbb\xbf" + json.dumps(header()).encode()), id="header-bom"
    ),
    pytest.param(_resigned_header(b'{"alg": "ES256", "kid": "\xc3"}'), id="header-bad-utf8"),
    pytest.param(
        _resigned_header(
            f'{{"alg": "none", "alg": "ES256", "typ": "at+jwt", "kid": "{KEY.kid}"}}'.encode()
        ),
        id="header-duplicate-alg",
    ),
    pytest.param(
        _resigned_header(
            f'{{"alg": "ES256", "typ": "at+jwt", "kid": "{KEY.kid}", "kid": "{KEY.kid}"}}'.encode()
        ),
        id="header-duplicate-kid-same-value",
    ),
    pytest.param(
        _resigned_header(b'{"alg": "ES256", "x": ' + b"[" * 1500 + b"]" * 1500 + b"}"),
        id="header-nested-1500-deep",
    ),
    pytest.param(forge(header(), "bm90IGpzb24"), id="payload-not-json"),
    pytest.param(forge(header(), segment([1, 2])), id="payload-array"),
    pytest.param(forge(header(), segment("claims")), id="payload-string"),
    pytest.param(forge(header(), b64(b"\xff\xfe{}")), id="payload-not-utf8"),
    pytest.param(
        forge(header(), b64(b'{"exp": ' + b"9" * 5000 + b"}")), id="payload-5000-digit-int"
    ),
    pytest.param(
        forge(header(), b64(b'{"a": ' + b"[" * 2000 + b"]" * 2000 + b"}")),
        id="payload-nested-2000-deep",
    ),
    pytest.param(
        forge(
            header(),
            b64(json.dumps(claims()).replace('"sub"', '"sub": "admin", "sub"', 1).encode()),
        ),
        id="payload-duplicate-claim-validly-signed",
    ),
    pytest.param(
        forge(header(), b64(json.dumps(claims()).replace(f"{NOW + 3600}", "NaN").encode())),
        id="payload-nan-validly-signed",
    ),
    pytest.param(
        forge(
            header(),
            b64(
                json.dumps(claims(), ensure_ascii=False)
                .replace("user-1", "\ud800")
                .encode("utf-8", "surrogatepass")
            ),
        ),
        id="payload-raw-surrogate-validly-signed",
    ),
    pytest.param(None, id="none"),
    pytest.param(GOOD.encode(), id="bytes"),
    pytest.param(12345, id="int"),
    pytest.param([GOOD], id="list"),
    pytest.param({"token": GOOD}, id="dict"),
]


@pytest.mark.parametrize("token", SHAPE_ROWS)
def test_malformed(token: object) -> None:
    reject(token, Malformed)


# -- signatures --------------------------------------------------------------------------------

SIGNATURE_ROWS = [
    pytest.param(
        forge(header(), claims(), sign=lambda d: es256(d, STRANGER)), id="our-kid-their-key"
    ),
    pytest.param(f"{GOOD_H}.{segment(claims(sub='admin'))}.{GOOD_S}", id="payload-swapped"),
    pytest.param(
        f"{GOOD_H}.{GOOD_P}.{forge(header(), claims(jti='other')).split('.')[2]}",
        id="signature-of-another-token",
    ),
    pytest.param(
        f"{GOOD_H}.{GOOD_P}.{b64(base64.urlsafe_b64decode(GOOD_S + '==')[:-1])}",
        id="signature-truncated",
    ),
    pytest.param(
        f"{GOOD_H}.{GOOD_P}.{b64(base64.urlsafe_b64decode(GOOD_S + '==') + b'0')}",
        id="signature-extended",
    ),
    pytest.param(f"{GOOD_H}.{GOOD_P}.{GOOD_S * 80}", id="signature-repeated-80-times"),
    pytest.param(f"{GOOD_H}.{GOOD_P}.{b64(bytes(64))}", id="signature-zero"),
    pytest.param(f"{GOOD_H}.{GOOD_P}.{b64(b'x')}", id="signature-one-byte"),
    pytest.param(f"{GOOD_H}.{GOOD_P}.", id="signature-empty"),
    pytest.param(
        forge(header(), claims(), sign=lambda d: hmac.new(b"k" * 32, d, hashlib.sha256).digest()),
        id="hmac-in-an-es256-token",
    ),
]


@pytest.mark.parametrize("token", SIGNATURE_ROWS)
def test_bad_signature(token: str) -> None:
    reject(token, BadSignature)


# -- encode and the happy paths ----------------------------------------------------------------


def _encode(kind: str, key: tokens.Key = KEY, **overrides: Any) -> tuple[str, dict[str, Any]]:
    args: dict[str, Any] = {
        "subject": "user-1",
        "scopes": ["read", "write"],
        "key": key,
        "issuer": ISS,
        "audience": tokens.audience_for(kind, issuer=ISS, audience=AUD),
        "now": T0,
        "expires_at": T0 + timedelta(hours=1),
        "session_id": "session-1" if kind in tokens.SESSION_KINDS else None,
    }
    args.update(overrides)
    return tokens.encode(kind, **args)


@pytest.mark.parametrize("alg", tokens.ALGORITHMS)
@pytest.mark.parametrize("kind", list(tokens.KINDS))
def test_round_trip_for_every_kind_and_algorithm(alg: str, kind: str) -> None:
    key = KEY_BY_ALG[alg]
    token, body = _encode(kind, key, jti="fixed-jti")
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
    assert v.kind == kind and v.claims == body and tokens.read_kind(token) == kind
    assert v.header == {"alg": alg, "typ": tokens.KINDS[kind], "kid": key.kid}
    assert body == {
        "iss": ISS,
        "aud": ISS if kind == "refresh" else AUD,
        "sub": "user-1",
        "iat": NOW,
        "exp": NOW + 3600,
        "jti": "fixed-jti",
        "scope": "read write",
        **({"sid": "session-1"} if kind in tokens.SESSION_KINDS else {}),
    }


def test_a_token_is_accepted_only_as_its_own_kind() -> None:
    for kind in tokens.KINDS:
        token, _ = _encode(kind)
        assert decode(token, kinds=tuple(tokens.KINDS)).kind == kind
        for other in set(tokens.KINDS) - {kind}:
            reject(token, WrongType, kinds=(other,))


def test_refresh_tokens_carry_the_issuer_as_aud_so_aud_alone_refuses_them() -> None:
    refresh, claims = _encode("refresh")
    assert claims["aud"] == ISS
    # a resource server that checks aud but forgets typ: a plain PyJWT decode
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(
            refresh,
            KEY.verifying,
            algorithms=["ES256"],
            audience=AUD,
            options={"verify_exp": False},
        )
    access, _ = _encode("access")
    assert (
        jwt.decode(
            access, KEY.verifying, algorithms=["ES256"], audience=AUD, options={"verify_exp": False}
        )["aud"]
        == AUD
    )
    # an access token with the issuer as aud is foreign; so is a refresh token with AUD,
    # unless the issuing service still accepts its pre-change refresh tokens
    reject(_encode("access", audience=ISS)[0], Malformed)
    legacy, _ = _encode("refresh", audience=AUD)
    reject(legacy, Malformed, kinds=("refresh",))
    assert (
        tokens.decode(
            legacy,
            kinds=("refresh",),
            keys={KEY.kid: KEY},
            algorithm="ES256",
            issuer=ISS,
            audience=AUD,
            now=T0,
            refresh_audiences=(AUD,),
        ).kind
        == "refresh"
    )
    # the legacy allowance is for refresh tokens only
    reject(_encode("access", audience="other")[0], Malformed)


def test_each_kind_has_its_own_typ_and_access_is_rfc9068() -> None:
    assert tokens.KINDS["access"] == "at+jwt"
    assert len(set(tokens.KINDS.values())) == len(tokens.KINDS)


def test_fresh_jtis_are_unique() -> None:
    assert len({_encode("access")[1]["jti"] for _ in range(200)}) == 200


def test_hs256_with_another_secret_is_a_bad_signature() -> None:
    mine = keys.load("HS256", keys.generate("HS256"))
    theirs = tokens.Key(kid=mine.kid, alg="HS256", verifying=b"t" * 32, signing=b"t" * 32)
    token, _ = _encode("access", theirs)
    reject(token, BadSignature, keyset={mine.kid: mine}, algorithm="HS256")


def test_a_verify_only_key_verifies_but_cannot_sign() -> None:
    public = tokens.Key(kid=KEY.kid, alg="ES256", verifying=KEY.verifying)
    assert decode(GOOD, keyset={KEY.kid: public}).kind == "access"
    with pytest.raises(ValueError):
        _encode("access", public)


ENCODE_REFUSALS = [
    pytest.param("session", {}, id="unknown-kind"),
    pytest.param("access", {"session_id": None}, id="access-without-session"),
    pytest.param("private", {"session_id": "s"}, id="private-with-session"),
    pytest.param("access", {"session_id": ""}, id="empty-session"),
    pytest.param("access", {"subject": ""}, id="empty-subject"),
    pytest.param("access", {"subject": 42}, id="int-subject"),
    pytest.param("access", {"scopes": ["read write"]}, id="scope-with-space"),
    pytest.param("access", {"scopes": ["read\u2028admin"]}, id="scope-with-unicode-separator"),
    pytest.param("access", {"scopes": [""]}, id="empty-scope"),
    pytest.param("access", {"now": T0.replace(tzinfo=None)}, id="naive-now"),
    pytest.param(
        "access", {"expires_at": (T0 + timedelta(hours=1)).replace(tzinfo=None)}, id="naive-expiry"
    ),
]


@pytest.mark.parametrize(("kind", "overrides"), ENCODE_REFUSALS)
def test_encode_refuses_what_decode_would_misread(kind: str, overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        _encode(kind, **overrides)


def test_encode_writes_times_in_utc_whatever_the_zone() -> None:
    elsewhere = T0.astimezone(timezone(timedelta(hours=-7)))
    _, body = _encode("access", now=elsewhere, expires_at=elsewhere + timedelta(minutes=5))
    assert (body["iat"], body["exp"]) == (NOW, NOW + 300)


@pytest.mark.parametrize(
    "token",
    [
        None,
        "",
        "x",
        "a.b.c",
        GOOD + "=",
        42,
        "\ud800.a.b",
        forge(header(typ="JWT"), claims()),
        forge(header(typ=None), claims()),
    ],
)
def test_read_kind_answers_none_for_anything_unreadable(token: Any) -> None:
    assert tokens.read_kind(token) is None


def test_every_invalid_token_reason_is_in_the_contract() -> None:
    reasons = {cls.reason for cls in tokens.InvalidToken.__subclasses__()}
    assert reasons == {
        "malformed",
        "signature",
        "algorithm",
        "expired",
        "not_yet_valid",
        "revoked",
        "reused",
        "wrong_type",
        "inactive_user",
        "unknown_key",
    }
