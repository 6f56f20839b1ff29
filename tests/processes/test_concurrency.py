"""Refresh rotation under concurrency: the database decides, exactly one rotation happens.

Within the reuse window every concurrent refresh of one token is answered with the one
successor; with window 0 (strict single use) one wins and the rest are reuse.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import jwt
import pytest
from sqlalchemy import select

from authsvc.extensions import db
from authsvc.models import LoginSession
from tests.helpers import bearer

REFRESH = "/api/v1/auth/refresh"
THREADS = 16


def refresh_at_once(app, token: str, count: int = THREADS) -> list[tuple[int, dict]]:
    start = threading.Barrier(count)

    def attempt(_: int) -> tuple[int, dict]:
        client = app.test_client()
        start.wait(timeout=30)
        r = client.post(REFRESH, json={"refresh_token": token})
        return r.status_code, r.get_json()

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(attempt, range(count)))


def test_concurrent_refreshes_of_one_token_all_end_on_one_successor(app, tokens):
    results = refresh_at_once(app, tokens["refresh_token"])
    assert [status for status, _ in results] == [200] * THREADS, results
    claims = [
        jwt.decode(body["refresh_token"], options={"verify_signature": False})
        for _, body in results
    ]
    assert len({(c["jti"], c["iat"], c["exp"]) for c in claims}) == 1
    client = app.test_client()
    for _, body in results:  # every access token works; so does the one successor
        assert (
            client.get("/api/v1/auth/verify", headers=bearer(body["access_token"])).status_code
            == 200
        )
    assert (
        client.post(REFRESH, json={"refresh_token": results[0][1]["refresh_token"]}).status_code
        == 200
    )


@pytest.mark.parametrize("refresh_window", [0])
def test_concurrent_refreshes_of_one_token_give_exactly_one_success(app, tokens):
    results = refresh_at_once(app, tokens["refresh_token"])
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [401] * (THREADS - 1), results
    reasons = {body["errors"][0]["extra"]["reason"] for status, body in results if status == 401}
    assert reasons == {"reused"}
    # The losers presented a spent token: the session is revoked, the winner's pair with it.
    (winner,) = [body for status, body in results if status == 200]
    client = app.test_client()
    assert (
        client.get("/api/v1/auth/verify", headers=bearer(winner["access_token"])).status_code == 401
    )
    with app.app_context():
        assert db.session.scalar(select(LoginSession.revoked_at)) is not None


def test_concurrent_logins_each_open_a_session(app, user):
    def attempt(_: int) -> int:
        client = app.test_client()
        return client.post(
            "/api/v1/auth/login", json={"email": user.email, "password": user.password}
        ).status_code

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(attempt, range(8))) == [200] * 8
    with app.app_context():
        assert len(db.session.scalars(select(LoginSession.id)).all()) == 8
