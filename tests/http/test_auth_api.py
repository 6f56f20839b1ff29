"""Login, refresh, logout, sessions, verify, revoke, register, password: through HTTP."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import jwt
import pytest
from sqlalchemy import select

from authsvc.core import clock
from authsvc.extensions import db
from authsvc.models import AuditEvent, LoginSession, RevokedToken, User
from tests.helpers import PASSWORD, bearer, count_rows, envelope, error_of

LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
VERIFY = "/api/v1/auth/verify"


def assert_token_rejected(client, access_token: str, reason: str) -> None:
    r = client.get(VERIFY, headers=bearer(access_token))
    assert r.status_code == 401
    assert error_of(r) == envelope("invalid_token", reason=reason)
    assert r.headers["WWW-Authenticate"].startswith('Bearer realm="authsvc", error="invalid_token"')


# --- login -------------------------------------------------------------------------------


def test_login_returns_typed_tokens_with_every_claim(client, user, login):
    pair = login(user)
    assert set(pair) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert pair["token_type"] == "bearer" and pair["expires_in"] == 3600
    access_header = jwt.get_unverified_header(pair["access_token"])
    refresh_header = jwt.get_unverified_header(pair["refresh_token"])
    assert access_header["typ"] == "at+jwt" and access_header["alg"] == "ES256"
    assert refresh_header["typ"] == "authsvc-rt+jwt"
    claims = jwt.decode(pair["access_token"], options={"verify_signature": False})
    registered = {"iss", "aud", "sub", "iat", "exp", "jti", "scope", "sid", "client_id"}
    assert set(claims) == registered | {"status"}  # the status list reference (issue 18)
    assert claims["client_id"] == "authsvc"  # RFC 9068: first-party logins are client "authsvc"
    assert claims["sub"] == user.id and claims["scope"] == "read write"
    assert claims["exp"] - claims["iat"] == 3600
    refresh_claims = jwt.decode(pair["refresh_token"], options={"verify_signature": False})
    assert refresh_claims["sid"] == claims["sid"] and refresh_claims["jti"] != claims["jti"]


def test_login_email_is_case_insensitive_and_opens_a_session(app, client, user):
    r = client.post(
        LOGIN,
        json={"email": "  ALICE@Example.COM ", "password": PASSWORD},
        headers={"User-Agent": "pytest-agent"},
    )
    assert r.status_code == 200, r.get_json()
    assert r.headers["Cache-Control"] == "no-store"
    with app.app_context():
        (session,) = db.session.scalars(select(LoginSession)).all()
        assert session.user_id == user.id and session.user_agent == "pytest-agent"
        assert session.ip == "127.0.0.1"


@pytest.mark.parametrize(
    "email,password",
    [
        ("alice@example.com", "wrong-password-123456"),
        ("nobody@example.com", PASSWORD),
    ],
)
def test_login_failure_is_one_answer_and_writes_no_session(app, client, user, email, password):
    r = client.post(LOGIN, json={"email": email, "password": password})
    assert r.status_code == 401
    assert error_of(r) == envelope("invalid_credentials")
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="authsvc"'
    assert count_rows(app, LoginSession) == 0
    with app.app_context():
        event = db.session.scalars(
            select(AuditEvent).where(AuditEvent.type == "login.failed")
        ).one()
        assert "password" not in str(event.detail)


def test_inactive_user_cannot_log_in(app, client, user):
    with app.app_context():
        db.session.get(User, user.id).is_active = False
        db.session.commit()
    r = client.post(LOGIN, json={"email": user.email, "password": user.password})
    assert r.status_code == 401 and error_of(r) == envelope("invalid_credentials")


@pytest.mark.parametrize(
    "body,attr,code",
    [
        ({"password": PASSWORD}, "email", "required"),
        ({"email": "alice@example.com"}, "password", "required"),
        ({"email": None, "password": PASSWORD}, "email", "null"),
        ({"email": "", "password": PASSWORD}, "email", "blank"),
        ({"email": "not-an-email", "password": PASSWORD}, "email", "invalid"),
        ({"email": 42, "password": PASSWORD}, "email", "invalid"),
        ({"email": "alice@example.com", "password": "x" * 1025}, "password", "too_long"),
        ({"email": "alice@example.com", "password": "a\x00b" * 5}, "password", "invalid"),
        ({"email": "alice@example.com", "password": "\ud800" * 12}, "password", "invalid"),
        ({"email": "alice@example.com", "password": ["list"]}, "password", "invalid"),
    ],
)
def test_login_bad_body_is_400_per_field(app, client, user, body, attr, code):
    r = client.post(LOGIN, json=body)
    assert r.status_code == 400
    assert error_of(r) == envelope(code, type="validation_error", attr=attr)
    assert count_rows(app, LoginSession) == 0


def test_login_reports_every_bad_field(client):
    r = client.post(LOGIN, json={})
    assert r.status_code == 400
    body = r.get_json()
    assert body["type"] == "validation_error"
    assert sorted((e["attr"], e["code"]) for e in body["errors"]) == [
        ("email", "required"),
        ("password", "required"),
    ]


def test_login_rehashes_when_parameters_change(app, client, user, config):
    with app.app_context():
        old = db.session.get(User, user.id).password_hash
    assert "m=256,t=1" in old
    rt = app.extensions["authsvc"]
    app.extensions["authsvc"] = dataclasses.replace(
        rt,
        settings=dataclasses.replace(
            rt.settings, argon2_memory_kib=512, argon2_time_cost=2, argon2_parallelism=1
        ),
    )
    assert client.post(LOGIN, json={"email": user.email, "password": PASSWORD}).status_code == 200
    with app.app_context():
        new = db.session.get(User, user.id).password_hash
    assert "m=512,t=2" in new


# --- refresh -----------------------------------------------------------------------------


def test_refresh_rotates(app, client, tokens):
    r = client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 200
    new = r.get_json()
    assert set(new) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert new["refresh_token"] != tokens["refresh_token"]
    assert client.get(VERIFY, headers=bearer(new["access_token"])).status_code == 200
    r = client.post(REFRESH, json={"refresh_token": new["refresh_token"]})
    assert r.status_code == 200


@pytest.mark.parametrize("refresh_window", [0])
def test_reused_refresh_token_revokes_the_whole_session(app, client, tokens):
    first = client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]}).get_json()
    r = client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 401
    assert error_of(r) == envelope("invalid_token", reason="reused")
    # the newest refresh token and every access token of the session are dead too
    r = client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert error_of(r) == envelope("invalid_token", reason="revoked")
    assert_token_rejected(client, first["access_token"], "revoked")
    assert_token_rejected(client, tokens["access_token"], "revoked")
    with app.app_context():
        assert (
            db.session.scalars(select(AuditEvent.type)).all().count("refresh.reuse_detected") == 1
        )


@pytest.mark.parametrize("refresh_window", [0])
def test_reuse_does_not_touch_other_sessions(client, user, login, tokens):
    other = login(user)
    client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert client.get(VERIFY, headers=bearer(other["access_token"])).status_code == 200


def test_access_token_is_refused_at_refresh(client, tokens):
    r = client.post(REFRESH, json={"refresh_token": tokens["access_token"]})
    assert r.status_code == 401
    assert error_of(r) == envelope("invalid_token", reason="wrong_type")


def test_refresh_token_is_refused_as_bearer(client, tokens):
    assert_token_rejected(client, tokens["refresh_token"], "wrong_type")


def test_expired_refresh_token(client, user, login, frozen):
    pair = login(user)
    clock.advance(timedelta(days=30, seconds=11))
    r = client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})
    assert error_of(r) == envelope("invalid_token", reason="expired")


def test_refresh_of_inactive_user_is_refused_and_spends_nothing(app, client, user, tokens):
    with app.app_context():
        db.session.get(User, user.id).is_active = False
        db.session.commit()
    r = client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert error_of(r) == envelope("invalid_token", reason="inactive_user")
    with app.app_context():
        session = db.session.scalars(select(LoginSession)).one()
        assert (
            session.refresh_jti
            == jwt.decode(tokens["refresh_token"], options={"verify_signature": False})["jti"]
        )
        assert session.previous_refresh_jti is None


@pytest.mark.parametrize(
    "body,attr,code",
    [
        ({}, "refresh_token", "required"),
        ({"refresh_token": None}, "refresh_token", "null"),
        ({"refresh_token": ""}, "refresh_token", "blank"),
        ({"refresh_token": 7}, "refresh_token", "invalid"),
    ],
)
def test_refresh_bad_body(client, body, attr, code):
    r = client.post(REFRESH, json=body)
    assert r.status_code == 400
    assert error_of(r) == envelope(code, type="validation_error", attr=attr)


def test_refresh_garbage_token_is_malformed(client):
    r = client.post(REFRESH, json={"refresh_token": "abc.def"})
    assert error_of(r) == envelope("invalid_token", reason="malformed")


# --- logout and sessions ----------------------------------------------------------------


def test_logout_revokes_access_and_refresh_of_that_session(client, tokens):
    r = client.post("/api/v1/auth/logout", headers=bearer(tokens["access_token"]))
    assert r.status_code == 204 and r.data == b""
    assert_token_rejected(client, tokens["access_token"], "revoked")
    r = client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert error_of(r) == envelope("invalid_token", reason="revoked")


def test_logout_needs_credentials(client):
    r = client.post("/api/v1/auth/logout")
    assert r.status_code == 401
    assert error_of(r) == envelope("not_authenticated")
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="authsvc"'


def test_sessions_list_marks_current(client, user, login, frozen):
    first = login(user)
    clock.advance(5)
    second = login(user)
    r = client.get("/api/v1/auth/sessions", headers=bearer(second["access_token"]))
    assert r.status_code == 200
    items = r.get_json()["items"]
    assert len(items) == 2
    assert set(items[0]) == {"id", "created_at", "last_used_at", "user_agent", "ip", "current"}
    assert [i["current"] for i in items] == [True, False]
    assert items[1]["created_at"] == "2026-11-22T10:00:00Z"
    sid = jwt.decode(first["access_token"], options={"verify_signature": False})["sid"]
    assert items[1]["id"] == sid


def test_delete_one_session(client, user, login):
    first, second = login(user), login(user)
    sid = jwt.decode(first["access_token"], options={"verify_signature": False})["sid"]
    r = client.delete(f"/api/v1/auth/sessions/{sid}", headers=bearer(second["access_token"]))
    assert r.status_code == 204
    assert_token_rejected(client, first["access_token"], "revoked")
    assert client.get(VERIFY, headers=bearer(second["access_token"])).status_code == 200
    r = client.get("/api/v1/auth/sessions", headers=bearer(second["access_token"]))
    assert [i["current"] for i in r.get_json()["items"]] == [True]


def test_another_users_session_is_not_found(client, user, make_user, login):
    bob = make_user("bob@example.com")
    mine, theirs = login(user), login(bob)
    sid = jwt.decode(theirs["access_token"], options={"verify_signature": False})["sid"]
    for target in (sid, "no-such-session"):
        r = client.delete(f"/api/v1/auth/sessions/{target}", headers=bearer(mine["access_token"]))
        assert r.status_code == 404 and error_of(r) == envelope("not_found")
    assert client.get(VERIFY, headers=bearer(theirs["access_token"])).status_code == 200


def test_delete_all_sessions(client, user, login):
    first, second = login(user), login(user)
    assert (
        client.delete("/api/v1/auth/sessions", headers=bearer(second["access_token"])).status_code
        == 204
    )
    assert_token_rejected(client, first["access_token"], "revoked")
    assert_token_rejected(client, second["access_token"], "revoked")


def test_last_used_at_moves_at_most_once_a_minute(frozen, app, client, tokens):
    headers = bearer(tokens["access_token"])
    clock.advance(30)
    client.get(VERIFY, headers=headers)
    with app.app_context():
        assert db.session.scalar(select(LoginSession.last_used_at)) == frozen
    clock.advance(31)
    client.get(VERIFY, headers=headers)
    with app.app_context():
        assert db.session.scalar(select(LoginSession.last_used_at)) == frozen + timedelta(
            seconds=61
        )


# --- verify ------------------------------------------------------------------------------


def test_verify_describes_the_token(frozen, client, user, tokens):
    r = client.get(VERIFY, headers=bearer(tokens["access_token"]))
    assert r.status_code == 200
    body = r.get_json()
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert body == {
        "active": True,
        "token_type": "access",
        "sub": user.id,
        "email": user.email,
        "scopes": ["read", "write"],
        "jti": claims["jti"],
        "iat": "2026-11-22T10:00:00Z",
        "exp": "2026-11-22T11:00:00Z",
        "owner_type": "user",
    }


def test_verify_scopes_follow_the_users_current_scopes(app, client, user, tokens):
    with app.app_context():
        db.session.get(User, user.id).scopes = "read"
        db.session.commit()
    assert client.get(VERIFY, headers=bearer(tokens["access_token"])).get_json()["scopes"] == [
        "read"
    ]


def test_expired_access_token(client, user, login, frozen):
    pair = login(user)
    clock.advance(3600 + 9)
    assert client.get(VERIFY, headers=bearer(pair["access_token"])).status_code == 200
    clock.advance(1)
    assert_token_rejected(client, pair["access_token"], "expired")


def test_inactive_users_access_token_is_refused_at_once(app, client, user, tokens):
    with app.app_context():
        db.session.get(User, user.id).is_active = False
        db.session.commit()
    assert_token_rejected(client, tokens["access_token"], "inactive_user")


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Basic YWxpY2U6cGFzcw=="},
        {},
    ],
)
def test_verify_without_bearer_credentials(client, headers):
    r = client.get(VERIFY, headers=headers)
    assert r.status_code == 401 and error_of(r) == envelope("not_authenticated")


def test_token_in_query_string_is_refused(client, tokens):
    r = client.get(VERIFY + "?access_token=" + tokens["access_token"])
    assert r.status_code == 400 and error_of(r)["attr"] == "access_token"


def test_bearer_and_api_key_disagreeing_is_400(client, user, login, tokens):
    other = login(user)
    r = client.get(
        VERIFY, headers={**bearer(tokens["access_token"]), "X-API-Key": other["access_token"]}
    )
    assert r.status_code == 400 and error_of(r)["code"] == "invalid"


# --- revoke ------------------------------------------------------------------------------


def test_revoke_access_token_by_jti(app, client, tokens):
    r = client.post("/api/v1/auth/revoke", json={"token": tokens["access_token"]})
    assert r.status_code == 200 and r.get_json() == {}
    assert_token_rejected(client, tokens["access_token"], "revoked")
    # only that token: the session's refresh token still works
    assert client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]}).status_code == 200
    with app.app_context():
        (row,) = db.session.scalars(select(RevokedToken)).all()
        claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
        assert row.jti == claims["jti"] and int(row.expires_at.timestamp()) == claims["exp"]


def test_revoke_refresh_token_takes_its_session(client, tokens):
    assert (
        client.post("/api/v1/auth/revoke", json={"token": tokens["refresh_token"]}).status_code
        == 200
    )
    assert_token_rejected(client, tokens["access_token"], "revoked")


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "x" * 5000])
def test_revoke_invalid_token_is_200_and_writes_nothing(app, client, token):
    r = client.post("/api/v1/auth/revoke", json={"token": token})
    assert r.status_code == 200 and r.get_json() == {}
    assert count_rows(app, RevokedToken) == 0 and count_rows(app, AuditEvent) == 0


def test_revoke_twice_is_fine(client, tokens):
    for _ in range(2):
        assert (
            client.post("/api/v1/auth/revoke", json={"token": tokens["access_token"]}).status_code
            == 200
        )


# --- register ----------------------------------------------------------------------------


def test_register_is_closed_by_default(app, client):
    r = client.post(
        "/api/v1/auth/register", json={"email": "new@example.com", "password": PASSWORD}
    )
    assert r.status_code == 403 and error_of(r) == envelope("permission_denied")
    assert count_rows(app, User) == 0


@pytest.fixture
def open_registration(config):
    config["AUTHSVC_OPEN_REGISTRATION"] = True


def test_register_when_open(open_registration, app, client):
    r = client.post(
        "/api/v1/auth/register", json={"email": "New@Example.com", "password": PASSWORD}
    )
    assert r.status_code == 201
    body = r.get_json()
    assert set(body) == {"id", "email", "scopes", "is_admin", "totp_enabled", "created_at"}
    assert body["email"] == "new@example.com" and body["scopes"] == ["read", "write"]
    assert body["is_admin"] is False and body["totp_enabled"] is False
    r = client.post(LOGIN, json={"email": "new@example.com", "password": PASSWORD})
    assert r.status_code == 200


def test_register_taken_email_is_409(open_registration, app, client, user):
    r = client.post(
        "/api/v1/auth/register", json={"email": "ALICE@example.com", "password": PASSWORD}
    )
    assert r.status_code == 409 and error_of(r) == envelope("conflict", attr="email")
    assert count_rows(app, User) == 1


@pytest.mark.parametrize(
    "password",
    [
        "short-1A!",
        "password1234",
        "aaaaaaaaaaaaaaaa",
        "qwertyuiop123",
        "new@example.com",
        "new@example.com-Zq81",
    ],
)
def test_register_weak_password(open_registration, app, client, password):
    r = client.post(
        "/api/v1/auth/register", json={"email": "new@example.com", "password": password}
    )
    assert r.status_code == 400
    assert error_of(r) == envelope("weak_password", type="validation_error", attr="password")
    assert count_rows(app, User) == 0


def test_register_password_too_long(open_registration, app, client):
    r = client.post(
        "/api/v1/auth/register", json={"email": "new@example.com", "password": "x" * 1025}
    )
    assert error_of(r) == envelope("too_long", type="validation_error", attr="password")


# --- password change ---------------------------------------------------------------------


def test_password_change_revokes_other_sessions(client, user, login):
    other, current = login(user), login(user)
    r = client.post(
        "/api/v1/auth/password",
        headers=bearer(current["access_token"]),
        json={"current_password": PASSWORD, "new_password": "Velvet-harbor-77-quince"},
    )
    assert r.status_code == 204
    assert client.get(VERIFY, headers=bearer(current["access_token"])).status_code == 200
    assert_token_rejected(client, other["access_token"], "revoked")
    r = client.post(LOGIN, json={"email": user.email, "password": PASSWORD})
    assert r.status_code == 401
    r = client.post(LOGIN, json={"email": user.email, "password": "Velvet-harbor-77-quince"})
    assert r.status_code == 200


def test_password_change_with_wrong_current_password(app, client, user, tokens):
    r = client.post(
        "/api/v1/auth/password",
        headers=bearer(tokens["access_token"]),
        json={"current_password": "not-my-password-x", "new_password": "Velvet-harbor-77-quince"},
    )
    assert r.status_code == 401
    assert error_of(r) == envelope("invalid_credentials", attr="current_password")
    with app.app_context():
        assert "password.changed" not in db.session.scalars(select(AuditEvent.type)).all()


def test_password_change_weak_new_password(client, tokens):
    r = client.post(
        "/api/v1/auth/password",
        headers=bearer(tokens["access_token"]),
        json={"current_password": PASSWORD, "new_password": "password1234"},
    )
    assert error_of(r) == envelope("weak_password", type="validation_error", attr="new_password")


# --- users/me ----------------------------------------------------------------------------


def test_me(client, user, tokens):
    r = client.get("/api/v1/users/me", headers=bearer(tokens["access_token"]))
    assert r.status_code == 200
    body = r.get_json()
    assert body["id"] == user.id and body["email"] == user.email
    assert body["scopes"] == ["read", "write"] and body["is_admin"] is False
    assert body["totp_enabled"] is False and body["created_at"].endswith("Z")


def test_what_the_network_sends_is_stored_bounded_and_without_nul(app, client, user):
    agent = "agent\x00" + "x" * 1000
    r = client.post(
        LOGIN, json={"email": user.email, "password": PASSWORD}, headers={"User-Agent": agent}
    )
    assert r.status_code == 200
    with app.app_context():
        session = db.session.scalars(select(LoginSession)).one()
        event = db.session.scalars(
            select(AuditEvent).where(AuditEvent.type == "login.succeeded")
        ).one()
    assert session.user_agent == event.user_agent == ("agent" + "x" * 1000)[:512]


@pytest.fixture
def one_trusted_proxy(config):
    config["AUTHSVC_TRUSTED_PROXIES"] = 1


def test_an_overlong_forwarded_address_is_stored_cut_to_its_column(
    one_trusted_proxy, app, client, user
):
    forwarded = "2001:db8::" + "f" * 200
    r = client.post(
        LOGIN,
        json={"email": user.email, "password": PASSWORD},
        headers={"X-Forwarded-For": forwarded},
    )
    assert r.status_code == 200
    with app.app_context():
        assert db.session.scalars(select(LoginSession.ip)).one() == forwarded[:64]
