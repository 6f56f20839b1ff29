"""keys: RFC 7638 kids, generate/load round trips, what a JWKS entry may and may not show."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, rsa
from jwt.algorithms import RSAAlgorithm

from authsvc.core import keys, tokens
from tests.helpers import T0

# RFC 7638 section 3.1: the example RSA key and the thumbprint the RFC gives for it.
RFC7638_N = (
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
    "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY"
    "368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0f"
    "M4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
)
RFC7638_JWK = {"kty": "RSA", "n": RFC7638_N, "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"}
RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"

ASYMMETRIC = ("ES256", "EdDSA", "RS256")
PUBLIC_MEMBERS = {
    "ES256": {"kty", "crv", "x", "y"},
    "EdDSA": {"kty", "crv", "x"},
    "RS256": {"kty", "n", "e"},
}
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
LOADED = {alg: keys.load(alg, keys.generate(alg)) for alg in tokens.ALGORITHMS}


def test_rfc7638_example_thumbprint() -> None:
    assert keys.thumbprint(RFC7638_JWK) == RFC7638_THUMBPRINT


def test_rfc7638_example_through_our_own_export() -> None:
    """The RFC's key, loaded and exported by us, still hashes to the RFC's thumbprint."""
    public = RSAAlgorithm.from_jwk(RFC7638_JWK)
    assert isinstance(public, rsa.RSAPublicKey)
    assert keys.thumbprint(keys.public_jwk("RS256", public)) == RFC7638_THUMBPRINT


def test_thumbprint_ignores_optional_members_and_their_order() -> None:
    reordered = dict(reversed(list(RFC7638_JWK.items())))
    bare = {"e": "AQAB", "n": RFC7638_N, "kty": "RSA"}
    extra = {**bare, "use": "sig", "key_ops": ["verify"], "x5t": "abc"}
    assert (
        keys.thumbprint(reordered)
        == keys.thumbprint(bare)
        == keys.thumbprint(extra)
        == RFC7638_THUMBPRINT
    )


@pytest.mark.parametrize("alg", ASYMMETRIC)
def test_generate_then_load_round_trip(alg: str) -> None:
    material = keys.generate(alg)
    key, again = keys.load(alg, material), keys.load(alg, material)
    assert key.kid == again.kid and key.alg == alg
    assert key.kid == keys.thumbprint(keys.published_jwk(key))
    assert len(base64.urlsafe_b64decode(key.kid + "=")) == 32  # a SHA-256 digest, base64url
    private = serialization.load_der_private_key(material, password=None)  # PKCS#8 DER
    assert (
        private.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        == material
    )
    assert keys.load(alg, keys.generate(alg)).kid != key.kid


@pytest.mark.parametrize("alg", ASYMMETRIC)
def test_a_loaded_key_signs_what_it_verifies(alg: str) -> None:
    key = LOADED[alg]
    token, body = tokens.encode(
        "private",
        subject="u",
        scopes=["read"],
        key=key,
        issuer="i",
        audience="a",
        now=T0,
        expires_at=T0 + timedelta(minutes=1),
    )
    v = tokens.decode(
        token,
        kinds=("private",),
        keys={key.kid: key},
        algorithm=alg,
        issuer="i",
        audience="a",
        now=T0,
    )
    assert v.claims == body and v.header["kid"] == key.kid


@pytest.mark.parametrize("alg", ASYMMETRIC)
def test_published_jwk_has_kid_alg_use_and_nothing_private(alg: str) -> None:
    key = LOADED[alg]
    jwk = keys.published_jwk(key)
    assert set(jwk) == PUBLIC_MEMBERS[alg] | {"kid", "alg", "use"}
    assert (jwk["kid"], jwk["alg"], jwk["use"]) == (key.kid, alg, "sig")
    assert not PRIVATE_MEMBERS & set(jwk)


@pytest.mark.parametrize("alg", ASYMMETRIC)
def test_published_jwk_of_a_key_built_around_its_private_half_still_hides_it(alg: str) -> None:
    key = LOADED[alg]
    careless = tokens.Key(kid=key.kid, alg=alg, verifying=key.signing, signing=key.signing)
    assert keys.published_jwk(careless) == keys.published_jwk(key)


@pytest.mark.parametrize("alg", ASYMMETRIC)
def test_the_published_jwk_verifies_our_tokens(alg: str) -> None:
    """A client that only has the JWKS entry can check a token: the entry is the right key."""
    key = LOADED[alg]
    token, _ = tokens.encode(
        "private",
        subject="u",
        scopes=[],
        key=key,
        issuer="i",
        audience="a",
        now=T0,
        expires_at=T0 + timedelta(minutes=1),
    )
    public = jwt.PyJWK(keys.published_jwk(key)).key
    assert (
        jwt.decode(token, public, algorithms=[alg], audience="a", options={"verify_exp": False})[
            "sub"
        ]
        == "u"
    )


def test_hs256_material_and_kid() -> None:
    secret = keys.generate("HS256")
    key = keys.load("HS256", secret)
    assert len(secret) == 32 and key.verifying == key.signing == secret
    assert key.kid == keys.load("HS256", secret).kid
    assert key.kid != keys.load("HS256", keys.generate("HS256")).kid


def test_hs256_kid_does_not_reveal_the_secret() -> None:
    secret = keys.generate("HS256")
    kid = keys.load("HS256", secret).kid
    raw = base64.urlsafe_b64decode(kid + "=" * (-len(kid) % 4))
    b64 = base64.urlsafe_b64encode(secret).rstrip(b"=").decode()
    assert secret not in raw and b64 not in kid and kid not in b64
    assert raw not in {
        hashlib.sha256(secret).digest()[: len(raw)],
        hashlib.sha1(secret).digest()[: len(raw)],
        hashlib.blake2b(secret, digest_size=len(raw)).digest(),
    }
    assert len(raw) == 16  # a 128-bit keyed digest: names the key, cannot be inverted


def test_hs256_keys_are_never_published() -> None:
    with pytest.raises(ValueError):
        keys.published_jwk(LOADED["HS256"])


def _der(private: object) -> bytes:
    return private.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


LOAD_REFUSALS = [
    pytest.param("RS256", keys.generate("ES256"), id="ec-material-as-rs256"),
    pytest.param("ES256", keys.generate("EdDSA"), id="ed25519-material-as-es256"),
    pytest.param("EdDSA", keys.generate("ES256"), id="ec-material-as-eddsa"),
    pytest.param("ES256", _der(ec.generate_private_key(ec.SECP384R1())), id="p384-as-es256"),
    pytest.param("ES256", _der(ec.generate_private_key(ec.SECP256K1())), id="secp256k1-as-es256"),
    pytest.param("EdDSA", _der(ed448.Ed448PrivateKey.generate()), id="ed448-as-eddsa"),
    pytest.param(
        "RS256", _der(rsa.generate_private_key(public_exponent=65537, key_size=1024)), id="rsa-1024"
    ),
    pytest.param("HS256", b"short", id="hs256-too-short"),
    pytest.param("HS256", b"x" * 65, id="hs256-too-long-for-the-kid"),
    pytest.param("ES256", b"not a key", id="garbage"),
    pytest.param("none", b"", id="alg-none"),
    pytest.param("HS512", keys.generate("HS256"), id="unsupported-alg"),
]


@pytest.mark.parametrize(("alg", "material"), LOAD_REFUSALS)
def test_load_refuses_material_that_is_not_an_alg_key(alg: str, material: bytes) -> None:
    with pytest.raises(ValueError):
        keys.load(alg, material)


@pytest.mark.parametrize("alg", ["none", "HS512", "ES384", "es256", ""])
def test_generate_refuses_other_algorithms(alg: str) -> None:
    with pytest.raises(ValueError):
        keys.generate(alg)


def test_the_configurable_algorithms() -> None:
    assert tokens.ALGORITHMS[0] == "ES256" and set(tokens.ALGORITHMS) == {
        "ES256",
        "EdDSA",
        "RS256",
        "HS256",
    }
    assert {"HS256"} == keys.SYMMETRIC
