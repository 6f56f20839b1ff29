"""Admin routes behind the console's Users page (issue 21): one user, their sessions and
keys, and revoking them. Admins only; a refusal reads and writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from authsvc.extensions import db
from authsvc.models import AuditEvent, LoginSession, PrivateToken
from tests.helpers import PASSWORD, bearer, count_rows, envelope, error_of

USERS = "/api/v1/users"
PATS = "/api/v1/private-tokens"
VERIFY = "/api/v1/auth/verify"
REFRESH = "/api/v1/auth/refresh"
SCOPE_HEADER = 'Bearer realm="authsvc", error="insufficient_scope", scope="admin"'


def make_pat(client, access, **body):
    body = {"name": "ci", "expires_in_days": 30, "current_password": PASSWORD, **body}
    r = client.post(PATS, headers=bearer(access), json=body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


@pytest.fixture
def victim(user, login, client):
    """A user with two sessions and one API key."""
    first, second = login(user), login(user)
    key = make_pat(client, first["access_token"])
    return {"user": user, "first": first, "second": second, "key": key}


def routes(victim):
    uid = victim["user"].id
    with_session = f"{USERS}/{uid}/sessions"
    return [
        ("get", f"{USERS}/{uid}"),
        ("get", with_session),
        ("delete", with_session),
        ("delete", f"{with_session}/whatever"),
        ("get", f"{USERS}/{uid}/private-tokens"),
        ("delete", f"{USERS}/{uid}/private-tokens/{victim['key']['id']}"),
    ]


def unchanged(app):
    with app.app_context():
        return (
            count_rows(app, AuditEvent),
            count_rows(app, LoginSession, LoginSession.revoked_at.is_(None)),
            count_rows(app, PrivateToken, PrivateToken.revoked_at.is_(None)),
        )


def test_a_non_admin_is_refused_and_nothing_is_written(app, client, victim, make_user, login):
    other = login(make_user("eve@example.com"))["access_token"]
    before = unchanged(app)
    for method, path in routes(victim):
        for token in (other, victim["first"]["access_token"]):  # someone else, and themself
            r = getattr(client, method)(path, headers=bearer(token))
            assert r.status_code == 403 and error_of(r) == envelope("permission_denied"), path
    assert unchanged(app) == before


def test_an_admin_token_without_the_admin_scope_is_refused(app, client, victim, admin_token):
    pat = make_pat(client, admin_token, scopes=["read"])["token"]
    before = unchanged(app)
    for method, path in routes(victim):
        r = getattr(client, method)(path, headers={"X-API-Key": pat})
        assert r.status_code == 403, path
        assert error_of(r) == {
            "type": "client_error",
            "code": "insufficient_scope",
            "attr": None,
            "extra": {"scopes": ["admin"]},
        }
        assert r.headers["WWW-Authenticate"] == SCOPE_HEADER
    assert unchanged(app) == before


def test_without_credentials_it_is_401(client, victim):
    for method, path in routes(victim):
        r = getattr(client, method)(path)
        assert r.status_code == 401 and error_of(r) == envelope("not_authenticated")


def test_an_admin_reads_one_user(client, user, admin_token):
    r = client.get(f"{USERS}/{user.id}", headers=bearer(admin_token))
    assert r.status_code == 200
    assert r.get_json()["email"] == user.email and r.get_json()["is_active"] is True
    r = client.get(f"{USERS}/nobody", headers=bearer(admin_token))
    assert r.status_code == 404 and error_of(r) == envelope("not_found")


@pytest.mark.parametrize(
    "path", ["/nobody/sessions", "/nobody/private-tokens", "/nobody/sessions/x"]
)
def test_an_unknown_user_is_404(client, admin_token, path):
    method = client.delete if path.endswith("/x") else client.get
    r = method(USERS + path, headers=bearer(admin_token))
    assert r.status_code == 404 and error_of(r) == envelope("not_found")


def test_an_admin_sees_and_revokes_one_session(app, client, victim, admin, admin_token):
    uid = victim["user"].id
    r = client.get(f"{USERS}/{uid}/sessions", headers=bearer(admin_token))
    assert r.status_code == 200
    items = r.get_json()["items"]
    assert len(items) == 2 and not any(s["current"] for s in items)
    assert set(items[0]) == {"id", "created_at", "last_used_at", "user_agent", "ip", "current"}
    with app.app_context():
        first_sid = db.session.scalar(
            select(LoginSession.id)
            .where(LoginSession.user_id == uid)
            .order_by(LoginSession.created_at)
        )
    r = client.delete(f"{USERS}/{uid}/sessions/{first_sid}", headers=bearer(admin_token))
    assert r.status_code == 204
    # that session's tokens die; the other session lives
    r = client.get(VERIFY, headers=bearer(victim["first"]["access_token"]))
    assert r.status_code == 401
    r = client.post(REFRESH, json={"refresh_token": victim["first"]["refresh_token"]})
    assert r.status_code == 401
    assert client.get(VERIFY, headers=bearer(victim["second"]["access_token"])).status_code == 200
    with app.app_context():
        (event,) = db.session.scalars(
            select(AuditEvent).where(AuditEvent.type == "session.revoked")
        ).all()
        assert (event.user_id, event.actor_id) == (uid, admin.id)
        assert event.detail["session_id"] == first_sid
    # again: nothing more is recorded
    before = count_rows(app, AuditEvent)
    r = client.delete(f"{USERS}/{uid}/sessions/{first_sid}", headers=bearer(admin_token))
    assert r.status_code == 204 and count_rows(app, AuditEvent) == before


def test_a_session_of_someone_else_is_404_and_untouched(app, client, victim, admin, login):
    admin_pair = login(admin)
    with app.app_context():
        admin_sid = db.session.scalar(
            select(LoginSession.id).where(LoginSession.user_id == admin.id)
        )
    r = client.delete(
        f"{USERS}/{victim['user'].id}/sessions/{admin_sid}",
        headers=bearer(admin_pair["access_token"]),
    )
    assert r.status_code == 404 and error_of(r) == envelope("not_found")
    assert client.get(VERIFY, headers=bearer(admin_pair["access_token"])).status_code == 200


def test_an_admin_signs_a_user_out_everywhere_and_keys_survive(
    app, client, victim, admin, admin_token
):
    uid = victim["user"].id
    r = client.delete(f"{USERS}/{uid}/sessions", headers=bearer(admin_token))
    assert r.status_code == 204
    for pair in (victim["first"], victim["second"]):
        assert client.get(VERIFY, headers=bearer(pair["access_token"])).status_code == 401
    assert client.get(VERIFY, headers={"X-API-Key": victim["key"]["token"]}).status_code == 200
    assert client.get(VERIFY, headers=bearer(admin_token)).status_code == 200
    with app.app_context():
        (event,) = db.session.scalars(
            select(AuditEvent).where(AuditEvent.type == "session.revoked_all")
        ).all()
        assert (event.user_id, event.actor_id, event.detail["count"]) == (uid, admin.id, 2)
    assert client.get(f"{USERS}/{uid}/sessions", headers=bearer(admin_token)).get_json() == {
        "items": []
    }


def test_an_admin_lists_and_revokes_a_key(app, client, victim, admin, admin_token):
    uid, key = victim["user"].id, victim["key"]
    r = client.get(f"{USERS}/{uid}/private-tokens", headers=bearer(admin_token))
    assert r.status_code == 200
    (listed,) = r.get_json()["items"]
    assert listed["id"] == key["id"] and listed["status"] == "active" and "token" not in listed
    r = client.delete(f"{USERS}/{uid}/private-tokens/{key['id']}", headers=bearer(admin_token))
    assert r.status_code == 204
    r = client.get(VERIFY, headers={"X-API-Key": key["token"]})
    assert r.status_code == 401 and r.get_json()["errors"][0]["extra"]["reason"] == "revoked"
    (listed,) = client.get(f"{USERS}/{uid}/private-tokens", headers=bearer(admin_token)).get_json()[
        "items"
    ]
    assert listed["status"] == "revoked"
    with app.app_context():
        (event,) = db.session.scalars(
            select(AuditEvent).where(AuditEvent.type == "private_token.deleted")
        ).all()
        assert (event.user_id, event.actor_id, event.detail["token_id"]) == (
            uid,
            admin.id,
            key["id"],
        )


def test_a_key_of_someone_else_is_404_and_untouched(app, client, victim, admin, admin_token):
    own = make_pat(client, admin_token)
    r = client.delete(
        f"{USERS}/{victim['user'].id}/private-tokens/{own['id']}", headers=bearer(admin_token)
    )
    assert r.status_code == 404 and error_of(r) == envelope("not_found")
    assert client.get(VERIFY, headers={"X-API-Key": own["token"]}).status_code == 200


def test_a_users_own_key_deletion_still_records_no_actor(app, client, victim):
    r = client.delete(
        f"{PATS}/{victim['key']['id']}", headers=bearer(victim["first"]["access_token"])
    )
    assert r.status_code == 204
    with app.app_context():
        (event,) = db.session.scalars(
            select(AuditEvent).where(AuditEvent.type == "private_token.deleted")
        ).all()
        assert event.actor_id is None


def test_the_audit_log_filters_until(client, admin_token, user, login):
    login(user)
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    earlier = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    r = client.get(
        "/api/v1/audit-events", query_string={"until": earlier}, headers=bearer(admin_token)
    )
    assert r.status_code == 200 and r.get_json()["items"] == []
    r = client.get(
        "/api/v1/audit-events", query_string={"until": later}, headers=bearer(admin_token)
    )
    assert r.status_code == 200 and r.get_json()["items"]
    r = client.get("/api/v1/audit-events?until=yesterday", headers=bearer(admin_token))
    assert r.status_code == 400 and error_of(r)["attr"] == "until"
