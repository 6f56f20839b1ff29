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


# --- Audit log growth -----------------------------------------------------------------------

def test_revoking_an_already_revoked_token_writes_nothing(app, client, user, login):
    pair = login(user)
    r = client.post("/api/v1/private-tokens", headers=bearer(pair["access_token"]),
                    json={"name": "ci", "expires_in_days": 30})
    private = r.get_json()["token"]
    revoked = AuditEvent.type == "token.revoked"
    for token in (pair["access_token"], private, pair["refresh_token"]):
        before = count(app, AuditEvent, revoked)
        for _ in range(10):
            r = client.post(REVOKE, json={"token": token})
            assert r.status_code == 200 and r.get_json() == {}
        assert count(app, AuditEvent, revoked) == before + 1
    assert count(app, RevokedToken) == 1
    assert count(app, AuditEvent, revoked) == 3


# --- Prune and leeway -----------------------------------------------------------------------

def test_prune_keeps_a_revoked_access_token_until_exp_plus_leeway(frozen, app, client, runner,
                                                                  user, login):
    access = login(user)["access_token"]
    assert client.post(REVOKE, json={"token": access}).status_code == 200
    clock.advance(timedelta(seconds=3600 + 5))  # past exp, inside the 10 s leeway
    assert runner.invoke(args=["prune"]).output.startswith("revoked_tokens: 0 deleted")
    r = client.get(VERIFY, headers=bearer(access))
    assert r.status_code == 401 and error_of(r) == envelope("invalid_token", reason="revoked")
    clock.advance(timedelta(seconds=5))  # exp + leeway: expired on its own, now it may go
    r = client.get(VERIFY, headers=bearer(access))
    assert r.status_code == 401 and error_of(r) == envelope("invalid_token", reason="expired")
    assert runner.invoke(args=["prune"]).output.startswith("revoked_tokens: 1 deleted")


def test_refusals_while_locked_are_audited_once_per_lock(frozen, app, client, user):
    for _ in range(5):
        fail_login(client, user.email)
        fail_login(client, "ghost@example.com")
    for _ in range(10):
        assert fail_login(client, user.email, PASSWORD).status_code == 429
        assert fail_login(client, "ghost@example.com").status_code == 429
    failed = AuditEvent.type == "login.failed"
    with app.app_context():
        reasons = [(r.user_id, r.detail["reason"]) for r in db.session.scalars(
            select(AuditEvent).where(failed).order_by(AuditEvent.id))]
    assert reasons.count((user.id, "locked_out")) == 1
    assert reasons.count((None, "locked_out")) == 1
    assert len(reasons) == 12
    clock.advance(timedelta(seconds=901))  # a new lock is recorded again
    for _ in range(6):
        fail_login(client, user.email)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            failed, AuditEvent.user_id == user.id)) == 5 + 1 + 5 + 1
