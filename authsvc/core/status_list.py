"""IETF Token Status Lists (draft-ietf-oauth-status-list): encoding, signing, verifying.

Pure functions shared by the server (which signs lists) and `authsvc.verifier` (which reads
them). A list holds `bits` = 2 per token: 0 valid, 1 invalid (revoked), 2 suspended (its
user is deactivated). Index 0 is the least significant two bits of the first byte, as the
draft's section 4.1 says; the byte array is compressed with ZLIB (RFC 1950) and then
base64url-encoded without padding.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

import jwt

from authsvc.core import tokens

TYP = "statuslist+jwt"
MEDIA_TYPE = "application/statuslist+jwt"
BITS = 2
LIST_SIZE = 1 << 20  # indices per list: a list is 256 KiB before compression
VALID, INVALID, SUSPENDED = 0, 1, 2
_MAX_INFLATED = LIST_SIZE * BITS // 8 * 4  # a verifier refuses a list that inflates beyond this


def locate(index: int) -> tuple[int, int]:
    """(list id, index within that list) of a global index."""
    if index < 0:
        raise ValueError("status indices are non-negative")
    return divmod(index, LIST_SIZE)


def pack(statuses: Mapping[int, int], size: int = LIST_SIZE, bits: int = BITS) -> bytes:
    """The raw byte array of a list of `size` entries, every index not in `statuses` 0."""
    if bits not in (1, 2, 4, 8):
        raise ValueError("bits is 1, 2, 4 or 8")
    per_byte = 8 // bits
    raw = bytearray(-(-size // per_byte))
    for idx, status in statuses.items():
        if not 0 <= idx < size or not 0 <= status < (1 << bits):
            raise ValueError(f"status {status} at {idx} does not fit")
        raw[idx // per_byte] |= status << ((idx % per_byte) * bits)
    return bytes(raw)


def status_at(raw: bytes, idx: int, bits: int = BITS) -> int:
    """The status of `idx` in a raw (inflated) list; an index past its end is an error."""
    per_byte = 8 // bits
    byte = idx // per_byte
    if idx < 0 or byte >= len(raw):
        raise IndexError("index outside the status list")
    return (raw[byte] >> ((idx % per_byte) * bits)) & ((1 << bits) - 1)


def encode_lst(raw: bytes) -> str:
    """ZLIB with the run-length strategy: a list is long runs of zeros, and Z_RLE gets
    within ~10 % of level 9's size at about 1/100 of its time (bench/status_lists.py)."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    packed = deflater.compress(raw) + deflater.flush()
    return base64.urlsafe_b64encode(packed).rstrip(b"=").decode("ascii")


def decode_lst(lst: str, limit: int = _MAX_INFLATED) -> bytes:
    """Inflate `lst`, refusing more than `limit` bytes (a zip bomb costs nothing to send)."""
    try:
        packed = base64.b64decode(lst + "=" * (-len(lst) % 4), altchars=b"-_", validate=True)
        inflater = zlib.decompressobj()
        raw = inflater.decompress(packed, limit + 1)
    except (binascii.Error, ValueError, zlib.error) as exc:
        raise ValueError("lst is not base64url(ZLIB(...))") from exc
    if len(raw) > limit or inflater.unconsumed_tail:
        raise ValueError("the status list inflates beyond its limit")
    if not inflater.eof or inflater.unused_data:
        raise ValueError("lst is not one complete ZLIB stream")
    return raw


def etag(statuses: Iterable[tuple[int, int]]) -> str:
    """A weak validator of a list's statuses (not of its JWT, whose iat/exp move)."""
    digest = hashlib.sha256()
    for idx, status in sorted(statuses):
        digest.update(f"{idx}:{status};".encode())
    return f'W/"{digest.hexdigest()[:32]}"'


def sign(*, uri: str, raw: bytes, key: tokens.Key, now: datetime, ttl: int, lifetime: int) -> str:
    """The Status List Token: typ statuslist+jwt, sub = its uri, signed like every token."""
    return sign_lst(uri=uri, lst=encode_lst(raw), key=key, now=now, ttl=ttl, lifetime=lifetime)


def sign_lst(*, uri: str, lst: str, key: tokens.Key, now: datetime, ttl: int, lifetime: int) -> str:
    """As `sign`, from an already encoded `lst`: re-signing a cached list skips compression."""
    if key.signing is None:
        raise ValueError("this key can no longer sign")
    iat = int(now.timestamp())
    payload = {
        "sub": uri,
        "iat": iat,
        "exp": iat + lifetime,
        "ttl": ttl,
        "status_list": {"bits": BITS, "lst": lst},
    }
    token = jwt.encode(
        payload, key.signing, algorithm=key.alg, headers={"kid": key.kid, "typ": TYP}
    )
    return tokens.low_s(token) if key.alg == "ES256" else token


def verify(
    token: str,
    *,
    uri: str,
    keys: Callable[[str], tokens.Key | None],
    algorithm: str,
    now: datetime,
    leeway: float = 10,
) -> tuple[dict[str, Any], bytes]:
    """Check a Status List Token's header (alg, kid, typ), signature, sub and exp; return its
    payload and the inflated list. Raises `ValueError` (or `tokens.InvalidToken`) otherwise."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise ValueError("not a JWT") from exc
    if header.get("typ") != TYP:
        raise ValueError("not a statuslist+jwt")
    if header.get("alg") != algorithm or {"jwk", "jku", "x5u", "x5c", "crit"} & header.keys():
        raise ValueError("unexpected algorithm or key header")
    kid = header.get("kid")
    key = keys(kid) if isinstance(kid, str) else None
    if key is None:
        raise ValueError("unknown key")
    try:
        payload = jwt.decode(
            token,
            key.verifying,
            algorithms=[algorithm],
            options={"require": ["sub", "iat", "exp"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.PyJWTError as exc:
        raise ValueError("bad signature or claims") from exc
    if payload.get("sub") != uri:
        raise ValueError("the list is not the one asked for")
    exp = payload.get("exp")
    if not isinstance(exp, int) or now.timestamp() >= exp + leeway:
        raise ValueError("the status list has expired")
    body = payload.get("status_list")
    if (
        not isinstance(body, dict)
        or body.get("bits") != BITS
        or not isinstance(body.get("lst"), str)
    ):
        raise ValueError("status_list is not {bits: 2, lst}")
    return payload, decode_lst(body["lst"])
