"""Code redemption under concurrency (issue 16): one conditional UPDATE decides, exactly one wins.

Threads here (each its own connection, SQLite or PostgreSQL), and separate processes
in `test_concurrent_redemptions_across_processes`.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from authsvc.extensions import db
from authsvc.models import AuthorizationCode, LoginSession
from tests.helpers import TestUser, bearer
from tests.oauth_helpers import REDIRECT, Flow, basic

THREADS = 8


@pytest.fixture
def flow(
    client: FlaskClient,
    make_user: Callable[..., TestUser],
    user: TestUser,
    login: Callable[..., dict[str, Any]],
) -> Flow:
    root = make_user("root@example.com", is_admin=True, scopes=["read", "write", "admin"])
    return Flow(client, login(root)["access_token"], login(user)["access_token"])


def _form(code: str, verifier: str) -> dict[str, str]:
    return {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }


def test_concurrent_redemptions_of_one_code_give_exactly_one_success(
    app: Flask, flow: Flow
) -> None:
    partner = flow.register()
    code, verifier = flow.code(partner)
    start = threading.Barrier(THREADS)
    headers = basic(partner["client_id"], partner["client_secret"])

    def attempt(_: int) -> tuple[int, dict[str, Any]]:
        client = app.test_client()
        start.wait(timeout=30)
        r = client.post("/api/v1/auth/oauth2/token", data=_form(code, verifier), headers=headers)
        return r.status_code, r.get_json()

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(attempt, range(THREADS)))
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [400] * (THREADS - 1), results
    assert {body["error"] for status, body in results if status == 400} == {"invalid_grant"}
    with app.app_context():
        assert (
            db.session.scalar(
                select(func.count())
                .select_from(LoginSession)
                .where(LoginSession.client_id == partner["client_id"])
            )
            == 1
        )
        assert db.session.scalar(select(AuthorizationCode.redeemed_at)) is not None
    # The losers were replays: what the winner got is revoked.
    (winner,) = [body for status, body in results if status == 200]
    assert (
        app.test_client()
        .get("/api/v1/auth/verify", headers=bearer(winner["access_token"]))
        .status_code
        == 401
    )


def _redeem_in_process(
    config: dict[str, Any],
    instance: str,
    code: str,
    verifier: str,
    headers: dict[str, str],
    barrier: Any,
    out: Any,
) -> None:
    import os

    os.environ["AUTHSVC_INSTANCE_PATH"] = instance
    from authsvc import create_app

    app = create_app(config)
    client = app.test_client()
    barrier.wait(timeout=60)
    r = client.post("/api/v1/auth/oauth2/token", data=_form(code, verifier), headers=headers)
    out.put(r.status_code)


@pytest.mark.slow
def test_concurrent_redemptions_across_processes(
    app: Flask, flow: Flow, config: dict[str, Any], tmp_path: Any
) -> None:
    partner = flow.register()
    code, verifier = flow.code(partner)
    headers = basic(partner["client_id"], partner["client_secret"])
    ctx = multiprocessing.get_context("spawn")
    processes = 3
    barrier = ctx.Barrier(processes)
    out = ctx.Queue()
    workers = [
        ctx.Process(
            target=_redeem_in_process,
            args=(config, str(tmp_path / "instance"), code, verifier, headers, barrier, out),
        )
        for _ in range(processes)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    statuses = sorted(out.get(timeout=5) for _ in range(processes))
    assert statuses == [200] + [400] * (processes - 1)
