"""Private tokens through HTTP: the lifecycle, every refusal, and what the hot path does with them."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any

import jwt
import pytest
from sqlalchemy import event, func, select, update

from authsvc.core import clock
from authsvc.extensions import db
from authsvc.models import AuditEvent, PrivateToken, User
from tests.helpers import PASSWORD, T0, bearer, envelope, error_of

URL = "/api/v1/private-tokens"
PROOF = {"current_password": PASSWORD}  # sudo mode (issue 13)
FIELDS = {
    "id",
    "name",
    "description",
    "scopes",
    "created_at",
    "expires_at",
    "last_used_at",
    "status",
    "rotated_to",
    "allowed_ips",  # issue 22
    "rate_limit",
    "last_used_ip",
}


def z(when: Any) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def create(client: Any, access: str, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "ci")
    body.setdefault("current_password", PASSWORD)
    if "expires_at" not in body:
        body.setdefault("expires_in_days", 30)
    r = client.post(URL, json=body, headers=bearer(access))
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def counts(app: Any) -> tuple[int, int]:
    """Private-token rows and private-token audit events: what a refused request must not move."""
    with app.app_context():
        rows = db.session.scalar(select(func.count()).select_from(PrivateToken))
        events = db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.type.like("private_token.%"))
        )
        return rows, events


def events(app: Any, event_type: str) -> list[dict[str, Any]]:
    with app.app_context():
        return [
            e.detail
            for e in db.session.scalars(
                select(AuditEvent).where(AuditEvent.type == event_type).order_by(AuditEvent.id)
            )
        ]


def set_user(app: Any, user_id: str, **values: Any) -> None:
    with app.app_context():
        db.session.execute(update(User).where(User.id == user_id).values(**values))
        db.session.commit()


def invalid(reason: str) -> dict[str, Any]:
    return envelope("invalid_token", reason=reason)


@contextmanager
def private_token_updates(app: Any) -> Iterator[list[str]]:
    """Collect the UPDATE statements on private_tokens that reach the database."""
    seen: list[str] = []

    def listen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE PRIVATE_TOKENS"):
            seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listen)


# --- create ---------------------------------------------------------------------------------


def test_create_shows_the_token_once_and_stores_only_its_jti(
    frozen, app, client, tokens, user, caplog
):
    caplog.set_level(logging.DEBUG)
    r = client.post(
        URL,
        json={
            "current_password": PASSWORD,
            "name": "deploy bot",
            "description": "GitHub Actions",
            "expires_in_days": 30,
        },
        headers=bearer(tokens["access_token"]),
    )
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert set(body) == FIELDS | {"token"}
    assert body["name"] == "deploy bot" and body["description"] == "GitHub Actions"
    assert body["scopes"] == ["read"]  # least privilege: AUTHSVC_PRIVATE_TOKEN_BASE_SCOPES only
    assert body["created_at"] == "2026-11-22T10:00:00Z"
    assert body["expires_at"] == "2026-12-22T10:00:00Z"
    assert body["last_used_at"] is None and body["status"] == "active"

    token = body["token"]
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert header["typ"] == "authsvc-pat+jwt"
    assert claims["iss"] == "http://authsvc.test" and claims["aud"] == "authsvc"
    assert claims["sub"] == user.id and claims["scope"] == "read" and "sid" not in claims
    assert claims["iat"] == int(T0.timestamp())
    assert claims["exp"] == int((T0 + timedelta(days=30)).timestamp())

    with app.app_context():
        row = db.session.scalars(select(PrivateToken)).one()
        assert row.id == body["id"] and row.jti == claims["jti"] and row.user_id == user.id
        assert token not in json.dumps(
            {c.name: str(getattr(row, c.name)) for c in PrivateToken.__table__.columns}
        )
        all_details = json.dumps([e.detail for e in db.session.scalars(select(AuditEvent))])
    (created,) = events(app, "private_token.created")
    assert created["token_id"] == body["id"] and created["jti"] == claims["jti"]
    assert token not in all_details and token.split(".")[2] not in all_details
    assert token not in caplog.text

    listed = client.get(URL, headers=bearer(tokens["access_token"])).get_json()["items"]
    assert listed == [{k: v for k, v in body.items() if k != "token"}]
    one = client.get(f"{URL}/{body['id']}", headers=bearer(tokens["access_token"]))
    assert one.status_code == 200 and "token" not in one.get_json()


def test_create_with_expires_at_normalises_to_utc(frozen, client, tokens):
    body = create(client, tokens["access_token"], expires_at="2026-12-01T12:00:00.750+02:00")
    assert body["expires_at"] == "2026-12-01T10:00:00Z"
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert claims["exp"] == int(T0.replace(day=1, month=12).timestamp())


def test_create_with_a_subset_of_scopes(client, tokens):
    body = create(client, tokens["access_token"], scopes=["read", "read"])
    assert body["scopes"] == ["read"]
    r = client.get("/api/v1/auth/verify", headers=bearer(body["token"]))
    assert r.get_json()["scopes"] == ["read"]


def test_create_with_no_scopes_is_allowed(client, tokens):
    body = create(client, tokens["access_token"], scopes=[])
    assert body["scopes"] == ["read"]  # the base scopes cannot be left out


def test_scopes_outside_the_callers_are_refused_and_nothing_is_minted(app, client, tokens):
    before = counts(app)
    r = client.post(
        URL,
        json={
            "current_password": PASSWORD,
            "name": "x",
            "expires_in_days": 1,
            "scopes": ["read", "admin", "introspect"],
        },
        headers=bearer(tokens["access_token"]),
    )
    assert r.status_code == 403
    assert error_of(r) == {
        **envelope("insufficient_scope"),
        "extra": {"scopes": ["admin", "introspect"]},
    }
    assert counts(app) == before


MAX = {"max_days": 365}


@pytest.mark.parametrize(
    "body, attr, code, extra",
    [
        ({"expires_in_days": 30}, "name", "required", None),
        ({"name": None, "expires_in_days": 30}, "name", "null", None),
        ({"name": "", "expires_in_days": 30}, "name", "blank", None),
        ({"name": "   ", "expires_in_days": 30}, "name", "blank", None),
        ({"name": "n" * 101, "expires_in_days": 30}, "name", "too_long", None),
        ({"name": 7, "expires_in_days": 30}, "name", "invalid", None),
        (
            {"name": "x", "description": "d" * 1001, "expires_in_days": 30},
            "description",
            "too_long",
            None,
        ),
        ({"name": "x", "scopes": "read", "expires_in_days": 30}, "scopes", "invalid", None),
        ({"name": "x", "scopes": None, "expires_in_days": 30}, "scopes", "null", None),
        ({"name": "x", "scopes": [""], "expires_in_days": 30}, "scopes.0", "blank", None),
        (
            {"name": "x", "scopes": ["read", "a b"], "expires_in_days": 30},
            "scopes.1",
            "invalid",
            None,
        ),
        ({"name": "x", "scopes": ['"q"'], "expires_in_days": 30}, "scopes.0", "invalid", None),
        ({"name": "x"}, "expires_in_days", "required", None),
        (
            {"name": "x", "expires_in_days": 30, "expires_at": "2026-12-01T00:00:00Z"},
            "expires_at",
            "invalid",
            None,
        ),
        ({"name": "x", "expires_in_days": None}, "expires_in_days", "null", None),
        ({"name": "x", "expires_in_days": 0}, "expires_in_days", "invalid", MAX),
        ({"name": "x", "expires_in_days": -3}, "expires_in_days", "invalid", MAX),
        ({"name": "x", "expires_in_days": 366}, "expires_in_days", "invalid", MAX),
        ({"name": "x", "expires_in_days": "30"}, "expires_in_days", "invalid", None),
        ({"name": "x", "expires_in_days": 30.5}, "expires_in_days", "invalid", None),
        ({"name": "x", "expires_in_days": True}, "expires_in_days", "invalid", None),
        ({"name": "x", "expires_at": None}, "expires_at", "null", None),
        ({"name": "x", "expires_at": "2026-11-22T10:00:00Z"}, "expires_at", "invalid", None),
        ({"name": "x", "expires_at": "2026-11-21T10:00:00Z"}, "expires_at", "invalid", None),
        ({"name": "x", "expires_at": "2027-11-22T10:00:01Z"}, "expires_at", "invalid", MAX),
        ({"name": "x", "expires_at": "2026-12-01T10:00:00"}, "expires_at", "invalid", None),
        ({"name": "x", "expires_at": "next week"}, "expires_at", "invalid", None),
        ({"name": "x", "expires_at": 1800000000}, "expires_at", "invalid", None),
    ],
)
def test_bad_create_bodies_are_400_and_mint_nothing(
    frozen, app, client, tokens, body, attr, code, extra
):
    before = counts(app)
    r = client.post(
        URL, json={"current_password": PASSWORD, **body}, headers=bearer(tokens["access_token"])
    )
    assert r.status_code == 400
    assert error_of(r) == {**envelope(code, type="validation_error", attr=attr), "extra": extra}
    assert counts(app) == before


@pytest.mark.parametrize(
    "body",
    [
        {"expires_in_days": 365},
        {"expires_at": "2027-11-22T10:00:00Z"},
        {"expires_at": "2026-11-22T10:00:01Z"},
        {"expires_in_days": 1},
    ],
)
def test_lifetime_bounds_are_inclusive(frozen, client, tokens, body):
    create(client, tokens["access_token"], **body)


@pytest.fixture
def short_max(config):
    config["AUTHSVC_PRIVATE_TOKEN_MAX_DAYS"] = 7


def test_max_lifetime_is_configurable(short_max, frozen, app, client, tokens):
    h = bearer(tokens["access_token"])
    for body, attr in (
        ({"expires_in_days": 8}, "expires_in_days"),
        ({"expires_at": "2026-11-29T10:00:01Z"}, "expires_at"),
    ):
        r = client.post(URL, json={"current_password": PASSWORD, "name": "x", **body}, headers=h)
        assert r.status_code == 400
        assert error_of(r)["attr"] == attr and error_of(r)["extra"] == {"max_days": 7}
    create(client, tokens["access_token"], expires_in_days=7)
    create(client, tokens["access_token"], expires_at="2026-11-29T10:00:00Z")


def test_create_needs_credentials_and_json(app, client, tokens):
    r = client.post(URL, json={"name": "x", "expires_in_days": 1})
    assert r.status_code == 401 and error_of(r) == envelope("not_authenticated")
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="authsvc"'
    r = client.post(
        URL, data={"name": "x", "expires_in_days": "1"}, headers=bearer(tokens["access_token"])
    )
    assert r.status_code == 415 and error_of(r) == envelope("unsupported_media_type")
    assert counts(app) == (0, 0)


@pytest.fixture
def totp_policy(config):
    config["AUTHSVC_REQUIRE_TOTP_FOR_PRIVATE_TOKENS"] = True


def test_totp_policy_refuses_users_without_totp(
    totp_policy, app, client, tokens, user, enable_totp
):
    before = counts(app)
    r = client.post(
        URL,
        json={"current_password": PASSWORD, "name": "x", "expires_in_days": 1},
        headers=bearer(tokens["access_token"]),
    )
    assert r.status_code == 403 and error_of(r) == envelope("permission_denied")
    assert counts(app) == before
    state = enable_totp(user)  # sudo mode then needs a code as well
    create(client, tokens["access_token"], totp_code=state.recovery_codes[0])


# --- who may manage them --------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("post", "", {"name": "x", "expires_in_days": 1}),
        ("get", "", None),
        ("get", "/{id}", None),
        ("patch", "/{id}", {"name": "y"}),
        ("post", "/{id}/rotate", None),
        ("delete", "/{id}", None),
    ],
)
@pytest.mark.parametrize("header", ["Authorization", "X-API-Key"])
def test_a_private_token_cannot_manage_private_tokens(
    app, client, tokens, method, path, body, header
):
    made = create(client, tokens["access_token"])
    value = f"Bearer {made['token']}" if header == "Authorization" else made["token"]
    before = counts(app)
    r = getattr(client, method)(
        URL + path.format(id=made["id"]), json=body, headers={header: value}
    )
    assert r.status_code == 403 and error_of(r) == envelope("permission_denied")
    assert counts(app) == before
    assert (
        client.get(f"{URL}/{made['id']}", headers=bearer(tokens["access_token"])).get_json()[
            "status"
        ]
        == "active"
    )


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/api/v1/auth/sessions"),
        ("delete", "/api/v1/auth/sessions"),
        ("post", "/api/v1/auth/logout"),
    ],
)
def test_a_private_token_cannot_manage_sessions(client, tokens, method, path):
    made = create(client, tokens["access_token"])
    r = getattr(client, method)(path, headers={"X-API-Key": made["token"]})
    assert r.status_code == 403 and error_of(r) == envelope("permission_denied")


# --- list, get, update ----------------------------------------------------------------------


def test_list_is_newest_first_with_status(frozen, app, client, tokens, user, login):
    first = create(client, tokens["access_token"], name="old", expires_in_days=1)
    clock.advance(60)
    second = create(client, tokens["access_token"], name="new", expires_in_days=30)
    clock.advance(30)
    gone = create(client, tokens["access_token"], name="gone", expires_in_days=30)
    assert (
        client.delete(f"{URL}/{gone['id']}", headers=bearer(tokens["access_token"])).status_code
        == 204
    )
    clock.advance(timedelta(days=2))
    access = login(user)["access_token"]
    items = client.get(URL, headers=bearer(access)).get_json()["items"]
    assert [(i["id"], i["status"]) for i in items] == [
        (gone["id"], "revoked"),
        (second["id"], "active"),
        (first["id"], "expired"),
    ]
    assert all(set(i) == FIELDS for i in items)


def test_another_users_tokens_are_not_found(frozen, app, client, tokens, make_user, login):
    mine = create(client, tokens["access_token"])
    other = make_user("bob@example.com")
    theirs_access = login(other)["access_token"]
    theirs = create(client, theirs_access, name="bob's")
    revoked = create(client, theirs_access, name="bob's old")
    client.delete(f"{URL}/{revoked['id']}", headers=bearer(theirs_access))
    h = bearer(tokens["access_token"])
    assert [i["id"] for i in client.get(URL, headers=h).get_json()["items"]] == [mine["id"]]
    before = counts(app)
    for token_id in (theirs["id"], revoked["id"], "no-such-id"):
        for r in (
            client.get(f"{URL}/{token_id}", headers=h),
            client.patch(f"{URL}/{token_id}", json={"name": "mine now"}, headers=h),
            client.post(f"{URL}/{token_id}/rotate", json=PROOF, headers=h),
            client.delete(f"{URL}/{token_id}", headers=h),
        ):
            assert r.status_code == 404 and error_of(r) == envelope("not_found")
    assert counts(app) == before
    r = client.get("/api/v1/auth/verify", headers=bearer(theirs["token"]))
    assert r.status_code == 200


def test_patch_renames_and_redescribes(app, client, tokens):
    made = create(client, tokens["access_token"], name="ci", description="old")
    h = bearer(tokens["access_token"])
    r = client.patch(
        f"{URL}/{made['id']}", json={"name": "  deploy  ", "description": "new"}, headers=h
    )
    assert r.status_code == 200
    body = r.get_json()
    assert body == {
        **{k: v for k, v in made.items() if k != "token"},
        "name": "deploy",
        "description": "new",
    }
    r = client.patch(f"{URL}/{made['id']}", json={"description": None}, headers=h)
    assert r.status_code == 200 and r.get_json()["description"] is None
    r = client.patch(f"{URL}/{made['id']}", json={"description": "  "}, headers=h)
    assert r.status_code == 200 and r.get_json()["description"] is None
    assert [e["fields"] for e in events(app, "private_token.updated")] == [
        ["name", "description"],
        ["description"],
    ]
    r = client.patch(f"{URL}/{made['id']}", json={}, headers=h)
    assert r.status_code == 200 and r.get_json()["name"] == "deploy"
    assert len(events(app, "private_token.updated")) == 2
    r = client.get("/api/v1/auth/verify", headers=bearer(made["token"]))
    assert r.status_code == 200


@pytest.mark.parametrize(
    "body, attr, code",
    [
        ({"expires_at": "2027-01-01T00:00:00Z"}, "expires_at", "read_only"),
        ({"expires_in_days": 90}, "expires_in_days", "read_only"),
        ({"scopes": ["read"]}, "scopes", "read_only"),
        ({"scopes": None}, "scopes", "read_only"),
        ({"token": "x"}, "token", "read_only"),
        ({"name": "ok", "expires_at": None}, "expires_at", "read_only"),
        ({"name": ""}, "name", "blank"),
        ({"name": None}, "name", "null"),
        ({"name": "n" * 101}, "name", "too_long"),
        ({"description": "d" * 1001}, "description", "too_long"),
    ],
)
def test_bad_patch_bodies_change_nothing(app, client, tokens, body, attr, code):
    made = create(client, tokens["access_token"], name="ci", description="keep")
    before = counts(app)
    r = client.patch(f"{URL}/{made['id']}", json=body, headers=bearer(tokens["access_token"]))
    assert r.status_code == 400
    assert error_of(r) == envelope(code, type="validation_error", attr=attr)
    assert counts(app) == before
    got = client.get(f"{URL}/{made['id']}", headers=bearer(tokens["access_token"])).get_json()
    assert got == {k: v for k, v in made.items() if k != "token"}


def test_patch_names_every_read_only_field(client, tokens):
    made = create(client, tokens["access_token"])
    r = client.patch(
        f"{URL}/{made['id']}",
        headers=bearer(tokens["access_token"]),
        json={"scopes": [], "expires_at": "x", "token": "y"},
    )
    attrs = {(e["code"], e["attr"]) for e in r.get_json()["errors"]}
    assert r.status_code == 400 and attrs == {
        ("read_only", "scopes"),
        ("read_only", "expires_at"),
        ("read_only", "token"),
    }


# --- rotate ---------------------------------------------------------------------------------


def test_rotate_keeps_name_scopes_and_lifetime_length_and_kills_the_old_one(
    frozen, app, client, tokens, user, login
):
    made = create(
        client,
        tokens["access_token"],
        name="ci",
        description="d",
        scopes=["read"],
        expires_at="2026-12-02T13:30:00Z",
    )  # 10 days 3 h 30 min
    clock.advance(timedelta(days=4))
    access = login(user)["access_token"]
    r = client.post(f"{URL}/{made['id']}/rotate", json=PROOF, headers=bearer(access))
    assert r.status_code == 201
    new = r.get_json()
    assert set(new) == FIELDS | {"token"}
    assert new["id"] != made["id"] and new["token"] != made["token"]
    assert (new["name"], new["description"], new["scopes"]) == ("ci", "d", ["read"])
    assert new["created_at"] == "2026-11-26T10:00:00Z"
    assert new["expires_at"] == "2026-12-06T13:30:00Z"
    assert new["status"] == "active" and new["last_used_at"] is None

    r = client.get("/api/v1/users/me", headers={"X-API-Key": made["token"]})
    assert r.status_code == 401 and error_of(r) == invalid("revoked")
    assert r.headers["WWW-Authenticate"].startswith('Bearer realm="authsvc", error="invalid_token"')
    r = client.get("/api/v1/auth/verify", headers={"X-API-Key": new["token"]})
    assert r.status_code == 200 and r.get_json()["token_type"] == "private"
    old = client.get(f"{URL}/{made['id']}", headers=bearer(access)).get_json()
    assert old["status"] == "revoked"
    (rotated,) = events(app, "private_token.rotated")
    assert rotated["old_token_id"] == made["id"] and rotated["token_id"] == new["id"]
    assert made["token"] not in json.dumps(rotated) and new["token"] not in json.dumps(rotated)

    before = counts(app)
    r = client.post(f"{URL}/{made['id']}/rotate", json=PROOF, headers=bearer(access))
    assert r.status_code == 409 and error_of(r) == envelope("conflict")
    assert counts(app) == before


def test_rotating_an_expired_token_renews_it(frozen, client, tokens, user, login):
    made = create(client, tokens["access_token"], expires_in_days=7)
    clock.advance(timedelta(days=9))
    access = login(user)["access_token"]
    new = client.post(f"{URL}/{made['id']}/rotate", json=PROOF, headers=bearer(access)).get_json()
    assert new["status"] == "active" and new["expires_at"] == "2026-12-08T10:00:00Z"


def test_rotation_is_capped_by_todays_maximum(frozen, app, client, tokens):
    made = create(client, tokens["access_token"], expires_in_days=300)
    rt = app.extensions["authsvc"]
    app.extensions["authsvc"] = replace(
        rt, settings=replace(rt.settings, private_token_max_days=30)
    )
    new = client.post(
        f"{URL}/{made['id']}/rotate", json=PROOF, headers=bearer(tokens["access_token"])
    ).get_json()
    assert new["expires_at"] == "2026-12-22T10:00:00Z"


def test_rotation_refuses_scopes_the_user_lost(app, client, tokens, user):
    made = create(client, tokens["access_token"], scopes=["write"])
    set_user(app, user.id, scopes="read")
    before = counts(app)
    r = client.post(
        f"{URL}/{made['id']}/rotate", json=PROOF, headers=bearer(tokens["access_token"])
    )
    assert r.status_code == 403
    assert error_of(r) == {**envelope("insufficient_scope"), "extra": {"scopes": ["write"]}}
    assert counts(app) == before


def test_rotation_follows_the_totp_policy(totp_policy, app, client, tokens, user, enable_totp):
    state = enable_totp(user)
    made = create(client, tokens["access_token"], totp_code=state.recovery_codes[0])
    set_user(app, user.id, totp_enabled=False)
    r = client.post(
        f"{URL}/{made['id']}/rotate", json=PROOF, headers=bearer(tokens["access_token"])
    )
    assert r.status_code == 403 and error_of(r) == envelope("permission_denied")
    assert client.get("/api/v1/auth/verify", headers=bearer(made["token"])).status_code == 200


# --- delete and every other way a token dies ------------------------------------------------


def test_delete_revokes_at_once_and_is_idempotent(app, client, tokens):
    made = create(client, tokens["access_token"])
    h = bearer(tokens["access_token"])
    assert client.get("/api/v1/auth/verify", headers=bearer(made["token"])).status_code == 200
    r = client.delete(f"{URL}/{made['id']}", headers=h)
    assert r.status_code == 204 and r.data == b""
    r = client.get("/api/v1/auth/verify", headers=bearer(made["token"]))
    assert r.status_code == 401 and error_of(r) == invalid("revoked")
    assert client.get(f"{URL}/{made['id']}", headers=h).get_json()["status"] == "revoked"
    assert client.delete(f"{URL}/{made['id']}", headers=h).status_code == 204
    (deleted,) = events(app, "private_token.deleted")
    assert deleted == {
        "token_id": made["id"],
        "jti": jwt.decode(made["token"], options={"verify_signature": False})["jti"],
    }


def test_revoke_endpoint_needs_no_login(app, client, tokens):
    made = create(client, tokens["access_token"])
    r = client.post("/api/v1/auth/revoke", json={"token": made["token"]})
    assert r.status_code == 200 and r.get_json() == {}
    r = client.get("/api/v1/users/me", headers={"X-API-Key": made["token"]})
    assert r.status_code == 401 and error_of(r) == invalid("revoked")
    got = client.get(f"{URL}/{made['id']}", headers=bearer(tokens["access_token"])).get_json()
    assert got["status"] == "revoked"


def test_an_expired_token_is_refused_on_the_next_request(frozen, client, tokens, user, login):
    made = create(client, tokens["access_token"], expires_in_days=1)
    clock.advance(timedelta(days=1) - timedelta(seconds=1))
    assert client.get("/api/v1/users/me", headers={"X-API-Key": made["token"]}).status_code == 200
    clock.advance(timedelta(seconds=11))  # past exp and the 10 s leeway
    r = client.get("/api/v1/users/me", headers={"X-API-Key": made["token"]})
    assert r.status_code == 401 and error_of(r) == invalid("expired")
    access = login(user)["access_token"]
    assert (
        client.get(f"{URL}/{made['id']}", headers=bearer(access)).get_json()["status"] == "expired"
    )


def test_a_deactivated_users_token_is_refused_on_the_next_request(app, client, tokens, user):
    made = create(client, tokens["access_token"])
    assert client.get("/api/v1/users/me", headers={"X-API-Key": made["token"]}).status_code == 200
    set_user(app, user.id, is_active=False)
    r = client.get("/api/v1/users/me", headers={"X-API-Key": made["token"]})
    assert r.status_code == 401 and error_of(r) == invalid("inactive_user")


def test_a_password_change_revokes_every_private_token(client, tokens, user):
    made = [create(client, tokens["access_token"], name=n) for n in ("a", "b")]
    r = client.post(
        "/api/v1/auth/password",
        headers=bearer(tokens["access_token"]),
        json={"current_password": user.password, "new_password": "another-Quiet-harbour-42"},
    )
    assert r.status_code == 204, r.get_json()
    for m in made:
        r = client.get("/api/v1/auth/verify", headers=bearer(m["token"]))
        assert r.status_code == 401 and error_of(r) == invalid("revoked")


# --- using one ------------------------------------------------------------------------------


def test_verify_answers_for_a_private_token(frozen, client, tokens, user):
    made = create(client, tokens["access_token"], scopes=["read"])
    r = client.get("/api/v1/auth/verify", headers=bearer(made["token"]))
    assert r.status_code == 200
    claims = jwt.decode(made["token"], options={"verify_signature": False})
    assert r.get_json() == {
        "active": True,
        "token_type": "private",
        "sub": user.id,
        "email": user.email,
        "scopes": ["read"],
        "jti": claims["jti"],
        "iat": "2026-11-22T10:00:00Z",
        "exp": "2026-12-22T10:00:00Z",
        "owner_type": "user",
    }


@pytest.mark.parametrize(
    "headers",
    [
        lambda t: {"Authorization": f"Bearer {t}"},
        lambda t: {"Authorization": f"bearer {t}"},
        lambda t: {"X-API-Key": t},
        lambda t: {"X-API-Key": t, "Authorization": f"Bearer {t}"},
    ],
)
def test_bearer_and_api_key_are_both_accepted(client, tokens, user, headers):
    made = create(client, tokens["access_token"])
    r = client.get("/api/v1/users/me", headers=headers(made["token"]))
    assert r.status_code == 200 and r.get_json()["id"] == user.id


def test_bearer_and_api_key_disagreeing_is_400(client, tokens):
    made = create(client, tokens["access_token"])
    r = client.get(
        "/api/v1/users/me",
        headers={"X-API-Key": made["token"], "Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert r.status_code == 400 and error_of(r) == envelope("invalid")


def test_last_used_at_is_written_at_most_once_a_minute(frozen, app, client, tokens, user, login):
    made = create(client, tokens["access_token"])
    use = {"X-API-Key": made["token"]}

    def last_used() -> str | None:
        access = login(user)["access_token"]
        return client.get(f"{URL}/{made['id']}", headers=bearer(access)).get_json()["last_used_at"]

    with private_token_updates(app) as writes:
        assert client.get("/api/v1/users/me", headers=use).status_code == 200
    assert len(writes) == 1 and last_used() == "2026-11-22T10:00:00Z"

    clock.advance(59)
    with private_token_updates(app) as writes:
        for _ in range(5):
            assert client.get("/api/v1/users/me", headers=use).status_code == 200
    assert writes == [] and last_used() == "2026-11-22T10:00:00Z"

    clock.advance(1)
    with private_token_updates(app) as writes:
        for _ in range(3):
            assert client.get("/api/v1/auth/verify", headers=use).status_code == 200
    assert len(writes) == 1 and last_used() == "2026-11-22T10:01:00Z"


def test_a_refused_token_does_not_move_last_used_at(app, client, tokens):
    made = create(client, tokens["access_token"])
    client.get(f"{URL}", headers={"X-API-Key": made["token"]})  # 403: not for private tokens
    got = client.get(f"{URL}/{made['id']}", headers=bearer(tokens["access_token"])).get_json()
    assert got["last_used_at"] is None
