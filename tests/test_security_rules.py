"""Issue 13: rules found missing by an outside attack run (see docs/security.md)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from authsvc import clock
from authsvc.extensions import db
from authsvc.failure_log import SWEEP_BATCH
from authsvc.models import AuditEvent, LoginFailure, RevokedToken
from tests.conftest import PASSWORD, bearer, envelope, error_of

LOGIN = "/api/v1/auth/login"
VERIFY = "/api/v1/auth/verify"
REVOKE = "/api/v1/auth/revoke"
WRONG = "not-the-password-42"


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def fail_login(client, email: str, password: str = WRONG):
    return client.post(LOGIN, json={"email": email, "password": password})


# --- Lockout storage ------------------------------------------------------------------------

def test_two_apps_over_one_database_share_the_lockout_without_redis(frozen, app, make_app, user):
    """Two app instances (as two gunicorn workers) over one database: one count, not two."""
    one, two = app.test_client(), make_app().test_client()
    for client in (one, two, one, two, one):
        assert fail_login(client, user.email).status_code == 401
    r = fail_login(two, user.email, PASSWORD)  # the 6th attempt, right password, other worker
    assert r.status_code == 429 and error_of(r)["code"] == "rate_limited"
    assert r.headers["Retry-After"] == "900"
    assert fail_login(one, user.email, PASSWORD).status_code == 429
    clock.advance(timedelta(seconds=900))
    assert fail_login(two, user.email, PASSWORD).status_code == 200


def test_failure_rows_are_capped_per_key_and_expire_with_the_window(frozen, app):
    client = app.test_client()
    for _ in range(12):  # 5 failures, then refusals that add nothing
        fail_login(client, "ghost@example.com")
    assert count(app, LoginFailure) == 5
    for i in range(30):  # made-up emails: each adds one row, until the window has passed
        fail_login(client, f"ghost{i}@example.com")
    assert count(app, LoginFailure) == 35
    clock.advance(timedelta(seconds=901))
    fail_login(client, "late@example.com")  # one reservation sweeps what the window left behind
    assert count(app, LoginFailure) == 1 and SWEEP_BATCH >= 35
    assert count(app, LoginFailure, LoginFailure.pending.is_(True)) == 0
