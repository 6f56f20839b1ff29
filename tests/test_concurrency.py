"""Refresh rotation under concurrency: the database decides, exactly one wins."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from authsvc.extensions import db
from authsvc.models import Session
from tests.conftest import bearer

REFRESH = "/api/v1/auth/refresh"
THREADS = 16


def test_concurrent_refreshes_of_one_token_give_exactly_one_success(app, tokens):
    start = threading.Barrier(THREADS)

    def attempt(_: int) -> tuple[int, dict]:
        client = app.test_client()
        start.wait(timeout=30)
        r = client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
        return r.status_code, r.get_json()

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(attempt, range(THREADS)))
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [401] * (THREADS - 1), results
    reasons = {body["errors"][0]["extra"]["reason"] for status, body in results if status == 401}
    assert reasons == {"reused"}
    # The losers presented a spent token: the session is revoked, the winner's pair with it.
    (winner,) = [body for status, body in results if status == 200]
    client = app.test_client()
    assert client.get("/api/v1/auth/verify", headers=bearer(winner["access_token"])).status_code == 401
    with app.app_context():
        assert db.session.scalar(select(Session.revoked_at)) is not None


def test_concurrent_logins_each_open_a_session(app, user):
    def attempt(_: int) -> int:
        client = app.test_client()
        return client.post("/api/v1/auth/login",
                           json={"email": user.email, "password": user.password}).status_code

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(attempt, range(8))) == [200] * 8
    with app.app_context():
        assert len(db.session.scalars(select(Session.id)).all()) == 8
