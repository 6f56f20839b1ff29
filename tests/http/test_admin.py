"""Admin routes: listing, creating and changing users; deactivation; the last admin; the CLI."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from authsvc.core import clock, tokens
from authsvc.extensions import db
from authsvc.models import AuditEvent, PrivateToken, User, new_id
from authsvc.services.runtime import keystore, settings
from tests.helpers import PASSWORD, bearer, count_rows, envelope, error_of

USERS = "/api/v1/users"
LOGIN = "/api/v1/auth/login"
VERIFY = "/api/v1/auth/verify"
ADMIN_FIELDS = {"id", "email", "scopes", "is_admin", "totp_enabled", "created_at", "is_active"}


def events(app, type_):
    with app.app_context():
        return [
            (e.user_id, e.actor_id, e.detail)
            for e in db.session.scalars(
                select(AuditEvent).where(AuditEvent.type == type_).order_by(AuditEvent.id)
            )
        ]


def mint_private_token(app, user_id: str, scopes=("read",)) -> str:
    """A private token as the private-token service would store it: a signed JWT and its row."""
    with app.app_context():
        now = clock.now()
        s = settings()
        expires = now + timedelta(days=30)
        token, claims = tokens.encode(
            "private",
            subject=user_id,
            scopes=list(scopes),
            key=keystore().signing_key(),
            issuer=s.issuer,
            audience=s.audience,
            now=now,
            expires_at=expires,
        )
        db.session.add(
            PrivateToken(
                id=new_id(),
                jti=claims["jti"],
                user_id=user_id,
                name="ci",
                scopes=" ".join(scopes),
                created_at=now,
                expires_at=expires,
            )
        )
        db.session.commit()
        return token


# --- who may call ------------------------------------------------------------------------

ADMIN_ROUTES = [
    ("get", USERS, None),
    ("post", USERS, {"email": "new@example.com", "password": PASSWORD}),
    ("post", USERS, {"email": "not an email"}),
    ("patch", f"{USERS}/whatever", {"is_active": False}),
    ("patch", f"{USERS}/whatever", {"is_active": "nope"}),
    ("get", "/api/v1/audit-events", None),
    ("get", "/api/v1/audit-events?limit=zero", None),
]


@pytest.mark.parametrize("method,path,body", ADMIN_ROUTES)
def test_non_admin_is_refused_before_anything_is_read(app, client, tokens, method, path, body):
    before = count_rows(app, User)
    r = getattr(client, method)(path, json=body, headers=bearer(tokens["access_token"]))
    assert r.status_code == 403 and error_of(r) == envelope("permission_denied")
    assert count_rows(app, User) == before


@pytest.mark.parametrize("method,path,body", ADMIN_ROUTES)
def test_admin_routes_need_credentials(client, method, path, body):
    r = getattr(client, method)(path, json=body)
    assert r.status_code == 401 and error_of(r) == envelope("not_authenticated")
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="authsvc"'


def test_private_token_of_an_admin_may_administer(app, client, admin):
    # issue 13: only one that carries the scope admin (tests/test_security_authz.py)
    r = client.get(
        USERS, headers={"X-API-Key": mint_private_token(app, admin.id, ("read", "admin"))}
    )
    assert r.status_code == 200


# --- list and create ---------------------------------------------------------------------


def test_admin_lists_every_user_oldest_first_with_is_active(
    frozen, client, admin, make_user, admin_token
):
    clock.advance(60)
    bob = make_user("bob@example.com")
    r = client.get(USERS, headers=bearer(admin_token))
    assert r.status_code == 200
    items = r.get_json()["items"]
    assert [u["email"] for u in items] == ["root@example.com", "bob@example.com"]
    assert all(set(u) == ADMIN_FIELDS for u in items)
    assert items[1] == {
        "id": bob.id,
        "email": "bob@example.com",
        "scopes": ["read", "write"],
        "is_admin": False,
        "totp_enabled": False,
        "is_active": True,
        "created_at": "2026-11-22T10:01:00Z",
    }


def test_me_keeps_the_contract_shape(client, admin_token):
    r = client.get(f"{USERS}/me", headers=bearer(admin_token))
    assert set(r.get_json()) == ADMIN_FIELDS - {"is_active"}


def test_admin_creates_a_user_who_can_log_in(app, client, admin, admin_token):
    r = client.post(
        USERS,
        headers=bearer(admin_token),
        json={
            "email": "  Carol@Example.com",
            "password": PASSWORD,
            "scopes": ["read", "billing:write", "read"],
            "is_admin": True,
        },
    )
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert set(body) == ADMIN_FIELDS
    assert body["email"] == "carol@example.com" and body["scopes"] == ["read", "billing:write"]
    assert body["is_admin"] is True and body["is_active"] is True
    assert events(app, "user.created")[-1] == (
        body["id"],
        admin.id,
        {"email": "carol@example.com", "is_admin": True, "scopes": ["read", "billing:write"]},
    )
    r = client.post(LOGIN, json={"email": "carol@example.com", "password": PASSWORD})
    assert r.status_code == 200


def test_created_user_defaults(client, admin_token):
    r = client.post(
        USERS, headers=bearer(admin_token), json={"email": "dan@example.com", "password": PASSWORD}
    )
    assert r.status_code == 201
    assert r.get_json()["scopes"] == ["read", "write"] and r.get_json()["is_admin"] is False


@pytest.mark.parametrize(
    "body,attr,code",
    [
        ({"password": PASSWORD}, "email", "required"),
        ({"email": "dan@example.com"}, "password", "required"),
        ({"email": "dan", "password": PASSWORD}, "email", "invalid"),
        ({"email": "dan@example.com", "password": "short"}, "password", "weak_password"),
        ({"email": "dan@example.com", "password": "password1234"}, "password", "weak_password"),
        ({"email": "dan@example.com", "password": PASSWORD, "scopes": "read"}, "scopes", "invalid"),
        (
            {"email": "dan@example.com", "password": PASSWORD, "scopes": ["a b"]},
            "scopes.0",
            "invalid",
        ),
        ({"email": "dan@example.com", "password": PASSWORD, "scopes": [""]}, "scopes.0", "blank"),
        ({"email": "dan@example.com", "password": PASSWORD, "scopes": [1]}, "scopes.0", "invalid"),
        ({"email": "dan@example.com", "password": PASSWORD, "scopes": None}, "scopes", "null"),
        (
            {
                "email": "dan@example.com",
                "password": PASSWORD,
                "scopes": [f"{i:02d}" + "x" * 98 for i in range(11)],
            },
            "scopes",
            "too_long",
        ),
        ({"email": "dan@example.com", "password": PASSWORD, "is_admin": None}, "is_admin", "null"),
        (
            {"email": "dan@example.com", "password": PASSWORD, "is_admin": "maybe"},
            "is_admin",
            "invalid",
        ),
    ],
)
def test_create_user_bad_input_writes_nothing(app, client, admin_token, body, attr, code):
    before = (count_rows(app, User), count_rows(app, AuditEvent))
    r = client.post(USERS, headers=bearer(admin_token), json=body)
    assert r.status_code == 400, r.get_json()
    assert error_of(r) == envelope(code, type="validation_error", attr=attr)
    assert (count_rows(app, User), count_rows(app, AuditEvent)) == before


def test_create_user_with_a_taken_email_is_a_conflict(app, client, user, admin_token):
    before = count_rows(app, AuditEvent)
    r = client.post(
        USERS,
        headers=bearer(admin_token),
        json={"email": "ALICE@example.com", "password": PASSWORD},
    )
    assert r.status_code == 409 and error_of(r) == envelope("conflict", attr="email")
    assert count_rows(app, AuditEvent) == before


# --- change ------------------------------------------------------------------------------


def test_patch_unknown_user_is_not_found(client, admin_token):
    r = client.patch(f"{USERS}/{new_id()}", headers=bearer(admin_token), json={"is_active": False})
    assert r.status_code == 404 and error_of(r) == envelope("not_found")


@pytest.mark.parametrize(
    "body,attr,code",
    [
        ({"email": "x@example.com"}, "email", "read_only"),
        ({"password": PASSWORD}, "password", "read_only"),
        ({"totp_enabled": False}, "totp_enabled", "read_only"),
        ({"is_active": None}, "is_active", "null"),
        ({"is_admin": []}, "is_admin", "invalid"),
        ({"scopes": ["bad\\scope"]}, "scopes.0", "invalid"),
    ],
)
def test_patch_bad_input_changes_nothing(app, client, user, admin_token, body, attr, code):
    before = count_rows(app, AuditEvent)
    r = client.patch(f"{USERS}/{user.id}", headers=bearer(admin_token), json=body)
    assert r.status_code == 400 and error_of(r) == envelope(
        code, type="validation_error", attr=attr
    )
    assert count_rows(app, AuditEvent) == before
    assert (
        count_rows(
            app,
            User,
            User.id == user.id,
            User.is_active.is_(True),
            User.is_admin.is_(False),
            User.scopes == "read write",
        )
        == 1
    )


def test_patch_returns_the_user_and_audits_only_what_changed(app, client, admin, user, admin_token):
    r = client.patch(
        f"{USERS}/{user.id}",
        headers=bearer(admin_token),
        json={"scopes": ["read"], "is_admin": False, "is_active": True},
    )
    assert r.status_code == 200
    assert r.get_json()["scopes"] == ["read"] and set(r.get_json()) == ADMIN_FIELDS
    assert events(app, "user.updated") == [(user.id, admin.id, {"scopes": ["read"]})]
    r = client.patch(f"{USERS}/{user.id}", headers=bearer(admin_token), json={"scopes": ["read"]})
    assert r.status_code == 200 and len(events(app, "user.updated")) == 1
    r = client.patch(f"{USERS}/{user.id}", headers=bearer(admin_token), json={})
    assert r.status_code == 200 and len(events(app, "user.updated")) == 1


def test_narrowed_scopes_narrow_live_tokens_at_once(client, user, tokens, admin_token):
    assert client.get(VERIFY, headers=bearer(tokens["access_token"])).get_json()["scopes"] == [
        "read",
        "write",
    ]
    client.patch(f"{USERS}/{user.id}", headers=bearer(admin_token), json={"scopes": ["read"]})
    assert client.get(VERIFY, headers=bearer(tokens["access_token"])).get_json()["scopes"] == [
        "read"
    ]


# --- deactivation ------------------------------------------------------------------------


def deactivate(client, admin_token, user_id, active=False):
    r = client.patch(f"{USERS}/{user_id}", headers=bearer(admin_token), json={"is_active": active})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["is_active"] is active


def assert_inactive(r):
    assert r.status_code == 401
    assert error_of(r) == envelope("invalid_token", reason="inactive_user")
    assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]


def test_deactivation_rejects_every_token_of_the_user_at_once(
    app, client, user, tokens, admin_token
):
    private = mint_private_token(app, user.id)
    for headers in (bearer(tokens["access_token"]), bearer(private), {"X-API-Key": private}):
        assert client.get(VERIFY, headers=headers).status_code == 200

    deactivate(client, admin_token, user.id)

    assert_inactive(client.get(VERIFY, headers=bearer(tokens["access_token"])))
    assert_inactive(client.get(f"{USERS}/me", headers=bearer(tokens["access_token"])))
    assert_inactive(client.get(VERIFY, headers=bearer(private)))
    assert_inactive(client.get(VERIFY, headers={"X-API-Key": private}))
    assert_inactive(
        client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    )
    r = client.post(LOGIN, json={"email": user.email, "password": user.password})
    assert r.status_code == 401 and error_of(r) == envelope("invalid_credentials")


def test_reactivation_is_the_end_of_a_suspension(app, client, user, tokens, admin_token):
    """Deactivation suspends; it does not revoke. Unexpired tokens work again after it."""
    deactivate(client, admin_token, user.id)
    deactivate(client, admin_token, user.id, active=True)
    assert client.get(VERIFY, headers=bearer(tokens["access_token"])).status_code == 200
    r = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 200
    assert [d for _, _, d in events(app, "user.updated")] == [
        {"is_active": False},
        {"is_active": True},
    ]


# --- the last admin ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body", [{"is_active": False}, {"is_admin": False}, {"is_active": False, "is_admin": False}]
)
def test_the_last_active_admin_cannot_be_deactivated_or_demoted(
    app, client, admin, admin_token, body
):
    before = count_rows(app, AuditEvent)
    r = client.patch(f"{USERS}/{admin.id}", headers=bearer(admin_token), json=body)
    assert r.status_code == 409 and error_of(r) == envelope("conflict")
    assert (
        count_rows(
            app, User, User.id == admin.id, User.is_admin.is_(True), User.is_active.is_(True)
        )
        == 1
    )
    assert count_rows(app, AuditEvent) == before


def test_an_inactive_admin_does_not_count(client, admin, admin_token, make_user):
    other = make_user("other-admin@example.com", is_admin=True)
    deactivate(client, admin_token, other.id)
    r = client.patch(f"{USERS}/{admin.id}", headers=bearer(admin_token), json={"is_admin": False})
    assert r.status_code == 409


def test_with_two_admins_one_may_step_down_and_loses_admin_at_once(
    client, admin, admin_token, make_user, login
):
    other = make_user("other-admin@example.com", is_admin=True)
    other_token = login(other)["access_token"]
    r = client.patch(f"{USERS}/{admin.id}", headers=bearer(other_token), json={"is_admin": False})
    assert r.status_code == 200 and r.get_json()["is_admin"] is False
    r = client.get(USERS, headers=bearer(admin_token))
    assert r.status_code == 403 and error_of(r) == envelope("permission_denied")
    r = client.patch(f"{USERS}/{other.id}", headers=bearer(other_token), json={"is_active": False})
    assert r.status_code == 409


def test_a_non_admin_may_be_changed_while_one_admin_remains(client, user, admin_token):
    deactivate(client, admin_token, user.id)


# --- the CLI -----------------------------------------------------------------------------


def test_create_user_admin_on_an_empty_database(app, client, runner):
    assert count_rows(app, User) == 0
    with app.app_context():  # as the `flask` command pushes one
        result = runner.invoke(
            args=["create-user", "Boss@Example.com", "--admin", "--password-stdin"],
            input=PASSWORD + "\n",
        )
    assert result.exit_code == 0, result.output
    assert "boss@example.com" in result.output and "admin" in result.output
    r = client.post(LOGIN, json={"email": "boss@example.com", "password": PASSWORD})
    r = client.get(USERS, headers=bearer(r.get_json()["access_token"]))
    assert r.status_code == 200
    (boss,) = r.get_json()["items"]
    assert boss["is_admin"] is True and boss["is_active"] is True
    assert events(app, "user.created")[0][1:] == (
        None,
        {"email": "boss@example.com", "is_admin": True, "scopes": ["read", "write"]},
    )


def test_two_admins_demoting_each_other_at_once_leave_one(app, make_user, login):
    first, second = (make_user(f"admin{i}@example.com", is_admin=True) for i in (1, 2))
    pairs = [(login(first)["access_token"], second.id), (login(second)["access_token"], first.id)]
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def demote(token: str, target: str) -> None:
        client = app.test_client()
        barrier.wait()
        r = client.patch(f"{USERS}/{target}", headers=bearer(token), json={"is_admin": False})
        statuses.append(r.status_code)

    threads = [threading.Thread(target=demote, args=pair) for pair in pairs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) in (
        [200, 403],
        [200, 409],
    )  # 403: the loser was demoted before its turn
    assert count_rows(app, User, User.is_admin.is_(True), User.is_active.is_(True)) == 1
