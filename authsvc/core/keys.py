"""Signing-key material: generation, serialisation, JWK export and RFC 7638 `kid`s.

Pure functions; where keys are stored and encrypted is `services/keystore.py`'s job.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from authsvc.core.tokens import Key

SYMMETRIC = frozenset({"HS256"})
_THUMBPRINT_MEMBERS = {
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
    "RSA": ("e", "kty", "n"),
}
PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
_JWK_EXPORT: dict[str, type[ECAlgorithm] | type[OKPAlgorithm] | type[RSAAlgorithm]] = {
    "ES256": ECAlgorithm,
    "EdDSA": OKPAlgorithm,
    "RS256": RSAAlgorithm,
}
_PRIVATE_TYPES: dict[str, type[PrivateKey]] = {
    "ES256": ec.EllipticCurvePrivateKey,
    "EdDSA": ed25519.Ed25519PrivateKey,
    "RS256": rsa.RSAPrivateKey,
}


def generate(alg: str) -> bytes:
    """A new private key (PKCS#8 DER), or a 256-bit secret for HS256."""
    if alg == "HS256":
        return secrets.token_bytes(32)
    if alg == "ES256":
        private: PrivateKey = ec.generate_private_key(ec.SECP256R1())
    elif alg == "EdDSA":
        private = ed25519.Ed25519PrivateKey.generate()
    elif alg == "RS256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        raise ValueError(f"unsupported signing algorithm {alg!r}")
    return private.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load(alg: str, material: bytes) -> Key:
    """A `tokens.Key` (kid computed) from stored material, refused unless it is an `alg` key."""
    if alg in SYMMETRIC:
        if not 32 <= len(material) <= 64:
            raise ValueError("an HS256 secret is 32 to 64 bytes")
        return Key(kid=symmetric_kid(material), alg=alg, verifying=material, signing=material)
    if alg not in _PRIVATE_TYPES:
        raise ValueError(f"unsupported signing algorithm {alg!r}")
    private = serialization.load_der_private_key(material, password=None)
    if not isinstance(private, _PRIVATE_TYPES[alg]) or not _fits(alg, private):
        raise ValueError(f"the stored key is not an {alg} key")
    public = private.public_key()
    return Key(kid=thumbprint(public_jwk(alg, public)), alg=alg, verifying=public, signing=private)


def public_jwk(alg: str, public: Any) -> dict[str, Any]:
    return _JWK_EXPORT[alg].to_jwk(public, as_dict=True)


def published_jwk(key: Key) -> dict[str, Any]:
    """The JWKS entry of a key (RFC 7517), with `kid`, `alg` and `use`; never a secret one."""
    if key.alg not in _JWK_EXPORT:
        raise ValueError(f"{key.alg} keys are never published")
    jwk = {
        name: value
        for name, value in public_jwk(key.alg, key.verifying).items()
        if name in _THUMBPRINT_MEMBERS[_kty(key.alg)]
    }
    return {**jwk, "kid": key.kid, "alg": key.alg, "use": "sig"}


def thumbprint(jwk: dict[str, Any]) -> str:
    members = {name: jwk[name] for name in _THUMBPRINT_MEMBERS[jwk["kty"]]}
    digest = hashlib.sha256(
        json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    ).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def symmetric_kid(secret: bytes) -> str:
    """An HS256 key's id: a keyed digest, so it names the key without hashing the bare secret."""
    digest = hashlib.blake2b(b"authsvc-kid", key=secret, digest_size=16).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _fits(alg: str, private: PrivateKey) -> bool:
    if alg == "ES256" and isinstance(private, ec.EllipticCurvePrivateKey):
        return isinstance(private.curve, ec.SECP256R1)
    if alg == "RS256" and isinstance(private, rsa.RSAPrivateKey):
        return private.key_size >= 2048
    return True


def _kty(alg: str) -> str:
    return {"ES256": "EC", "EdDSA": "OKP", "RS256": "RSA"}[alg]
