"""Signing keys: rotation and publication, the four algorithms, and key material kept secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import stat
from datetime import timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from sqlalchemy import select

from authsvc import create_app
from authsvc.core import clock, crypto, keys
from authsvc.extensions import db
from authsvc.models import AuditEvent, PrivateToken, SigningKey
from authsvc.services import keystore as keystore_module
from tests.helpers import FAST_HASH, PASSWORD, T0, bearer, envelope, error_of

VERIFY = "/api/v1/auth/verify"
JWKS = "/.well-known/jwks.json"
METADATA = "/.well-known/oauth-authorization-server"
YEAR_AND_LEEWAY = timedelta(days=365, seconds=10)  # the longest lifetime (private tokens) + leeway
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def kid_of(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def published_kids(client: Any) -> list[str]:
    return [k["kid"] for k in client.get(JWKS).get_json()["keys"]]


def reason_of(client: Any, token: str, **headers: str) -> str | None:
    r = client.get(VERIFY, headers={**bearer(token), **headers})
    if r.status_code == 200:
        return None
    assert r.status_code == 401, r.get_json()
    return error_of(r)["extra"]["reason"]


def private_token(client: Any, access: str, days: int = 365) -> str:
    r = client.post(
        "/api/v1/private-tokens",
        headers=bearer(access),
        json={"name": "ci", "expires_in_days": days, "current_password": PASSWORD},
    )
    assert r.status_code == 201, r.get_json()
    return r.get_json()["token"]


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# --- rotation -------------------------------------------------------------------------------


def test_rotate_makes_a_new_signing_key_and_keeps_the_old_one_verifying(
    frozen, app, client, runner, user, login
):
    old = login(user)
    old_kid = kid_of(old["access_token"])
    result = runner.invoke(args=["keys", "rotate", "--now"])
    assert result.exit_code == 0, result.output
    new = login(user)
    new_kid = kid_of(new["access_token"])
    assert new_kid != old_kid
    assert result.output.splitlines() == [
        f"new signing key {new_kid} (ES256)",
        f"retired {old_kid}: it signs no more and stays published until its last token expires",
    ]
    assert published_kids(client) == [new_kid, old_kid]
    assert reason_of(client, old["access_token"]) is None
    assert (
        client.post(
            "/api/v1/auth/refresh", json={"refresh_token": old["refresh_token"]}
        ).status_code
        == 200
    )
    assert reason_of(client, new["access_token"]) is None
    with app.app_context():
        (event,) = db.session.scalars(
            select(AuditEvent).where(AuditEvent.type == "signing_key.rotated")
        )
        assert event.detail == {
            "kid": new_kid,
            "alg": "ES256",
            "retired": [old_kid],
            "activates_at": "2026-11-22T10:00:00Z",
        }
        row = db.session.get(SigningKey, old_kid)
        assert row.retired_at == T0 and row.publish_until == T0 + YEAR_AND_LEEWAY


def test_an_old_keys_token_verifies_until_publish_until_then_unknown_key(
    frozen, client, runner, tokens
):
    old_kid = kid_of(tokens["access_token"])
    long_lived = private_token(client, tokens["access_token"])  # 365 days, signed by the old key
    assert runner.invoke(args=["keys", "rotate", "--now"]).exit_code == 0
    new_kid = published_kids(client)[0]

    clock.advance(YEAR_AND_LEEWAY - timedelta(seconds=1))
    assert published_kids(client) == [new_kid, old_kid]
    assert reason_of(client, long_lived) is None

    clock.advance(timedelta(seconds=1))
    assert published_kids(client) == [new_kid]
    assert reason_of(client, long_lived) == "unknown_key"


def test_publish_until_covers_tokens_issued_under_a_longer_lifetime(frozen, configure):
    """Lowering the maximum later must not unpublish a key while tokens it signed still live."""
    c = configure(AUTHSVC_PRIVATE_TOKEN_MAX_DAYS=30)
    owner = c.make_user()
    with c.app.app_context():
        old_kid = c.app.extensions["authsvc"].keystore.signing_key().kid
        db.session.add(
            PrivateToken(
                id="p1",
                jti="j1",
                user_id=owner.id,
                name="old",
                scopes="read",
                created_at=T0,
                expires_at=T0 + timedelta(days=200),
            )
        )
        db.session.commit()
        c.app.extensions["authsvc"].keystore.rotate(now=True)
        assert db.session.get(SigningKey, old_kid).publish_until == T0 + timedelta(
            days=200, seconds=10
        )


def test_keys_list(frozen, client, runner):
    def rows(*args: str) -> list[list[str]]:
        result = runner.invoke(args=["keys", "list", *args])
        assert result.exit_code == 0, result.output
        header, *lines = result.output.splitlines()
        assert header.split() == ["KID", "ALG", "CREATED", "STATE", "PUBLISHED", "UNTIL"]
        return [line.split(None, 4) for line in lines]

    (first,) = rows()
    kid = first[0]
    assert first == [kid, "ES256", "2026-11-22T10:00:00Z", "signing", "until rotated"]
    clock.advance(timedelta(hours=1))
    assert runner.invoke(args=["keys", "rotate", "--now"]).exit_code == 0
    new, old = rows()
    assert new[1:] == ["ES256", "2026-11-22T11:00:00Z", "signing", "until rotated"]
    assert old == [kid, "ES256", "2026-11-22T10:00:00Z", "published", "2027-11-22T11:00:10Z"]
    clock.advance(YEAR_AND_LEEWAY)
    assert [r[0] for r in rows()] == [new[0]]
    assert rows("--all")[1] == [
        kid,
        "ES256",
        "2026-11-22T10:00:00Z",
        "retired",
        "2027-11-22T11:00:10Z",
    ]
    for line in runner.invoke(args=["keys", "list", "--all"]).output.splitlines():
        assert "BEGIN" not in line and len(line) < 120


def test_a_kid_that_was_never_published_is_unknown_key(app, client, tokens):
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    foreign = ec.generate_private_key(ec.SECP256R1())
    foreign_kid = keys.thumbprint(keys.public_jwk("ES256", foreign.public_key()))
    for kid in (foreign_kid, "never-published"):
        token = jwt.encode(
            claims, foreign, algorithm="ES256", headers={"kid": kid, "typ": "at+jwt"}
        )
        r = app.test_client().get(VERIFY, headers=bearer(token))
        assert r.status_code == 401 and error_of(r) == envelope(
            "invalid_token", reason="unknown_key"
        )


def test_another_host_follows_a_rotation(frozen, app, make_app, client, user, login, monkeypatch):
    """Host B rotates; host A verifies B's new key at once and drops the old one on time."""
    monkeypatch.setattr(keystore_module, "RECHECK_SECONDS", -1.0)
    access = login(user)["access_token"]
    long_lived = private_token(client, access)
    host_b = make_app()
    with host_b.app_context():
        new_kid = host_b.extensions["authsvc"].keystore.rotate(now=True)[0].kid
    b = host_b.test_client()
    fresh = b.post(
        "/api/v1/auth/login", json={"email": user.email, "password": PASSWORD}
    ).get_json()
    assert kid_of(fresh["access_token"]) == new_kid
    assert reason_of(client, fresh["access_token"]) is None  # A had never seen this kid
    assert kid_of(login(user)["access_token"]) == new_kid  # and A now signs with it
    clock.advance(YEAR_AND_LEEWAY)
    # A cached the old key as current; it learns the retirement from the database.
    assert reason_of(client, long_lived) == "unknown_key"


# --- algorithms ------------------------------------------------------------------------------

ALGS = ["ES256", "EdDSA", "RS256", "HS256"]


def fresh_key(alg: str) -> Any:
    return {
        "ES256": lambda: ec.generate_private_key(ec.SECP256R1()),
        "EdDSA": ed25519.Ed25519PrivateKey.generate,
        "RS256": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "HS256": lambda: os.urandom(32),
    }[alg]()


def hs256(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    """HMAC by hand: PyJWT rightly refuses a PEM public key as an HMAC secret; attackers do not."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    return (
        f"{signing_input}.{b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"
    )


@pytest.mark.parametrize("alg", ALGS)
def test_login_and_verify_work_with_each_algorithm(configure, alg):
    c = configure(AUTHSVC_SIGNING_ALG=alg)
    owner = c.make_user()
    pair = c.login(owner)
    header = jwt.get_unverified_header(pair["access_token"])
    assert header["alg"] == alg and header["typ"] == "at+jwt"
    r = c.client.get(VERIFY, headers=bearer(pair["access_token"]))
    assert r.status_code == 200 and r.get_json()["sub"] == owner.id
    assert (
        c.client.post(
            "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
        ).status_code
        == 200
    )

    jwks = c.client.get(JWKS).get_json()
    metadata = c.client.get(METADATA).get_json()
    assert metadata["access_token_signing_alg_values_supported"] == [alg]
    if alg == "HS256":
        assert jwks == {"keys": []}
        # Always there since issue 16: id_tokens are signed with published keys even then.
        assert metadata["jwks_uri"] == "http://authsvc.test/.well-known/jwks.json"
        return
    (jwk,) = jwks["keys"]
    assert jwk["kid"] == header["kid"] and jwk["alg"] == alg and jwk["use"] == "sig"
    assert not PRIVATE_MEMBERS & jwk.keys()
    assert metadata["jwks_uri"] == "http://authsvc.test/.well-known/jwks.json"
    # Anyone holding only the JWKS verifies the token with a stock library.
    claims = jwt.decode(
        pair["access_token"],
        jwt.PyJWK(jwk).key,
        algorithms=[alg],
        audience="authsvc",
        issuer="http://authsvc.test",
    )
    assert claims["sub"] == owner.id


@pytest.mark.parametrize("configured", ALGS)
def test_a_token_signed_with_another_algorithm_is_refused(configure, configured):
    c = configure(AUTHSVC_SIGNING_ALG=configured)
    pair = c.login(c.make_user())
    claims = jwt.decode(pair["access_token"], options={"verify_signature": False})
    kid = kid_of(pair["access_token"])
    with c.app.app_context():
        current = c.app.extensions["authsvc"].keystore.signing_key()

    for other in (a for a in ALGS if a != configured):
        header = {"alg": other, "kid": kid, "typ": "at+jwt"}
        if other == "HS256":
            # The classic confusion: HMAC keyed with the service's own public key.
            secret = (
                current.verifying.public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
                if configured != "HS256"
                else os.urandom(32)
            )
            token = hs256(header, claims, secret)
        else:
            token = jwt.encode(claims, fresh_key(other), algorithm=other, headers=header)
        assert reason_of(c.client, token) == "algorithm", other

    # The header naming the configured algorithm does not help a signature made otherwise.
    header = {"alg": configured, "kid": kid, "typ": "at+jwt"}
    if configured == "HS256":
        forged = jwt.encode(
            claims, fresh_key("ES256"), algorithm="ES256", headers={"kid": kid, "typ": "at+jwt"}
        )
        _, payload, sig = forged.split(".")
        token = f"{b64(json.dumps(header).encode())}.{payload}.{sig}"
    else:
        token = hs256(header, claims, os.urandom(32))
    assert reason_of(c.client, token) == "signature"
    for none in ("none", "None", "NONE"):
        unsigned = f"{b64(json.dumps({**header, 'alg': none}).encode())}.{b64(json.dumps(claims).encode())}."
        assert reason_of(c.client, unsigned) == "algorithm"


def test_changing_the_algorithm_generates_a_key_for_it(app, make_app, client, user, login):
    es256 = login(user)["access_token"]
    host = make_app(AUTHSVC_SIGNING_ALG="EdDSA")
    other = host.test_client()
    (jwk,) = other.get(JWKS).get_json()["keys"]
    assert jwk["alg"] == "EdDSA" and jwk["kty"] == "OKP"
    assert reason_of(other, es256) == "algorithm"
    eddsa = other.post(
        "/api/v1/auth/login", json={"email": user.email, "password": PASSWORD}
    ).get_json()
    assert jwt.get_unverified_header(eddsa["access_token"])["alg"] == "EdDSA"
    assert kid_of(eddsa["access_token"]) == jwk["kid"]
    assert reason_of(other, eddsa["access_token"]) is None
    assert reason_of(client, eddsa["access_token"]) == "algorithm"
    listing = host.test_cli_runner().invoke(args=["keys", "list", "--all"]).output.splitlines()[1:]
    assert sorted((line.split()[1], line.split()[3]) for line in listing) == [
        ("ES256", "unused"),
        ("EdDSA", "signing"),
    ]


# --- key material ------------------------------------------------------------------------------


def test_instance_secret_and_database_are_private_files(tmp_path, monkeypatch):
    instance = tmp_path / "instance"
    monkeypatch.setenv("AUTHSVC_INSTANCE_PATH", str(instance))
    previous = os.umask(0o022)
    try:
        fresh = create_app({"TESTING": True, **FAST_HASH})
        with fresh.app_context():
            fresh.extensions["authsvc"].keystore.rotate()  # writes: the WAL files appear
            modes = {
                p.name: stat.S_IMODE(p.stat().st_mode)
                for p in instance.iterdir()
                if p.name == "secret_key" or p.name.startswith("authsvc.sqlite3")
            }
            db.session.remove()
            db.engine.dispose()
    finally:
        os.umask(previous)
    assert {"secret_key", "authsvc.sqlite3", "authsvc.sqlite3-wal"} <= set(modes)
    assert {name: oct(mode) for name, mode in modes.items() if mode & 0o077} == {}


def _secret_strings(app: Any, instance_secret: bytes) -> set[str]:
    """Every spelling of private key material a leak could take."""
    found = set()
    with app.app_context():
        for row in db.session.scalars(select(SigningKey)):
            material = crypto.open_sealed(
                instance_secret, "signing-key", row.private_sealed, row.kid.encode()
            )
            found |= {b64(material), base64.b64encode(material).decode(), material.hex()}
            found.add(base64.b64encode(row.private_sealed).decode())
            if row.alg == "HS256":
                continue
            private = serialization.load_der_private_key(material, password=None)
            exported = json.loads(jwt.algorithms.get_default_algorithms()[row.alg].to_jwk(private))
            found |= {exported[m] for m in PRIVATE_MEMBERS & exported.keys()}
    found.add(b64(instance_secret))
    found.add(instance_secret.decode(errors="ignore"))
    return {s for s in found if len(s) >= 16}


@pytest.mark.parametrize("alg", ALGS)
def test_no_route_body_and_no_log_line_carries_key_material(configure, request, caplog, capfd, alg):
    caplog.set_level(logging.DEBUG)
    # a fresh login per write: more routes than the per-address login limit allows a minute
    c = configure(AUTHSVC_SIGNING_ALG=alg, AUTHSVC_ADDRESS_RATE="1000 per minute")
    admin = request.getfixturevalue("admin")
    with c.app.app_context():
        c.app.extensions["authsvc"].keystore.rotate(now=True)
    runner = c.app.test_cli_runner()
    outputs = [
        runner.invoke(args=["keys", "list", "--all"]).output,
        runner.invoke(args=["init"]).output,
    ]
    pair = c.login(admin)
    calls = []
    for rule in c.app.url_map.iter_rules():
        path = rule.rule
        for name in rule.arguments:
            for pattern in (f"<{name}>", f"<path:{name}>", f"<string:{name}>", f"<int:{name}>"):
                path = path.replace(pattern, "1")
        methods = (rule.methods or set()) - {"HEAD", "OPTIONS"}
        if path.startswith("/api/v1/auth/check"):  # the gateway check: any method, no body
            methods &= {"GET"}
        calls += [(method, path) for method in methods]
    bodies, answered = [], set()
    for method, path in sorted(calls, key=lambda call: (call[0] != "GET", call)):
        # Reads first; every write gets a fresh login, so a logout cannot hide later routes.
        token = pair["access_token"] if method == "GET" else c.login(admin)["access_token"]
        r = c.client.open(path, method=method, json={}, headers=bearer(token))
        bodies.append(r.get_data(as_text=True))
        if r.status_code < 300:
            answered.add(f"{method} {path}")
    bodies.append(
        c.client.post(
            "/api/v1/auth/introspect",
            json={"token": pair["access_token"]},
            headers=bearer(c.login(admin)["access_token"]),
        ).get_data(as_text=True)
    )
    assert {
        "GET /.well-known/jwks.json",
        "GET /.well-known/oauth-authorization-server",
        "GET /api/v1/openapi.json",
        "GET /api/v1/users/me",
    } <= answered
    secrets = _secret_strings(c.app, c.app.extensions["authsvc"].settings.secret)
    assert secrets
    logged = caplog.text + "".join(capfd.readouterr())
    for secret in secrets:
        assert all(secret not in body for body in bodies), secret
        assert all(secret not in out for out in outputs), secret
        assert secret not in logged
