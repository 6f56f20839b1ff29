"""Forged and tampered tokens at an authenticated route: each is a 401 with its reason."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from authsvc.core import clock, keys, tokens
from authsvc.core import tokens as authsvc_tokens  # `tokens` is also a fixture's name
from tests.helpers import T0, bearer, envelope, error_of

VERIFY = "/api/v1/auth/verify"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def sign(app, claims: dict[str, Any], **header: Any) -> str:
    with app.app_context():
        key = app.extensions["authsvc"].keystore.signing_key()
    return tokens.low_s(
        jwt.encode(
            claims,
            key.signing,
            algorithm="ES256",
            headers={"kid": key.kid, "typ": "at+jwt", **header},
        )
    )


def hs256_with_public_key(app, claims: dict[str, Any]) -> str:
    with app.app_context():
        key = app.extensions["authsvc"].keystore.signing_key()
    pem = key.verifying.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    head = b64(json.dumps({"alg": "HS256", "typ": "at+jwt", "kid": key.kid}).encode())
    body = b64(json.dumps(claims).encode())
    mac = hmac.new(pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(mac)}"


def unsigned(claims: dict[str, Any], alg: str, kid: str) -> str:
    head = b64(json.dumps({"alg": alg, "typ": "at+jwt", "kid": kid}).encode())
    return f"{head}.{b64(json.dumps(claims).encode())}."


def reject(client, token: str, reason: str) -> None:
    r = client.get(VERIFY, headers=bearer(token))
    assert r.status_code == 401, r.get_json()
    assert error_of(r) == envelope("invalid_token", reason=reason)
    assert r.headers["WWW-Authenticate"].startswith(
        'Bearer realm="authsvc", error="invalid_token", error_description="'
    )


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_in_any_casing(client, tokens, alg):
    c = claims_of(tokens["access_token"])
    kid = jwt.get_unverified_header(tokens["access_token"])["kid"]
    reject(client, unsigned(c, alg, kid), "algorithm")


def test_hs256_signed_with_the_public_key(app, client, tokens):
    reject(client, hs256_with_public_key(app, claims_of(tokens["access_token"])), "algorithm")


@pytest.mark.parametrize("typ", ["authsvc-rt+jwt", "authsvc-pat+jwt", "JWT", "at+JWT"])
def test_swapped_typ(app, client, tokens, typ):
    # typed private but naming no private token: there is none to accept
    reject(
        client,
        sign(app, claims_of(tokens["access_token"]), typ=typ),
        "wrong_type" if typ != "authsvc-pat+jwt" else "revoked",
    )


def test_missing_typ(app, client, tokens):
    with app.app_context():
        key = app.extensions["authsvc"].keystore.signing_key()
    token = authsvc_tokens.low_s(
        jwt.encode(
            claims_of(tokens["access_token"]),
            key.signing,
            algorithm="ES256",
            headers={"kid": key.kid, "typ": None},
        )
    )
    reject(client, token, "wrong_type")


def test_foreign_kid(client, tokens):
    foreign = ec.generate_private_key(ec.SECP256R1())
    kid = keys.thumbprint(keys.public_jwk("ES256", foreign.public_key()))
    token = jwt.encode(
        claims_of(tokens["access_token"]),
        foreign,
        algorithm="ES256",
        headers={"kid": kid, "typ": "at+jwt"},
    )
    reject(client, token, "unknown_key")


def test_own_kid_foreign_signature(app, client, tokens):
    foreign = ec.generate_private_key(ec.SECP256R1())
    kid = jwt.get_unverified_header(tokens["access_token"])["kid"]
    token = jwt.encode(
        claims_of(tokens["access_token"]),
        foreign,
        algorithm="ES256",
        headers={"kid": kid, "typ": "at+jwt"},
    )
    reject(client, token, "signature")


@pytest.mark.parametrize(
    "header",
    [
        {"jku": "https://evil.example/jwks"},
        {"x5u": "https://evil.example/cert"},
        {"jwk": {"kty": "EC"}},
        {"x5c": ["MIIB"]},
    ],
)
def test_embedded_or_remote_keys(app, client, tokens, header):
    reject(client, sign(app, claims_of(tokens["access_token"]), **header), "unknown_key")


@pytest.mark.parametrize("claim", ["iss", "aud", "sub", "iat", "exp", "jti", "scope", "sid"])
def test_missing_claim(app, client, tokens, claim):
    c = claims_of(tokens["access_token"])
    del c[claim]
    reject(client, sign(app, c), "malformed")


@pytest.mark.parametrize(
    "change",
    [{"iss": "http://other.test"}, {"aud": "someone-else"}, {"exp": "tomorrow"}, {"sub": 42}],
)
def test_foreign_or_mistyped_claims(app, client, tokens, change):
    reject(client, sign(app, {**claims_of(tokens["access_token"]), **change}), "malformed")


def test_not_yet_valid(frozen, app, client, tokens):
    c = claims_of(tokens["access_token"])
    ts = int(T0.timestamp())
    reject(client, sign(app, {**c, "iat": ts + 60, "exp": ts + 3600}), "not_yet_valid")
    reject(client, sign(app, {**c, "nbf": ts + 60}), "not_yet_valid")


def test_expired(frozen, client, tokens):
    clock.advance(timedelta(hours=2))
    reject(client, tokens["access_token"], "expired")


def test_revoked(client, tokens):
    client.post("/api/v1/auth/revoke", json={"token": tokens["access_token"]})
    reject(client, tokens["access_token"], "revoked")


def test_signed_with_a_session_that_never_existed(app, client, tokens):
    reject(client, sign(app, {**claims_of(tokens["access_token"]), "sid": "f" * 32}), "revoked")


def test_signed_for_a_user_that_does_not_exist(app, client, tokens):
    reject(
        client, sign(app, {**claims_of(tokens["access_token"]), "sub": "nobody"}), "inactive_user"
    )


@pytest.mark.parametrize("token", ["", "abc", "a.b", "a.b.c.d", "ä.b.c", "Bearer x.y.z"])
def test_malformed(client, token):
    r = client.get(VERIFY, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    assert error_of(r)["code"] in {"invalid_token"}
    assert error_of(r)["extra"]["reason"] == "malformed"


def test_private_token_is_not_accepted_where_only_access_is(app, client, tokens, user):
    with app.app_context():
        key = app.extensions["authsvc"].keystore.signing_key()
        token, _ = tokens_module_encode(key, user.id)
    r = client.post("/api/v1/auth/logout", headers=bearer(token))
    # no private-token row: the hot path would say revoked, but the kind check comes first
    assert r.status_code == 403 and error_of(r) == envelope("permission_denied")


def tokens_module_encode(key: tokens.Key, sub: str) -> tuple[str, dict[str, Any]]:
    settings = {"issuer": "http://authsvc.test", "audience": "authsvc"}
    return tokens.encode(
        "private",
        subject=sub,
        scopes=["read"],
        key=key,
        now=clock.now(),
        expires_at=clock.now() + timedelta(days=1),
        **settings,
    )


def test_high_s_twin_of_a_genuine_es256_token(client, tokens):
    """(r, s) -> (r, n - s) still verifies as ECDSA; the service refuses it (one token, one form)."""
    from tests.unit.test_tokens import high_s

    assert client.get(VERIFY, headers=bearer(tokens["access_token"])).status_code == 200
    reject(client, high_s(tokens["access_token"]), "signature")
