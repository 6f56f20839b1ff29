"""Issue 17: the signing-key lifecycle: publish, then sign; revoke; automatic rotation."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, select

from authsvc.core import clock, tokens
from authsvc.extensions import db
from authsvc.models import AuditEvent, SigningKey
from authsvc.verifier import Verifier
from tests.helpers import PASSWORD, T0, bearer, error_of, http

ROOT = Path(__file__).resolve().parents[2]
JWKS = "/.well-known/jwks.json"
VERIFY = "/api/v1/auth/verify"
DELAY = timedelta(seconds=600)


def kid_of(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def published(client: Any) -> list[str]:
    return [k["kid"] for k in client.get(JWKS).get_json()["keys"]]


def reason(client: Any, token: str) -> str | None:
    r = client.get(VERIFY, headers=bearer(token))
    return None if r.status_code == 200 else error_of(r)["extra"]["reason"]


def clock_verifier(base: str) -> Verifier:
    """authsvc.verifier against `base`, on the service clock (which the test moves)."""
    return Verifier(
        issuer="http://authsvc.test",
        audience="authsvc",
        jwks_url=base + JWKS,
        now=clock.now,
        monotonic=lambda: clock.now().timestamp(),
    )


# --- publish, then sign -----------------------------------------------------------------------


def test_rotate_publishes_at_once_and_signs_after_the_delay(
    frozen, app, client, runner, user, login
):
    old_kid = kid_of(login(user)["access_token"])
    result = runner.invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    new_kid = published(client)[0]
    assert published(client) == [new_kid, old_kid]
    assert result.output.splitlines() == [
        f"new key {new_kid} (ES256): published now, signs from 2026-11-22T10:10:00Z",
        f"retiring {old_kid}: it signs until 2026-11-22T10:10:00Z and stays published until its "
        "last token expires",
    ]
    states = {
        line.split()[0]: line.split()[3]
        for line in runner.invoke(args=["keys", "list"]).output.splitlines()[1:]
    }
    assert states == {new_kid: "pending", old_kid: "signing"}

    clock.advance(DELAY - timedelta(seconds=1))
    assert kid_of(login(user)["access_token"]) == old_kid
    clock.advance(timedelta(seconds=1))
    fresh = login(user)["access_token"]
    assert kid_of(fresh) == new_kid and reason(client, fresh) is None
    with app.app_context():
        old = db.session.get(SigningKey, old_kid)
        assert old.retired_at == T0 + DELAY
        assert old.publish_until == T0 + DELAY + timedelta(days=365, seconds=10)


def test_rotate_now_signs_at_once(frozen, client, runner, user, login):
    old_kid = kid_of(login(user)["access_token"])
    assert runner.invoke(args=["keys", "rotate", "--now"]).exit_code == 0
    assert kid_of(login(user)["access_token"]) != old_kid


def test_every_host_switches_at_the_stored_time(frozen, app, make_app, runner, user):
    other = make_app().test_client()
    assert runner.invoke(args=["keys", "rotate"]).exit_code == 0
    new_kid = published(other)[0]
    body = {"email": user.email, "password": PASSWORD}
    clock.advance(DELAY - timedelta(seconds=1))
    assert kid_of(other.post("/api/v1/auth/login", json=body).get_json()["access_token"]) != new_kid
    clock.advance(timedelta(seconds=1))
    assert kid_of(other.post("/api/v1/auth/login", json=body).get_json()["access_token"]) == new_kid


def test_jwks_may_be_cached_for_less_than_the_delay(client):
    r = client.get(JWKS)
    assert r.headers["Cache-Control"] == "public, max-age=300"  # the default delay is 600 s
    from authsvc.services.keystore import KeyStore

    for delay, max_age in ((600, 300), (3600, 300), (60, 30), (1, 0), (0, 0)):
        store = KeyStore(
            secret=b"x" * 32,
            alg="ES256",
            longest_lifetime=timedelta(days=1),
            publish_delay=timedelta(seconds=delay),
        )
        assert store.jwks_max_age == max_age and (max_age < delay or delay == 0)


def test_a_verifier_never_refuses_a_fresh_token_across_a_rotation(
    frozen, runner, user, login, live_server
):
    verifier = clock_verifier(live_server)
    first = login(user)["access_token"]
    verifier.verify(first)
    # A made-up kid costs the verifier its refetch of this minute (as an attacker can make it).
    claims = jwt.decode(first, options={"verify_signature": False})
    forged = jwt.encode(
        claims,
        ec.generate_private_key(ec.SECP256R1()),
        algorithm="ES256",
        headers={"kid": "made-up", "typ": "at+jwt"},
    )
    with pytest.raises(tokens.UnknownKey):
        verifier.verify(forged)

    assert runner.invoke(args=["keys", "rotate"]).exit_code == 0
    seen = set()
    for _ in range(16):  # 16 minutes: past the delay and past the verifier's cache lifetime
        clock.advance(timedelta(seconds=60))
        fresh = login(user)["access_token"]
        seen.add(kid_of(fresh))
        assert verifier.verify(fresh).sub == user.id
    assert len(seen) == 2  # the rotation happened inside the loop


@pytest.mark.slow
def test_pyjwkclient_caching_by_max_age_never_misses_a_key(serve, user):
    server = serve(AUTHSVC_KEY_PUBLISH_DELAY="4")
    with urllib.request.urlopen(server.url + JWKS, timeout=10) as r:
        cache_control = r.headers["Cache-Control"]
    assert cache_control == "public, max-age=2"
    jwks_client = jwt.PyJWKClient(server.url + JWKS, cache_jwk_set=True, lifespan=2)

    def login() -> str:
        status, pair = http(
            "POST",
            server.url + "/api/v1/auth/login",
            {"email": user.email, "password": user.password},
        )
        assert status == 200
        return pair["access_token"]

    def accepted_from_cache(token: str) -> bool:
        cached = {key.key_id: key for key in jwks_client.get_jwk_set().keys}  # no refetch on a miss
        key = cached.get(kid_of(token))
        if key is None:
            return False
        jwt.decode(
            token, key.key, algorithms=["ES256"], audience="authsvc", issuer="http://authsvc.test"
        )
        return True

    assert accepted_from_cache(login())
    rotate = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "authsvc", "keys", "rotate"],
        env=server.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert rotate.returncode == 0, rotate.stderr
    kids, deadline = set(), time.monotonic() + 8
    while time.monotonic() < deadline:
        token = login()
        kids.add(kid_of(token))
        assert accepted_from_cache(token), "a fresh token named a key the cached JWKS lacked"
        time.sleep(0.3)
    assert len(kids) == 2


# --- revocation -------------------------------------------------------------------------------


def test_revoke_refuses_every_token_of_the_key_on_every_host_at_once(
    frozen, app, make_app, client, runner, user, login, live_server
):
    pair = login(user)
    kid = kid_of(pair["access_token"])
    pat = client.post(
        "/api/v1/private-tokens",
        headers=bearer(pair["access_token"]),
        json={"name": "ci", "expires_in_days": 30, "current_password": PASSWORD},
    ).get_json()["token"]
    other = make_app().test_client()
    assert reason(other, pat) is None  # host B has the key cached
    verifier = clock_verifier(live_server)
    verifier.verify(pair["access_token"])

    result = runner.invoke(args=["keys", "revoke", "--", kid])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"revoked {kid}: unpublished; every token it signed is refused (unknown_key)"
    new_kid = lines[1].split()[3]

    for host in (client, other):
        assert kid not in published(host)
        assert new_kid in published(host)
        assert reason(host, pair["access_token"]) == "unknown_key"
        assert reason(host, pat) == "unknown_key"
    r = client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert r.status_code == 401 and error_of(r)["extra"]["reason"] == "unknown_key"
    fresh = login(user)["access_token"]
    assert kid_of(fresh) == new_kid and reason(other, fresh) is None  # a new key signs at once

    # the offline verifier: until its next JWKS refresh it cannot know; then it refuses
    verifier.verify(pair["access_token"])
    clock.advance(timedelta(seconds=verifier.jwks_max_age + 1))
    with pytest.raises(Exception) as refused:
        verifier.verify(pair["access_token"])
    assert getattr(refused.value, "reason", None) == "unknown_key"
    assert verifier.verify(fresh).sub == user.id

    with app.app_context():
        (event,) = db.session.scalars(
            select(AuditEvent).where(AuditEvent.type == "signing_key.revoked")
        )
        assert event.detail == {
            "kid": kid,
            "alg": "ES256",
            "was_signing": True,
            "replaced_by": new_kid,
        }
    assert (
        runner.invoke(args=["keys", "revoke", "--", kid]).output.strip()
        == f"{kid} was already revoked"
    )
    bad = runner.invoke(args=["keys", "revoke", "no-such-kid"])
    assert bad.exit_code != 0 and "no signing key" in bad.output


def test_revoking_a_retired_key_makes_no_new_one(frozen, app, client, runner, user, login):
    old = login(user)["access_token"]
    assert runner.invoke(args=["keys", "rotate", "--now"]).exit_code == 0
    signing = kid_of(login(user)["access_token"])
    result = runner.invoke(args=["keys", "revoke", "--", kid_of(old)])
    assert result.output.splitlines() == [
        f"revoked {kid_of(old)}: unpublished; every token it signed is refused (unknown_key)"
    ]
    assert kid_of(login(user)["access_token"]) == signing and published(client) == [signing]


# --- automatic rotation -----------------------------------------------------------------------


def test_automatic_rotation_publishes_then_signs_and_one_host_does_it(frozen, configure, config):
    from authsvc import create_app

    c = configure(AUTHSVC_KEY_ROTATION_DAYS=30)
    owner = c.make_user()
    first = kid_of(c.login(owner)["access_token"])
    clock.advance(timedelta(days=30) - timedelta(seconds=61))
    assert published(c.client) == [first]

    clock.advance(timedelta(seconds=61))  # due, and past this process's once-a-minute check
    host_b = create_app(dict(config))  # another host over the same database
    store_b = host_b.extensions["authsvc"].keystore
    with host_b.app_context():
        stale = store_b._current_row()  # B read the signing key before A rotated...
        assert stale is not None and stale.retired_at is None
        assert c.client.get(JWKS).status_code == 200  # ...A's next request rotates
        store_b._current_row = lambda: stale  # type: ignore[method-assign]
        assert store_b.maybe_rotate() is None  # B's conditional UPDATE finds it taken
        db.session.remove()
        db.engine.dispose()
    kids = published(c.client)
    assert len(kids) == 2 and kids[1] == first
    with c.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(SigningKey)) == 2
        (event,) = db.session.scalars(
            select(AuditEvent).where(AuditEvent.type == "signing_key.rotated")
        )
        assert event.detail["automatic"] is True and event.detail["retired"] == [first]
    assert kid_of(c.login(owner)["access_token"]) == first  # published, not yet signing
    clock.advance(DELAY)
    assert kid_of(c.login(owner)["access_token"]) == kids[0]
