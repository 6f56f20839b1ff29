"""Encoding and verifying authsvc's JWTs: pure functions, every input explicit.

No Flask here. Whoever calls passes the key, algorithm, issuer, audience, lifetime,
leeway and the current time, so the rules can be tested without an app and the same
code serves the server and `authsvc.verifier`.

Verification refuses, in this order: a token that is not three canonical base64url
segments or whose header is not one JSON object with unique names (`malformed`), an
algorithm other than the one configured, `alg: none` in any casing included
(`algorithm`), embedded or remote keys and missing, mistyped or unknown `kid`s
(`unknown_key`), `crit`/`b64` (`malformed`), a missing or bad signature, or an ES256
signature whose s is the high one of the pair (s > n/2, `signature`),
an unexpected `typ` (`wrong_type`), claims that are not one strict JSON object, a missing
or mistyped claim, a date outside years 1970-9999 or a foreign issuer/audience
(`malformed`), and then the time checks. Header and claims are parsed here (UTF-8, unique
names, no NaN), PyJWT only checks the signature, so this order holds for any input.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import jwt

KINDS: dict[str, str] = {
    "access": "at+jwt",
    "refresh": "authsvc-rt+jwt",
    "private": "authsvc-pat+jwt",
}
_KIND_BY_TYP = {typ: kind for kind, typ in KINDS.items()}
SESSION_KINDS = frozenset({"access", "refresh"})
REQUIRED_CLAIMS = ("iss", "aud", "sub", "iat", "exp", "jti", "scope")
_NONEMPTY_CLAIMS = ("iss", "sub", "jti")
_FORBIDDEN_KEY_HEADERS = frozenset({"jwk", "jku", "x5u", "x5c"})
_UNSUPPORTED_HEADERS = frozenset({"crit", "b64"})
_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_KID = re.compile(r"[A-Za-z0-9_-]{1,128}")
MAX_TOKEN_LENGTH = 8192
MAX_TIMESTAMP = 253402300799  # 9999-12-31T23:59:59Z, the last second a datetime holds
# The order of P-256. ECDSA's (r, s) and (r, n - s) both verify; only the low one (s <= n/2)
# is ever produced here and accepted, so one token has one signature.
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_P256_HALF = P256_ORDER // 2


ALGORITHMS = ("ES256", "EdDSA", "RS256", "HS256")
ALL_KINDS = frozenset(KINDS)
BEARER_KINDS = frozenset({"access", "private"})
ACCESS_ONLY = frozenset({"access"})


class InvalidToken(Exception):
    """A token that must not be accepted; `reason` is the contract's `extra.reason`."""

    reason: ClassVar[str] = "malformed"
    default_detail: ClassVar[str] = "The token is malformed or lacks a required claim."

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or self.default_detail
        super().__init__(self.detail)


class Malformed(InvalidToken):
    reason = "malformed"
    default_detail = "The token is malformed or lacks a required claim."


class BadSignature(InvalidToken):
    reason = "signature"
    default_detail = "The token's signature is invalid."


class BadAlgorithm(InvalidToken):
    reason = "algorithm"
    default_detail = "The token is signed with an algorithm that is not accepted."


class Expired(InvalidToken):
    reason = "expired"
    default_detail = "The token has expired."


class NotYetValid(InvalidToken):
    reason = "not_yet_valid"
    default_detail = "The token is not valid yet."


class WrongType(InvalidToken):
    reason = "wrong_type"
    default_detail = "This kind of token is not accepted here."


class UnknownKey(InvalidToken):
    reason = "unknown_key"
    default_detail = "The token is signed with a key this service does not publish."


class Revoked(InvalidToken):
    reason = "revoked"
    default_detail = "The token has been revoked."


class Reused(InvalidToken):
    reason = "reused"
    default_detail = "The refresh token was already used; its session has been revoked."


class InactiveUser(InvalidToken):
    reason = "inactive_user"
    default_detail = "The token's user is inactive."


@dataclass(frozen=True)
class Key:
    """One signing key: `signing` is None where only verification is possible."""

    kid: str
    alg: str
    verifying: Any
    signing: Any = None


@dataclass(frozen=True)
class Verified:
    kind: str
    claims: dict[str, Any]
    header: dict[str, Any]

    @property
    def jti(self) -> str:
        jti: str = self.claims["jti"]  # a non-empty string: `decode` checked it
        return jti

    @property
    def sub(self) -> str:
        sub: str = self.claims["sub"]  # a non-empty string: `decode` checked it
        return sub

    @property
    def sid(self) -> str | None:
        return self.claims.get("sid")

    @property
    def scopes(self) -> list[str]:
        scope: str = self.claims["scope"]  # a string: `decode` checked it
        return scope.split()


def audience_for(kind: str, *, issuer: str, audience: str) -> str:
    """`aud` of a token of `kind`: the issuer itself for refresh tokens, which only the
    issuer accepts (RFC 8725 section 3.12), so a verifier that checks `aud` but forgets
    `typ` still refuses a refresh token as a bearer token; `audience` for the others."""
    return issuer if kind == "refresh" else audience


def new_jti() -> str:
    return uuid.uuid4().hex


def encode(
    kind: str,
    *,
    subject: str,
    scopes: Collection[str],
    key: Key,
    issuer: str,
    audience: str,
    now: datetime,
    expires_at: datetime,
    jti: str | None = None,
    session_id: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> tuple[str, dict[str, Any]]:
    """Sign a token of `kind`; returns the compact JWT and the claims it carries.

    `extra` adds claims (`client_id`, RFC 9068); it cannot replace a registered one.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown token kind {kind!r}")
    if (kind in SESSION_KINDS) != (session_id is not None):
        raise ValueError("access and refresh tokens carry a session id; private ones do not")
    if key.signing is None:
        raise ValueError("this key can no longer sign")
    if not (isinstance(subject, str) and subject) or session_id == "":
        raise ValueError("subject and session id must be non-empty strings")
    if any(not isinstance(scope, str) or scope.split() != [scope] for scope in scopes):
        raise ValueError("each scope must be one non-empty word without whitespace")
    _require_aware(now, expires_at)
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
        "jti": jti or new_jti(),
        "scope": " ".join(scopes),
    }
    if session_id is not None:
        claims["sid"] = session_id
    if extra:
        if claims.keys() & extra.keys() or "sid" in extra:
            raise ValueError("extra claims cannot replace registered ones")
        claims.update(extra)
    token = jwt.encode(
        claims, key.signing, algorithm=key.alg, headers={"kid": key.kid, "typ": KINDS[kind]}
    )
    if key.alg == "ES256":
        token = low_s(token)
    return token, claims


def low_s(token: str) -> str:
    """An ES256 token with its signature's s replaced by n - s when s is the high one."""
    signing_input, _, signature = token.rpartition(".")
    raw = _b64decode(signature)
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    if s <= _P256_HALF:
        return token
    fixed = r.to_bytes(32, "big") + (P256_ORDER - s).to_bytes(32, "big")
    return f"{signing_input}.{base64.urlsafe_b64encode(fixed).rstrip(b'=').decode()}"


def is_low_s(signature: bytes) -> bool:
    """A raw ES256 signature (r || s, 32 bytes each) whose s is at most n/2 (and r, s in range)."""
    if len(signature) != 64:
        return False
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    return 0 < r < P256_ORDER and 0 < s <= _P256_HALF


def read_kind(token: str) -> str | None:
    """The kind a token claims to be, unverified: only for choosing what to verify."""
    try:
        typ = _parse_header(token).get("typ")
    except InvalidToken:
        return None
    return _KIND_BY_TYP.get(typ) if isinstance(typ, str) else None


def _require_aware(*moments: datetime) -> None:
    if any(moment.tzinfo is None or moment.utcoffset() is None for moment in moments):
        raise ValueError("token times must be aware datetimes")


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) != len(pairs):
        raise ValueError("duplicate member name")
    return members


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _b64decode(segment: str) -> bytes:
    """Strict base64url: one spelling per byte string, so a token has one form only."""
    raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    if base64.urlsafe_b64encode(raw).rstrip(b"=") != segment.encode("ascii"):
        raise ValueError("non-canonical base64url")
    return raw


def _parse_header(token: object) -> dict[str, Any]:
    """The JOSE header, read before anything is trusted; every segment canonical base64url."""
    return _split(token)[0]


def _split(token: object) -> tuple[dict[str, Any], bytes, bytes]:
    """Header, payload and signature of a compact JWS, each segment decoded once.

    PyJWT's decode would split and decode all three again; `decode` only needs its
    signature check, so the token is parsed here, once, by the strict rules above.
    """
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
        raise Malformed()
    if not token.isascii() or not _SHAPE.fullmatch(token):
        raise Malformed()
    head, payload, signature = token.split(".")
    try:
        raw_payload, raw_signature = _b64decode(payload), _b64decode(signature)
        raw = _b64decode(head)
    except (binascii.Error, ValueError) as exc:
        raise Malformed() from exc
    return _json_object(raw), raw_payload, raw_signature


# One decoder, built once: `json.loads` with hooks builds a new one per call.
_STRICT_JSON = json.JSONDecoder(
    object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant
)


def _json_object(raw: bytes) -> dict[str, Any]:
    """Strict JSON (RFC 8259 + RFC 7515/7519 uniqueness): UTF-8, one object, no NaN, no repeats."""
    try:
        value = _STRICT_JSON.decode(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise Malformed() from exc
    if not isinstance(value, dict):
        raise Malformed()
    return value


_JWS = jwt.PyJWS()


def _signature_valid(algorithm: str, key: Key, signing_input: bytes, signature: bytes) -> bool:
    """PyJWT's own signature check for `algorithm`, on the segments already decoded."""
    verifier = _JWS.get_algorithm_by_name(algorithm)
    try:
        prepared = verifier.prepare_key(key.verifying)
    except (jwt.InvalidKeyError, TypeError, ValueError) as exc:  # unusable for `algorithm`
        raise Malformed() from exc
    try:
        return bool(verifier.verify(signing_input, prepared, signature))
    except (ValueError, TypeError) as exc:  # a signature of the wrong length for the key
        raise BadSignature() from exc


def decode(
    token: object,
    *,
    kinds: Collection[str],
    keys: Callable[[str], Key | None] | Mapping[str, Key],
    algorithm: str,
    issuer: str,
    audience: str | Collection[str] | Callable[[str], bool],
    now: datetime,
    leeway: float = 10,
    refresh_audiences: Collection[str] = (),
) -> Verified:
    """Verify `token` as one of `kinds`, or raise the `InvalidToken` that says why.

    Access and private tokens must carry `aud` = `audience`, refresh tokens `aud` =
    `issuer` (`audience_for`) or one of `refresh_audiences` (the issuing service passes
    its old audience, so refresh tokens signed before the change still rotate once).
    """
    _require_aware(now)
    if not isinstance(token, str):
        raise Malformed()
    header, payload, signature = _split(token)

    alg = header.get("alg")
    if not isinstance(alg, str) or alg.lower() == "none" or alg != algorithm:
        raise BadAlgorithm()
    if _FORBIDDEN_KEY_HEADERS & header.keys():
        raise UnknownKey()
    if _UNSUPPORTED_HEADERS & header.keys():
        raise Malformed()
    kid = header.get("kid")
    if not isinstance(kid, str) or not _KID.fullmatch(kid):
        raise UnknownKey()
    key = keys.get(kid) if isinstance(keys, Mapping) else keys(kid)
    if key is None:
        raise UnknownKey()
    if key.alg != algorithm:
        raise BadAlgorithm()
    if not signature:
        raise BadSignature()
    if algorithm == "ES256" and not is_low_s(signature):
        raise BadSignature()  # (r, n - s) of a genuine (r, s): malleated, refused
    if not _signature_valid(algorithm, key, token.rpartition(".")[0].encode(), signature):
        raise BadSignature()
    claims = _json_object(payload)

    typ = header.get("typ")
    kind = _KIND_BY_TYP.get(typ) if isinstance(typ, str) else None
    if kind is None or kind not in kinds:
        raise WrongType()
    accepted: Audience = {issuer, *refresh_audiences} if kind == "refresh" else audience
    _check_claims(claims, kind, issuer=issuer, audience=accepted)
    _check_times(claims, now=now.timestamp(), leeway=leeway)
    return Verified(kind=kind, claims=claims, header=header)


def _is_timestamp(value: object) -> bool:
    """A NumericDate as this service writes it: whole seconds a datetime can hold."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TIMESTAMP


Audience = str | Collection[str] | Callable[[str], bool]


def _accepts(audience: Audience, aud: str) -> bool:
    """One audience, a set of them, or a predicate (the server's: default + registered ones)."""
    if isinstance(audience, str):
        return aud == audience
    if callable(audience):
        return bool(audience(aud))
    return aud in audience


def _check_claims(claims: dict[str, Any], kind: str, *, issuer: str, audience: Audience) -> None:
    required = REQUIRED_CLAIMS + (("sid",) if kind in SESSION_KINDS else ())
    if any(name not in claims for name in required):
        raise Malformed()
    if not isinstance(claims["scope"], str):
        raise Malformed()
    if not all(isinstance(claims[name], str) and claims[name] for name in _NONEMPTY_CLAIMS):
        raise Malformed()
    if kind in SESSION_KINDS and not (isinstance(claims["sid"], str) and claims["sid"]):
        raise Malformed()
    dates = ("iat", "exp", "nbf") if "nbf" in claims else ("iat", "exp")
    if not all(_is_timestamp(claims[name]) for name in dates):
        raise Malformed()
    if (
        claims["iss"] != issuer
        or not isinstance(claims["aud"], str)
        or not _accepts(audience, claims["aud"])
    ):
        raise Malformed()
    if "client_id" in claims and not (isinstance(claims["client_id"], str) and claims["client_id"]):
        raise Malformed()


def _check_times(claims: dict[str, Any], *, now: float, leeway: float) -> None:
    if now >= claims["exp"] + leeway:
        raise Expired()
    if claims["iat"] > now + leeway or claims.get("nbf", claims["iat"]) > now + leeway:
        raise NotYetValid()
