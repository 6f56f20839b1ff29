"""The audit log: what is recorded, that no secret is, and GET /audit-events."""

from __future__ import annotations

import json
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select

from authsvc.core import clock
from authsvc.core.principal import Client
from authsvc.extensions import db
from authsvc.models import AuditEvent
from authsvc.services import audit
from tests.helpers import PASSWORD, TestUser, bearer, envelope, error_of

EVENTS = "/api/v1/audit-events"
AUTH = "/api/v1/auth"
ITEM_FIELDS = {
    "id",
    "at",
    "type",
    "user_id",
    "ip",
    "user_agent",
    "detail",
}  # as the contract lists them
NEW_PASSWORD = "violet-Harbour-37-compass"


def add_events(app, n, type_="test.event", user_id=None):
    with app.app_context():
        for i in range(n):
            audit.record(
                type_, client=Client(ip="192.0.2.1", user_agent="pytest"), user_id=user_id, n=i
            )
        db.session.commit()


def all_rows(app):
    with app.app_context():
        return [
            {
                "type": e.type,
                "user_id": e.user_id,
                "actor_id": e.actor_id,
                "ip": e.ip,
                "user_agent": e.user_agent,
                "detail": e.detail,
                "at": e.at.isoformat(),
            }
            for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        ]


# --- what is recorded --------------------------------------------------------------------


def test_a_full_flow_records_every_event_and_no_secret(frozen, config, request):
    config["AUTHSVC_OPEN_REGISTRATION"] = True
    app = request.getfixturevalue("app")
    client = request.getfixturevalue("client")
    admin = request.getfixturevalue("admin")
    enable_totp = request.getfixturevalue("enable_totp")
    secrets: list[str] = [PASSWORD, NEW_PASSWORD]

    def post(path, auth=None, **body):
        return client.post(path, json=body, headers=bearer(auth) if auth else {})

    def login(email, password=PASSWORD, **extra):
        r = post(f"{AUTH}/login", email=email, password=password, **extra)
        if r.status_code == 200:
            secrets.extend([r.get_json()["access_token"], r.get_json()["refresh_token"]])
        return r

    admin_token = login(admin.email).get_json()["access_token"]
    r = post(f"{AUTH}/register", email="reg@example.com", password=PASSWORD)
    assert r.status_code == 201
    r = post("/api/v1/users", admin_token, email="bob@example.com", password=PASSWORD)
    bob_id = r.get_json()["id"]
    r = client.patch(
        f"/api/v1/users/{bob_id}", json={"scopes": ["read"]}, headers=bearer(admin_token)
    )
    assert r.status_code == 200

    wrong = "not-bobs-password-1"
    secrets.append(wrong)
    assert login("bob@example.com", wrong).status_code == 401
    assert login("nobody@example.com", wrong).status_code == 401
    for _ in range(5):
        login("victim@example.com", wrong)
    assert login("victim@example.com", wrong).status_code == 429

    pair = login("bob@example.com").get_json()
    r = post(f"{AUTH}/refresh", refresh_token=pair["refresh_token"])
    assert r.status_code == 200
    secrets.extend([r.get_json()["access_token"], r.get_json()["refresh_token"]])
    r = post(f"{AUTH}/refresh", refresh_token=pair["refresh_token"])  # a retry, in the window
    assert r.status_code == 200
    secrets.extend([r.get_json()["access_token"], r.get_json()["refresh_token"]])
    clock.advance(11)  # past the reuse window: now it is reuse
    assert post(f"{AUTH}/refresh", refresh_token=pair["refresh_token"]).status_code == 401

    access = login("bob@example.com").get_json()["access_token"]
    assert post(f"{AUTH}/logout", access).status_code == 204
    _, two = (login("bob@example.com").get_json() for _ in range(2))
    sessions = client.get(f"{AUTH}/sessions", headers=bearer(two["access_token"])).get_json()
    other = next(s["id"] for s in sessions["items"] if not s["current"])
    r = client.delete(f"{AUTH}/sessions/{other}", headers=bearer(two["access_token"]))
    assert r.status_code == 204
    r = client.delete(f"{AUTH}/sessions", headers=bearer(two["access_token"]))
    assert r.status_code == 204
    assert (
        post(
            f"{AUTH}/revoke", token=login("bob@example.com").get_json()["access_token"]
        ).status_code
        == 200
    )

    access = login("bob@example.com").get_json()["access_token"]
    r = post(
        "/api/v1/private-tokens", access, name="ci", expires_in_days=30, current_password=PASSWORD
    )
    assert r.status_code == 201, r.get_json()
    secrets.append(r.get_json()["token"])
    token_id = r.get_json()["id"]
    r = client.patch(
        f"/api/v1/private-tokens/{token_id}", json={"name": "ci-2"}, headers=bearer(access)
    )
    assert r.status_code == 200
    r = post(f"/api/v1/private-tokens/{token_id}/rotate", access, current_password=PASSWORD)
    assert r.status_code == 201
    secrets.append(r.get_json()["token"])
    r = client.delete(f"/api/v1/private-tokens/{r.get_json()['id']}", headers=bearer(access))
    assert r.status_code == 204

    r = post(f"{AUTH}/password", access, current_password=PASSWORD, new_password=NEW_PASSWORD)
    assert r.status_code == 204

    reg = TestUser(id="", email="reg@example.com")
    state = enable_totp(reg)
    secrets.extend([state.secret, state.access_token, *state.recovery_codes])
    assert login("reg@example.com", totp_code=state.recovery_codes[0]).status_code == 200
    clock.advance(60)
    code = pyotp.TOTP(state.secret).at(clock.now())
    r = post(f"{AUTH}/totp/disable", state.access_token, password=PASSWORD, totp_code=code)
    assert r.status_code == 204, r.get_json()

    rows = all_rows(app)
    types = {row["type"] for row in rows}
    assert types >= {
        "login.succeeded",
        "login.failed",
        "token.refreshed",
        "token.refresh_replayed",
        "refresh.reuse_detected",
        "logout",
        "session.revoked",
        "session.revoked_all",
        "token.revoked",
        "password.changed",
        "user.created",
        "user.registered",
        "user.updated",
        "totp.setup",
        "totp.enabled",
        "totp.disabled",
        "totp.recovery_code_used",
        "private_token.created",
        "private_token.updated",
        "private_token.rotated",
        "private_token.deleted",
    }, types
    failed = [r["detail"].get("reason") for r in rows if r["type"] == "login.failed"]
    assert "locked_out" in failed and "credentials" in failed

    dump = json.dumps(rows)
    assert "eyJ" not in dump  # no JWT, of any kind
    for secret in secrets:
        assert isinstance(secret, str) and secret not in dump, secret


def test_events_carry_time_user_address_and_agent(frozen, app, client, user, admin_token):
    client.post(
        f"{AUTH}/login",
        json={"email": user.email, "password": "wrong-password-xyz"},
        headers={"User-Agent": "curl/8.5"},
        environ_base={"REMOTE_ADDR": "198.51.100.7"},
    )
    r = client.get(EVENTS, query_string={"type": "login.failed"}, headers=bearer(admin_token))
    assert r.status_code == 200
    (item,) = r.get_json()["items"]
    assert set(item) == ITEM_FIELDS
    assert item["type"] == "login.failed" and item["user_id"] == user.id
    assert item["ip"] == "198.51.100.7" and item["user_agent"] == "curl/8.5"
    assert item["at"] == "2026-11-22T10:00:00Z" and item["detail"] == {"reason": "credentials"}
    assert isinstance(item["id"], str) and "actor_id" not in item["detail"]


# --- listing -----------------------------------------------------------------------------


def test_pages_newest_first_until_next_is_null(app, client, admin_token):
    base = len(all_rows(app))
    add_events(app, 5)
    seen: list[dict] = []
    cursor = None
    pages = 0
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        r = client.get(EVENTS, query_string=query, headers=bearer(admin_token))
        assert r.status_code == 200
        body = r.get_json()
        assert set(body) == {"items", "next"} and len(body["items"]) <= 2
        seen.extend(body["items"])
        pages += 1
        cursor = body["next"]
        if cursor is None:
            break
    assert len(seen) == base + 5 and pages == (base + 5 + 1) // 2
    ids = [int(i["id"]) for i in seen]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)
    assert [i["detail"]["n"] for i in seen[:5]] == [4, 3, 2, 1, 0]


def test_an_exact_last_page_ends_with_null(app, client, admin_token):
    total = len(all_rows(app))
    r = client.get(EVENTS, query_string={"limit": total}, headers=bearer(admin_token))
    assert len(r.get_json()["items"]) == total and r.get_json()["next"] is None


def test_limit_defaults_to_50_and_is_capped_at_200(app, client, admin_token):
    add_events(app, 230)
    r = client.get(EVENTS, headers=bearer(admin_token))
    assert len(r.get_json()["items"]) == 50 and r.get_json()["next"]
    r = client.get(EVENTS, query_string={"limit": 1000}, headers=bearer(admin_token))
    assert len(r.get_json()["items"]) == 200 and r.get_json()["next"]


def test_filters_combine(frozen, app, client, user, admin, admin_token):
    add_events(app, 2, "a.thing", user_id=user.id)
    clock.advance(timedelta(hours=1))
    add_events(app, 3, "a.thing", user_id=user.id)
    add_events(app, 4, "a.thing", user_id=admin.id)
    add_events(app, 1, "b.thing", user_id=user.id)

    def ids(**query):
        r = client.get(EVENTS, query_string=query, headers=bearer(admin_token))
        assert r.status_code == 200, r.get_json()
        return len(r.get_json()["items"])

    assert ids(type="a.thing") == 9
    assert ids(type="a.thing", user_id=user.id) == 5
    assert ids(type="a.thing", user_id=user.id, since="2026-11-22T10:30:00Z") == 3
    assert ids(user_id=user.id, since="2026-11-22T11:30:00+01:00") == 4
    assert ids(type="nothing.here") == 0


@pytest.mark.parametrize(
    "query,attr,code",
    [
        ({"limit": 0}, "limit", "invalid"),
        ({"limit": -1}, "limit", "invalid"),
        ({"limit": "ten"}, "limit", "invalid"),
        ({"since": "yesterday"}, "since", "invalid"),
        ({"since": "2026-11-22T10:00:00"}, "since", "invalid"),
        ({"cursor": "bm90LWEtY3Vyc29y"}, "cursor", "invalid"),
        ({"cursor": "%%%"}, "cursor", "invalid"),
        ({"type": ""}, "type", "blank"),
    ],
)
def test_bad_query_is_400(client, admin_token, query, attr, code):
    r = client.get(EVENTS, query_string=query, headers=bearer(admin_token))
    assert r.status_code == 400
    assert error_of(r) == envelope(code, type="validation_error", attr=attr)


def test_reading_the_log_is_not_itself_a_change(app, client, admin_token):
    before = len(all_rows(app))
    client.get(EVENTS, headers=bearer(admin_token))
    assert len(all_rows(app)) == before


def test_an_event_exists_only_if_its_change_does(app, client, user, admin_token):
    """A refused change (the last admin) leaves no event behind."""
    before = all_rows(app)
    r = client.post(
        "/api/v1/users",
        headers=bearer(admin_token),
        json={"email": user.email, "password": PASSWORD},
    )
    assert r.status_code == 409
    assert all_rows(app) == before


def test_an_admins_change_names_the_admin_in_detail(client, admin, admin_token, user):
    r = client.patch(
        f"/api/v1/users/{user.id}", json={"scopes": ["read"]}, headers=bearer(admin_token)
    )
    assert r.status_code == 200
    r = client.get(EVENTS, query_string={"type": "user.updated"}, headers=bearer(admin_token))
    (item,) = r.get_json()["items"]
    assert set(item) == ITEM_FIELDS
    assert item["user_id"] == user.id and item["detail"]["actor_id"] == admin.id
