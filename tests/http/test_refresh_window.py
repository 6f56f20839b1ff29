"""Refresh rotation with a reuse window (issue 15) and bounded reuse records (issue 13.5).

Within AUTHSVC_REFRESH_REUSE_WINDOW after a rotation the immediate predecessor is
answered with the same successor; anything older, or the predecessor after the window,
is reuse. Refresh is serialised with every revocation. Through HTTP, on SQLite and (with
AUTHSVC_TEST_DATABASE_URL) PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import jwt
import pytest
from sqlalchemy import func, select

from authsvc.config import ConfigError
from authsvc.core import clock, tokens
from authsvc.extensions import db
from authsvc.models import AuditEvent, LoginSession
from authsvc.services import sessions
from authsvc.services.runtime import keystore
from tests.helpers import PASSWORD, bearer, envelope, error_of

REFRESH = "/api/v1/auth/refresh"
VERIFY = "/api/v1/auth/verify"


def claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def refresh(client, token: str):
    return client.post(REFRESH, json={"refresh_token": token})


def ok(client, token: str) -> dict[str, Any]:
    r = refresh(client, token)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def reason(r) -> str | None:
    return r.get_json()["errors"][0]["extra"]["reason"] if r.status_code == 401 else None


def works(client, pair: dict[str, Any]) -> bool:
    """Does any part of the pair still work? (The refresh token is spent by asking.)"""
    access = client.get(VERIFY, headers=bearer(pair["access_token"])).status_code == 200
    return access or refresh(client, pair["refresh_token"]).status_code == 200


def audit_types(app) -> list[str]:
    with app.app_context():
        types = list(db.session.scalars(select(AuditEvent.type).order_by(AuditEvent.id)))
        db.session.remove()
    return types


def row_counts(app) -> dict[str, int]:
    with app.app_context():
        counts = {
            t.name: db.session.scalar(select(func.count()).select_from(t))
            for t in db.metadata.sorted_tables
        }
        db.session.remove()
    return counts


def same_successor(a: str, b: str) -> bool:
    ca, cb = claims(a), claims(b)
    return all(ca[name] == cb[name] for name in ("jti", "iat", "exp", "sid", "sub", "aud"))


# --- the window ----------------------------------------------------------------------------


def test_a_lost_response_then_a_retry_returns_the_same_successor(frozen, app, client, tokens):
    lost = ok(client, tokens["refresh_token"])  # the client never saw this answer
    clock.advance(timedelta(seconds=9, microseconds=999_000))
    retry = ok(client, tokens["refresh_token"])
    assert same_successor(lost["refresh_token"], retry["refresh_token"])
    assert claims(retry["access_token"])["jti"] != claims(lost["access_token"])["jti"]
    assert claims(retry["access_token"])["iat"] == claims(lost["access_token"])["iat"] + 9
    # both access tokens work; the successor rotates like any refresh token
    assert client.get(VERIFY, headers=bearer(lost["access_token"])).status_code == 200
    assert client.get(VERIFY, headers=bearer(retry["access_token"])).status_code == 200
    nxt = ok(client, retry["refresh_token"])
    assert claims(nxt["refresh_token"])["jti"] != claims(retry["refresh_token"])["jti"]
    assert audit_types(app).count("refresh.reuse_detected") == 0


def test_the_successor_answered_twice_is_one_chain_not_a_fork(frozen, client, tokens):
    first = ok(client, tokens["refresh_token"])
    second = ok(client, tokens["refresh_token"])
    nxt = ok(client, second["refresh_token"])  # rotating one copy of the successor...
    r = refresh(client, first["refresh_token"])  # ...makes the other its predecessor: a retry
    assert r.status_code == 200 and same_successor(
        r.get_json()["refresh_token"], nxt["refresh_token"]
    )


def test_a_grandparent_is_reuse_and_kills_the_session(frozen, app, client, tokens):
    b = ok(client, tokens["refresh_token"])
    c = ok(client, b["refresh_token"])
    r = refresh(client, tokens["refresh_token"])
    assert error_of(r) == envelope("invalid_token", reason="reused")
    assert error_of(refresh(client, c["refresh_token"])) == envelope(
        "invalid_token", reason="revoked"
    )
    for access in (tokens["access_token"], b["access_token"], c["access_token"]):
        assert client.get(VERIFY, headers=bearer(access)).status_code == 401
    assert audit_types(app).count("refresh.reuse_detected") == 1


@pytest.mark.parametrize("refresh_window,after", [(10, 10), (10, 11), (60, 60), (1, 1)])
def test_the_predecessor_after_the_window_is_reuse(
    frozen, app, client, tokens, refresh_window, after
):
    b = ok(client, tokens["refresh_token"])
    clock.advance(after)
    assert reason(refresh(client, tokens["refresh_token"])) == "reused"
    assert reason(refresh(client, b["refresh_token"])) == "revoked"
    assert audit_types(app).count("refresh.reuse_detected") == 1


def test_two_rotations_within_one_second_cannot_be_confused(frozen, app, client, tokens):
    # the same instant: iat of a, b and c are equal; only their jtis tell them apart
    b = ok(client, tokens["refresh_token"])
    c = ok(client, b["refresh_token"])
    assert claims(b["refresh_token"])["iat"] == claims(c["refresh_token"])["iat"]
    r = refresh(client, b["refresh_token"])  # b is c's immediate predecessor
    assert r.status_code == 200 and same_successor(
        r.get_json()["refresh_token"], c["refresh_token"]
    )
    assert reason(refresh(client, tokens["refresh_token"])) == "reused"  # a is older


def test_two_rotations_within_one_real_second(app, client, tokens):
    b = ok(client, tokens["refresh_token"])
    c = ok(client, b["refresh_token"])
    assert claims(c["refresh_token"])["iat"] - claims(b["refresh_token"])["iat"] <= 1
    r = refresh(client, b["refresh_token"])
    assert r.status_code == 200 and same_successor(
        r.get_json()["refresh_token"], c["refresh_token"]
    )
    assert reason(refresh(client, tokens["refresh_token"])) == "reused"


@pytest.mark.parametrize("refresh_window", [0])
def test_window_zero_is_strict_single_use(frozen, app, client, tokens):
    b = ok(client, tokens["refresh_token"])
    assert error_of(refresh(client, tokens["refresh_token"])) == envelope(
        "invalid_token", reason="reused"
    )
    assert reason(refresh(client, b["refresh_token"])) == "revoked"
    assert client.get(VERIFY, headers=bearer(b["access_token"])).status_code == 401
    assert "token.refresh_replayed" not in audit_types(app)


def test_a_replay_is_recorded_once_per_successor(frozen, app, client, tokens):
    b = ok(client, tokens["refresh_token"])
    for _ in range(5):
        ok(client, tokens["refresh_token"])
    assert audit_types(app).count("token.refresh_replayed") == 1
    ok(client, b["refresh_token"])  # a new successor: its first replay is recorded again
    before = row_counts(app)
    for _ in range(3):
        ok(client, b["refresh_token"])
    assert audit_types(app).count("token.refresh_replayed") == 2
    after = row_counts(app)
    assert (
        after["audit_events"] == before["audit_events"] + 1
        and after["sessions"] == before["sessions"]
    )
    with app.app_context():
        detail = db.session.scalars(
            select(AuditEvent.detail).where(AuditEvent.type == "token.refresh_replayed")
        ).all()
    assert all(set(d) == {"session_id", "jti"} for d in detail)


def test_a_retry_is_refused_when_the_user_was_deactivated(frozen, app, client, user, tokens):
    ok(client, tokens["refresh_token"])
    from authsvc.models import User

    with app.app_context():
        db.session.get(User, user.id).is_active = False
        db.session.commit()
    assert reason(refresh(client, tokens["refresh_token"])) == "inactive_user"


def test_no_refresh_token_is_stored(app, client, tokens):
    b = ok(client, tokens["refresh_token"])
    ok(client, tokens["refresh_token"])
    with app.app_context():
        for table in db.metadata.sorted_tables:
            for row in db.session.execute(select(table)).all():
                dumped = repr(tuple(row))
                assert "eyJ" not in dumped, table.name
                for token in (tokens["refresh_token"], b["refresh_token"]):
                    assert token.split(".")[2] not in dumped


# --- issue 13, item 5: reuse of a revoked session is recorded at most once -----------------


@pytest.mark.parametrize("closed_by", ["reuse", "logout"])
def test_replaying_spent_tokens_of_a_revoked_session_grows_no_table(
    frozen, app, client, tokens, closed_by
):
    b = ok(client, tokens["refresh_token"])
    ok(client, b["refresh_token"])  # tokens["refresh_token"] is now a grandparent
    if closed_by == "reuse":
        assert reason(refresh(client, tokens["refresh_token"])) == "reused"
    else:
        client.post("/api/v1/auth/logout", headers=bearer(b["access_token"]))
    before = row_counts(app)
    for _ in range(20):
        r = refresh(client, tokens["refresh_token"])
        assert error_of(r) == envelope("invalid_token", reason="reused")
        clock.advance(30)
    assert (
        row_counts(app) == before
        if closed_by == "reuse"
        else row_counts(app) == {**before, "audit_events": before["audit_events"] + 1}
    )
    assert audit_types(app).count("refresh.reuse_detected") == 1


def test_a_retry_after_logout_is_revoked_not_reuse(frozen, app, client, tokens):
    b = ok(client, tokens["refresh_token"])
    assert client.post("/api/v1/auth/logout", headers=bearer(b["access_token"])).status_code == 204
    assert (
        reason(refresh(client, tokens["refresh_token"])) == "revoked"
    )  # the predecessor, in the window
    assert reason(refresh(client, b["refresh_token"])) == "revoked"
    assert "refresh.reuse_detected" not in audit_types(app)


# --- refresh racing a revocation ------------------------------------------------------------


def _revocations(client, user, admin_token):
    """Each way to end a session, given the access token of the session to end."""

    def logout(pair):
        assert (
            client.post("/api/v1/auth/logout", headers=bearer(pair["access_token"])).status_code
            == 204
        )

    def revoke_session(pair):
        sid = claims(pair["access_token"])["sid"]
        r = client.delete(f"/api/v1/auth/sessions/{sid}", headers=bearer(pair["access_token"]))
        assert r.status_code == 204

    def sign_out_everywhere(pair):
        assert (
            client.delete("/api/v1/auth/sessions", headers=bearer(pair["access_token"])).status_code
            == 204
        )

    def change_password(pair):  # from another session: this one is one of the "others"
        other = client.post(
            "/api/v1/auth/login", json={"email": user.email, "password": user.password}
        ).get_json()
        r = client.post(
            "/api/v1/auth/password",
            headers=bearer(other["access_token"]),
            json={"current_password": user.password, "new_password": "Tundra-Gable-73-orchid"},
        )
        assert r.status_code == 204, r.get_json()

    def deactivate(pair):
        r = client.patch(
            f"/api/v1/users/{user.id}", json={"is_active": False}, headers=bearer(admin_token)
        )
        assert r.status_code == 200

    def revoke_refresh_token(pair):
        assert (
            client.post("/api/v1/auth/revoke", json={"token": pair["refresh_token"]}).status_code
            == 200
        )

    return {
        f.__name__: f
        for f in (
            logout,
            revoke_session,
            sign_out_everywhere,
            change_password,
            deactivate,
            revoke_refresh_token,
        )
    }


REVOCATIONS = [
    "logout",
    "revoke_session",
    "sign_out_everywhere",
    "change_password",
    "deactivate",
    "revoke_refresh_token",
]


@pytest.mark.parametrize("path", ["rotation", "replay"])
@pytest.mark.parametrize("revocation", REVOCATIONS)
def test_a_revocation_committed_while_a_refresh_is_in_flight_wins(
    app, client, user, admin_token, login, monkeypatch, revocation, path
):
    """The revocation commits after the refresh has read a live session, before it answers."""
    pair = login(user)
    if path == "replay":
        pair = {**ok(client, pair["refresh_token"]), "presented": pair["refresh_token"]}
    else:
        pair = {**pair, "presented": pair["refresh_token"]}
    revoke = _revocations(app.test_client(), user, admin_token)[revocation]
    target = "mint" if path == "rotation" else "_sign_refresh"
    real = getattr(sessions, target)
    fired = []

    def racing(*args: Any, **kwargs: Any) -> Any:
        if not fired:
            fired.append(True)
            revoke(pair)  # another request, its own transaction, commits now
        return real(*args, **kwargs)

    monkeypatch.setattr(sessions, target, racing)
    r = refresh(client, pair["presented"])
    monkeypatch.undo()
    assert fired
    if r.status_code == 200:
        assert not works(client, r.get_json()), (
            "a refresh racing a revocation returned a working pair"
        )
    else:
        assert reason(r) in {"revoked", "inactive_user"}
    # and later: nothing of the session refreshes
    assert reason(refresh(client, pair["presented"])) in {"revoked", "inactive_user"}
    assert client.get(VERIFY, headers=bearer(pair["access_token"])).status_code == 401


@pytest.mark.parametrize("revocation", REVOCATIONS)
def test_after_a_revocation_commits_no_refresh_returns_a_pair(
    frozen, app, client, user, admin_token, login, revocation
):
    pair = login(user)
    b = ok(client, pair["refresh_token"])
    _revocations(app.test_client(), user, admin_token)[revocation](b)
    for token in (pair["refresh_token"], b["refresh_token"]):  # the predecessor and the current one
        assert reason(refresh(client, token)) in {"revoked", "inactive_user"}
    assert "refresh.reuse_detected" not in audit_types(app)


# --- audience --------------------------------------------------------------------------------


def test_refresh_tokens_carry_the_issuer_as_audience(app, client, tokens):
    b = ok(client, tokens["refresh_token"])
    for token in (tokens["refresh_token"], b["refresh_token"]):
        assert claims(token)["aud"] == app.extensions["authsvc"].settings.issuer
    assert claims(tokens["access_token"])["aud"] == app.extensions["authsvc"].settings.audience
    with app.app_context():
        public = keystore().signing_key().verifying
    # a resource server that checks aud but forgets typ refuses it
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(b["refresh_token"], public, algorithms=["ES256"], audience="authsvc")
    assert jwt.decode(b["access_token"], public, algorithms=["ES256"], audience="authsvc")


def test_a_refresh_token_from_before_the_change_rotates_once_into_the_new_audience(
    app, client, tokens
):
    """Refresh tokens signed with aud = AUTHSVC_AUDIENCE (before 0003) keep working."""
    sid, sub = claims(tokens["refresh_token"])["sid"], claims(tokens["refresh_token"])["sub"]
    with app.app_context():
        s = app.extensions["authsvc"].settings
        now = clock.now()
        legacy, legacy_claims = tokens_encode_legacy(s, sid, sub, now)
        db.session.get(LoginSession, sid).refresh_jti = legacy_claims["jti"]
        db.session.commit()
    assert claims(legacy)["aud"] == "authsvc"
    b = ok(client, legacy)
    assert claims(b["refresh_token"])["aud"] == app.extensions["authsvc"].settings.issuer
    r = refresh(client, legacy)  # a retry of it, within the window
    assert r.status_code == 200 and same_successor(
        r.get_json()["refresh_token"], b["refresh_token"]
    )
    assert ok(client, b["refresh_token"])


def tokens_encode_legacy(s, sid, sub, now, key=None):
    return tokens.encode(
        "refresh",
        subject=sub,
        scopes=["read"],
        key=key or keystore().signing_key(),
        issuer=s.issuer,
        audience=s.audience,
        now=now,
        expires_at=now + s.refresh_ttl,
        session_id=sid,
    )


def test_a_refresh_token_is_never_an_active_bearer(app, client, admin, login):
    pair = login(admin)
    b = ok(client, pair["refresh_token"])
    r = client.post(
        "/api/v1/auth/introspect",
        json={"token": b["refresh_token"]},
        headers=bearer(pair["access_token"]),
    )
    assert r.status_code == 200 and r.get_json() == {"active": False}
    r = client.get(VERIFY, headers=bearer(b["refresh_token"]))
    assert error_of(r) == envelope("invalid_token", reason="wrong_type")


# --- the setting ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", [-1, 61, True, "10"])
def test_the_window_setting_is_validated(config, tmp_path, monkeypatch, value):
    from authsvc import create_app

    monkeypatch.setenv("AUTHSVC_INSTANCE_PATH", str(tmp_path / "instance"))
    with pytest.raises(ConfigError, match="AUTHSVC_REFRESH_REUSE_WINDOW"):
        create_app({**config, "AUTHSVC_REFRESH_REUSE_WINDOW": value})


def test_the_window_setting_reads_from_the_environment(config, tmp_path, monkeypatch):
    from authsvc import create_app

    monkeypatch.setenv("AUTHSVC_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("AUTHSVC_REFRESH_REUSE_WINDOW", "0")
    app = create_app(config)
    assert app.extensions["authsvc"].settings.refresh_reuse_window == timedelta(0)


def test_audience_equal_to_issuer_is_refused(config, tmp_path, monkeypatch):
    from authsvc import create_app

    monkeypatch.setenv("AUTHSVC_INSTANCE_PATH", str(tmp_path / "instance"))
    with pytest.raises(ConfigError, match="AUTHSVC_AUDIENCE"):
        create_app({**config, "AUTHSVC_AUDIENCE": config["AUTHSVC_ISSUER"]})


# --- the migration ---------------------------------------------------------------------------


@pytest.fixture
def scratch_database(database_url, tmp_path):
    """A database of its own (the test migrates it down and up): SQLite, or PostgreSQL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'm.sqlite3'}"
        return
    url = make_url(database_url)
    name = f"{url.database}_m"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_migration_0003_keeps_each_sessions_live_token_and_downgrades(
    config, tmp_path, monkeypatch, scratch_database
):
    """Down to 0001, a session with a spent and a live refresh token, up again: the live one works."""
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import text

    from authsvc import create_app
    from authsvc.core.principal import Client
    from authsvc.services import users as user_service
    from authsvc.web import migrate as schema

    monkeypatch.setenv("AUTHSVC_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app({**config, "AUTHSVC_DATABASE_URL": scratch_database})
    with app.app_context():
        schema.init_migrations(app)
        user_id = user_service.create_user("old@example.com", PASSWORD, client=Client()).id
        signing = keystore().signing_key()  # the key store reads columns the downgrade drops
        db.session.remove()
        downgrade(directory=schema.MIGRATIONS, revision="0001")
        s = app.extensions["authsvc"].settings
        now = clock.now()
        live, live_claims = tokens_encode_legacy(s, "s" * 32, user_id, now, signing)
        spent, spent_claims = tokens_encode_legacy(
            s, "s" * 32, user_id, now - timedelta(hours=1), signing
        )
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at)"
                    " VALUES (:id, :u, :t, :t, :e)"
                ),
                {
                    "id": "s" * 32,
                    "u": user_id,
                    "t": now.replace(tzinfo=None),
                    "e": (now + s.refresh_ttl).replace(tzinfo=None),
                },
            )
            for c, used in ((spent_claims, now), (live_claims, None)):
                conn.execute(
                    text(
                        "INSERT INTO refresh_tokens (jti, session_id, issued_at, expires_at,"
                        " used_at) VALUES (:j, :s, :i, :e, :u)"
                    ),
                    {
                        "j": c["jti"],
                        "s": "s" * 32,
                        "i": now.replace(tzinfo=None),
                        "e": (now + s.refresh_ttl).replace(tzinfo=None),
                        "u": used and used.replace(tzinfo=None),
                    },
                )
        upgrade(directory=schema.MIGRATIONS)
        assert db.session.get(LoginSession, "s" * 32).refresh_jti == live_claims["jti"]
        db.session.remove()
    client = app.test_client()
    assert reason(refresh(client, spent)) == "reused"  # spent before the upgrade: still reuse
    with app.app_context():  # the reuse closed it; open it again to try the live token
        db.session.get(LoginSession, "s" * 32).revoked_at = None
        db.session.get(LoginSession, "s" * 32).reuse_recorded_at = None
        db.session.commit()
    new = ok(client, live)
    assert claims(new["refresh_token"])["aud"] == config["AUTHSVC_ISSUER"]
    with app.app_context():
        downgrade(directory=schema.MIGRATIONS, revision="0001")
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT jti FROM refresh_tokens")).scalars().all() == [
                claims(new["refresh_token"])["jti"]
            ]
        upgrade(directory=schema.MIGRATIONS)
        db.session.remove()
        db.engine.dispose()
