"""Several processes over one database: rotation stays exact, state is seen everywhere."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from typing import Any

import jwt
import pytest

from tests.helpers import bearer, http

pytestmark = pytest.mark.slow
PROCESSES = 50


def _refresh_in_own_process(
    config: dict[str, Any], instance: str, token: str, barrier: Any, results: Any
) -> None:
    import os

    os.environ["AUTHSVC_INSTANCE_PATH"] = instance
    from authsvc import create_app

    client = create_app(config).test_client()
    barrier.wait(timeout=120)
    r = client.post("/api/v1/auth/refresh", json={"refresh_token": token})
    body = r.get_json()
    results.put(
        (
            r.status_code,
            body["errors"][0]["extra"]["reason"] if r.status_code != 200 else body["refresh_token"],
        )
    )


def _refresh_in_fifty_processes(config: dict[str, Any], instance: str, token: str) -> list[Any]:
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(PROCESSES), ctx.Queue()
    workers = [
        ctx.Process(
            target=_refresh_in_own_process, args=(config, instance, token, barrier, results)
        )
        for _ in range(PROCESSES)
    ]
    for w in workers:
        w.start()
    outcomes = [results.get(timeout=240) for _ in workers]
    for w in workers:
        w.join(timeout=30)
    return outcomes


def test_fifty_processes_refresh_one_token_and_all_get_one_successor(app, config, tmp_path, tokens):
    outcomes = _refresh_in_fifty_processes(config, str(tmp_path / "inst"), tokens["refresh_token"])
    assert [status for status, _ in outcomes] == [200] * PROCESSES, outcomes
    claims = [jwt.decode(token, options={"verify_signature": False}) for _, token in outcomes]
    assert len({(c["jti"], c["iat"], c["exp"], c["sid"]) for c in claims}) == 1
    # the successor then works like any refresh token: it rotates, and its predecessor...
    client = app.test_client()
    r = client.post("/api/v1/auth/refresh", json={"refresh_token": outcomes[0][1]})
    assert r.status_code == 200
    # ...the original token, now a grandparent, is reuse and ends the session
    r = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 401 and r.get_json()["errors"][0]["extra"]["reason"] == "reused"
    from sqlalchemy import select

    from authsvc.extensions import db
    from authsvc.models import AuditEvent

    with app.app_context():
        types = db.session.scalars(select(AuditEvent.type)).all()
    assert types.count("token.refreshed") == 2 and types.count("token.refresh_replayed") == 1
    assert types.count("refresh.reuse_detected") == 1


@pytest.mark.parametrize("refresh_window", [0])
def test_fifty_processes_refresh_one_token_exactly_one_wins(config, tmp_path, tokens):
    ctx = multiprocessing.get_context("fork")
    barrier, results = ctx.Barrier(PROCESSES), ctx.Queue()
    workers = [
        ctx.Process(
            target=_refresh_in_own_process,
            args=(config, str(tmp_path / "inst"), tokens["refresh_token"], barrier, results),
        )
        for _ in range(PROCESSES)
    ]
    for w in workers:
        w.start()
    outcomes = [results.get(timeout=240) for _ in workers]
    for w in workers:
        w.join(timeout=30)
    assert sorted(status for status, _ in outcomes) == [200] + [401] * (PROCESSES - 1)
    assert {reason for status, reason in outcomes if status == 401} == {"reused"}


def test_two_hosts_see_each_others_revocations_deactivations_and_keys(serve, admin, user):
    a, b = serve(), serve()
    status, pair = http(
        "POST", a.url + "/api/v1/auth/login", {"email": user.email, "password": user.password}
    )
    assert status == 200
    assert (
        http("GET", b.url + "/api/v1/auth/verify", headers=bearer(pair["access_token"]))[0] == 200
    )

    # a token revoked on A is refused by B on its next request
    assert http("POST", a.url + "/api/v1/auth/revoke", {"token": pair["access_token"]})[0] == 200
    status, body = http("GET", b.url + "/api/v1/auth/verify", headers=bearer(pair["access_token"]))
    assert status == 401 and body["errors"][0]["extra"]["reason"] == "revoked"

    # a key rotated (on the shared database) signs at B and verifies at A at once
    old_kid = jwt.get_unverified_header(pair["refresh_token"])["kid"]
    rotate = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "authsvc", "keys", "rotate", "--now"],
        env=a.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert rotate.returncode == 0, rotate.stderr
    status, fresh = http(
        "POST", b.url + "/api/v1/auth/login", {"email": user.email, "password": user.password}
    )
    assert status == 200
    assert jwt.get_unverified_header(fresh["access_token"])["kid"] != old_kid
    assert (
        http("GET", a.url + "/api/v1/auth/verify", headers=bearer(fresh["access_token"]))[0] == 200
    )
    kids = {k["kid"] for k in http("GET", a.url + "/.well-known/jwks.json")[1]["keys"]}
    assert old_kid in kids and len(kids) == 2
    # the old key still verifies what it signed
    status, _ = http(
        "POST", a.url + "/api/v1/auth/refresh", {"refresh_token": pair["refresh_token"]}
    )
    assert status == 200

    # a user deactivated through A is refused by B on its next request
    status, admin_pair = http(
        "POST", a.url + "/api/v1/auth/login", {"email": admin.email, "password": admin.password}
    )
    assert status == 200
    status, _ = http(
        "PATCH",
        a.url + f"/api/v1/users/{user.id}",
        {"is_active": False},
        headers=bearer(admin_pair["access_token"]),
    )
    assert status == 200
    status, body = http("GET", b.url + "/api/v1/auth/verify", headers=bearer(fresh["access_token"]))
    assert status == 401 and body["errors"][0]["extra"]["reason"] == "inactive_user"
