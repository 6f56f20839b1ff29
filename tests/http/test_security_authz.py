"""Issue 13: admin rights need the scope `admin`; sudo mode on sensitive routes; no password oracle."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pyotp
import pytest
from sqlalchemy import select

from authsvc.core import clock
from authsvc.extensions import db
from authsvc.models import AuditEvent, PrivateToken, RecoveryCode, User
from tests.helpers import PASSWORD, T0, bearer, count_rows, envelope, error_of

USERS = "/api/v1/users"
AUDIT = "/api/v1/audit-events"
PATS = "/api/v1/private-tokens"
SETUP = "/api/v1/auth/totp/setup"
ENABLE = "/api/v1/auth/totp/enable"
DISABLE = "/api/v1/auth/totp/disable"
PASSWORD_URL = "/api/v1/auth/password"
LOGIN = "/api/v1/auth/login"
WRONG = "not-the-password-1234"
NEW_PASSWORD = "Saffron-Glacier-77-compass"
SCOPE_HEADER = 'Bearer realm="authsvc", error="insufficient_scope", scope="admin"'


def events(app, type_=None) -> list[tuple[str, dict]]:
    with app.app_context():
        stmt = select(AuditEvent).order_by(AuditEvent.id)
        if type_:
            stmt = stmt.where(AuditEvent.type == type_)
        return [(e.type, e.detail) for e in db.session.scalars(stmt)]


def stored(app, user_id) -> User:
    with app.app_context():
        found = db.session.get(User, user_id)
        db.session.expunge(found)
        return found


def make_pat(client, access, **body):
    body = {"name": "ci", "expires_in_days": 30, "current_password": PASSWORD, **body}
    r = client.post(PATS, headers=bearer(access), json=body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def assert_needs_admin_scope(r):
    assert r.status_code == 403, r.get_json()
    assert error_of(r) == {
        "type": "client_error",
        "code": "insufficient_scope",
        "attr": None,
        "extra": {"scopes": ["admin"]},
    }
    assert r.headers["WWW-Authenticate"] == SCOPE_HEADER


# --- 1. admin routes need the scope `admin` -------------------------------------------------


@pytest.mark.parametrize("scopes", [[], ["read"], None])
def test_an_admins_private_token_without_admin_cannot_administer(
    app, client, admin, user, admin_token, scopes
):
    pat = make_pat(client, admin_token, **({} if scopes is None else {"scopes": scopes}))
    assert "admin" not in pat["scopes"]
    users_before, events_before = count_rows(app, User), count_rows(app, AuditEvent)
    for headers in (bearer(pat["token"]), {"X-API-Key": pat["token"]}):
        assert_needs_admin_scope(
            client.post(
                USERS,
                headers=headers,
                json={"email": "mallory@example.com", "password": PASSWORD, "is_admin": True},
            )
        )
        assert_needs_admin_scope(
            client.patch(f"{USERS}/{user.id}", headers=headers, json={"is_admin": True})
        )
        assert_needs_admin_scope(client.get(USERS, headers=headers))
        assert_needs_admin_scope(client.get(AUDIT, headers=headers))
    assert count_rows(app, User) == users_before and not stored(app, user.id).is_admin
    assert count_rows(app, AuditEvent) == events_before


def test_a_private_token_asked_with_admin_may_administer(app, client, admin, user, admin_token):
    pat = make_pat(client, admin_token, scopes=["read", "admin"])
    assert pat["scopes"] == ["read", "admin"]
    r = client.patch(
        f"{USERS}/{user.id}", headers={"X-API-Key": pat["token"]}, json={"scopes": ["read"]}
    )
    assert r.status_code == 200, r.get_json()
    assert client.get(AUDIT, headers=bearer(pat["token"])).status_code == 200


def test_an_admins_access_token_carries_admin_and_a_users_does_not(client, admin_token, tokens):
    assert "admin" in jwt.decode(admin_token, options={"verify_signature": False})["scope"].split()
    assert (
        "admin"
        in client.get("/api/v1/auth/verify", headers=bearer(admin_token)).get_json()["scopes"]
    )
    assert (
        "admin"
        not in jwt.decode(tokens["access_token"], options={"verify_signature": False})[
            "scope"
        ].split()
    )
    assert client.get(USERS, headers=bearer(admin_token)).status_code == 200


def test_a_non_admin_cannot_ask_for_admin(app, client, tokens):
    r = client.post(
        PATS,
        headers=bearer(tokens["access_token"]),
        json={"name": "x", "expires_in_days": 1, "scopes": ["admin"], "current_password": PASSWORD},
    )
    assert r.status_code == 403 and error_of(r)["extra"] == {"scopes": ["admin"]}
    assert count_rows(app, PrivateToken) == 0


def test_a_stored_admin_scope_of_a_non_admin_grants_nothing(app, client, admin_token, user, login):
    r = client.patch(
        f"{USERS}/{user.id}", headers=bearer(admin_token), json={"scopes": ["read", "admin"]}
    )
    assert r.status_code == 200
    access = login(user)["access_token"]
    assert "admin" not in jwt.decode(access, options={"verify_signature": False})["scope"].split()
    r = client.get(USERS, headers=bearer(access))
    assert r.status_code == 403 and error_of(r) == envelope("permission_denied")


def test_demoting_an_admin_takes_admin_from_their_tokens_at_once(
    app, client, admin, admin_token, make_user, login
):
    other = make_user("second@example.com", is_admin=True)
    pat = make_pat(client, admin_token, scopes=["admin"])
    other_token = login(other)["access_token"]
    r = client.patch(f"{USERS}/{admin.id}", headers=bearer(other_token), json={"is_admin": False})
    assert r.status_code == 200
    for token in (admin_token, pat["token"]):
        r = client.get(USERS, headers=bearer(token))
        assert r.status_code == 403 and error_of(r) == envelope("permission_denied")
        assert (
            "admin"
            not in client.get("/api/v1/auth/verify", headers=bearer(token)).get_json()["scopes"]
        )


def test_cli_admin_gets_the_scope(app, runner, client):
    r = runner.invoke(
        args=["create-user", "boss@example.com", "--admin", "--scopes", "read", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert r.exit_code == 0, r.output
    access = client.post(
        LOGIN, json={"email": "boss@example.com", "password": PASSWORD}
    ).get_json()["access_token"]
    assert jwt.decode(access, options={"verify_signature": False})["scope"] == "read admin"
    assert client.get(USERS, headers=bearer(access)).status_code == 200


# --- 2. sudo mode ---------------------------------------------------------------------------


def routes(token_id: str = "x") -> list[tuple[str, dict]]:
    """Each sudo route with a body that is complete but for the proof."""
    return [
        (SETUP, {}),
        (PATS, {"name": "ci", "expires_in_days": 30}),
        (f"{PATS}/{token_id}/rotate", {}),
        (PASSWORD_URL, {"new_password": NEW_PASSWORD}),
    ]


@pytest.fixture
def pat_id(app, client, user, login):
    """A private token of `user`, made before the test looks at what refusals write."""
    return make_pat(client, login(user)["access_token"])["id"]


@pytest.mark.parametrize("index", range(4))
def test_sudo_routes_need_the_current_password(app, client, user, pat_id, login, index):
    access = login(user)["access_token"]
    path, body = routes(pat_id)[index]
    before_rows, before_events = count_rows(app, PrivateToken), count_rows(app, AuditEvent)
    r = client.post(path, headers=bearer(access), json=body)
    assert r.status_code == 400, r.get_json()
    assert error_of(r) == envelope("required", type="validation_error", attr="current_password")
    r = client.post(path, headers=bearer(access), json={**body, "current_password": WRONG})
    assert r.status_code == 401
    assert error_of(r) == envelope("invalid_credentials", attr="current_password")
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="authsvc"'
    # nothing written but the failed login
    assert count_rows(app, PrivateToken) == before_rows
    assert count_rows(app, AuditEvent) == before_events + 1
    assert events(app)[-1] == (
        "login.failed",
        {
            "reason": "credentials",
            "action": {
                0: "totp.setup",
                1: "private_token.create",
                2: "private_token.rotate",
                3: "password.change",
            }[index],
        },
    )
    assert stored(app, user.id).totp_pending_secret is None
    assert client.post(LOGIN, json={"email": user.email, "password": PASSWORD}).status_code == 200
    r = client.post(path, headers=bearer(access), json={**body, "current_password": PASSWORD})
    assert r.status_code in (200, 201, 204), r.get_json()


def test_enable_needs_the_password_and_the_pending_code(frozen, app, client, user, tokens):
    access = tokens["access_token"]
    secret = client.post(
        SETUP, headers=bearer(access), json={"current_password": PASSWORD}
    ).get_json()["secret"]
    good = pyotp.TOTP(secret).at(T0)
    r = client.post(ENABLE, headers=bearer(access), json={"totp_code": good})
    assert r.status_code == 400
    assert error_of(r) == envelope("required", type="validation_error", attr="current_password")
    wrong_password = client.post(
        ENABLE, headers=bearer(access), json={"current_password": WRONG, "totp_code": good}
    )
    assert wrong_password.status_code == 401
    assert not stored(app, user.id).totp_enabled and stored(app, user.id).totp_last_step is None
    r = client.post(
        ENABLE, headers=bearer(access), json={"current_password": PASSWORD, "totp_code": good}
    )
    assert r.status_code == 200 and len(r.get_json()["recovery_codes"]) == 10


def test_with_totp_on_sudo_needs_a_code_too(app, client, user, totp_user):
    access = totp_user.access_token
    before = count_rows(app, AuditEvent)
    r = client.post(
        PATS,
        headers=bearer(access),
        json={"name": "ci", "expires_in_days": 30, "current_password": PASSWORD},
    )
    assert r.status_code == 401 and error_of(r) == envelope("mfa_required", attr="totp_code")
    assert count_rows(app, PrivateToken) == 0 and count_rows(app, AuditEvent) == before
    code = pyotp.TOTP(totp_user.secret).at(T0)
    r = client.post(
        PATS,
        headers=bearer(access),
        json={"name": "ci", "expires_in_days": 30, "current_password": PASSWORD, "totp_code": code},
    )
    assert r.status_code == 201, r.get_json()
    # that code is spent now; a recovery code works once as well
    r = client.post(
        PASSWORD_URL,
        headers=bearer(access),
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD, "totp_code": code},
    )
    assert r.status_code == 401
    r = client.post(
        PASSWORD_URL,
        headers=bearer(access),
        json={
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "totp_code": totp_user.recovery_codes[0],
        },
    )
    assert r.status_code == 204, r.get_json()


def test_a_refused_sudo_request_spends_no_code(app, client, user, totp_user):
    code = pyotp.TOTP(totp_user.secret).at(T0)
    r = client.post(
        PATS,
        headers=bearer(totp_user.access_token),
        json={"name": "ci", "expires_in_days": 30, "current_password": WRONG, "totp_code": code},
    )
    assert r.status_code == 401
    r = client.post(
        PATS,
        headers=bearer(totp_user.access_token),
        json={
            "name": "ci",
            "expires_in_days": 30,
            "current_password": WRONG,
            "totp_code": totp_user.recovery_codes[0],
        },
    )
    assert r.status_code == 401
    assert count_rows(app, RecoveryCode, RecoveryCode.used_at.is_not(None)) == 0
    assert (
        client.post(
            LOGIN, json={"email": user.email, "password": PASSWORD, "totp_code": code}
        ).status_code
        == 200
    )


# --- 3. no password oracle at /auth/totp/disable (nor any sudo route) ----------------------


def answer(r) -> tuple:
    body = r.get_json()
    return (
        r.status_code,
        body["type"],
        [(e["code"], e["attr"], e["detail"], e["extra"]) for e in body["errors"]],
    )


@pytest.mark.parametrize("field", ["password", "current_password"])
def test_disable_answers_alike_for_a_wrong_password_and_a_wrong_code(
    app, client, user, totp_user, field
):
    access = totp_user.access_token
    good = pyotp.TOTP(totp_user.secret).at(T0)
    bad = "000000" if good != "000000" else "111111"
    wrong_password = client.post(
        DISABLE, headers=bearer(access), json={field: WRONG, "totp_code": good}
    )
    wrong_password_bad_code = client.post(
        DISABLE, headers=bearer(access), json={field: WRONG, "totp_code": bad}
    )
    wrong_code = client.post(
        DISABLE, headers=bearer(access), json={field: PASSWORD, "totp_code": bad}
    )
    assert answer(wrong_password) == answer(wrong_code) == answer(wrong_password_bad_code)
    assert error_of(wrong_code) == envelope("invalid_credentials", attr=field)
    assert stored(app, user.id).totp_enabled
    failed = events(app, "login.failed")
    assert [d["reason"] for _, d in failed] == ["credentials", "credentials", "totp"]
    assert all(d["action"] == "totp.disable" for _, d in failed)


def test_enable_answers_alike_for_a_wrong_password_and_a_wrong_code(
    frozen, app, client, user, tokens
):
    access = tokens["access_token"]
    secret = client.post(
        SETUP, headers=bearer(access), json={"current_password": PASSWORD}
    ).get_json()["secret"]
    good = pyotp.TOTP(secret).at(T0)
    bad = "000000" if good != "000000" else "111111"
    a = client.post(
        ENABLE, headers=bearer(access), json={"current_password": WRONG, "totp_code": bad}
    )
    b = client.post(
        ENABLE, headers=bearer(access), json={"current_password": PASSWORD, "totp_code": bad}
    )
    c = client.post(
        ENABLE, headers=bearer(access), json={"current_password": WRONG, "totp_code": good}
    )
    assert answer(a) == answer(b) == answer(c)
    assert error_of(b) == envelope("invalid_credentials", attr="current_password")


@pytest.mark.parametrize(
    "path,body",
    [
        (DISABLE, {"password": WRONG, "totp_code": "000000"}),
        (DISABLE, {"password": PASSWORD, "totp_code": "000000"}),
        (
            PATS,
            {"name": "ci", "expires_in_days": 1, "current_password": WRONG, "totp_code": "000000"},
        ),
        (PASSWORD_URL, {"current_password": WRONG, "new_password": NEW_PASSWORD, "totp_code": "0"}),
    ],
)
def test_wrong_proofs_lock_the_account_like_logins(app, client, user, totp_user, path, body):
    if body.get("totp_code") == "000000" and pyotp.TOTP(totp_user.secret).at(T0) == "000000":
        body = {**body, "totp_code": "111111"}
    for _ in range(5):  # AUTHSVC_LOGIN_FAILURES
        r = client.post(path, headers=bearer(totp_user.access_token), json=body)
        assert r.status_code == 401 and error_of(r)["code"] == "invalid_credentials"
    right = {"password": PASSWORD, "totp_code": pyotp.TOTP(totp_user.secret).at(T0)}
    r = client.post(DISABLE, headers=bearer(totp_user.access_token), json=right)
    assert r.status_code == 429 and error_of(r)["code"] == "rate_limited"
    assert int(r.headers["Retry-After"]) == error_of(r)["extra"]["retry_after"] > 0
    assert stored(app, user.id).totp_enabled
    r = client.post(
        LOGIN, json={"email": user.email, "password": PASSWORD, "totp_code": right["totp_code"]}
    )
    assert r.status_code == 429  # the same lockout as a login's
    clock.advance(timedelta(minutes=15, seconds=1))
    r = client.post(
        DISABLE,
        headers=bearer(totp_user.access_token),
        json={"password": PASSWORD, "totp_code": pyotp.TOTP(totp_user.secret).at(clock.now())},
    )
    assert r.status_code == 204, r.get_json()


def test_a_right_proof_clears_only_the_callers_own_count(
    app, client, user, make_user, login, frozen
):
    other = make_user("bob@example.com")
    for _ in range(4):
        assert client.post(LOGIN, json={"email": other.email, "password": WRONG}).status_code == 401
    access = login(user)["access_token"]
    # the body names no account: the proof is always of the caller's own password
    r = client.post(
        PATS,
        headers=bearer(access),
        json={
            "name": "ci",
            "expires_in_days": 1,
            "current_password": PASSWORD,
            "email": other.email,
        },
    )
    assert r.status_code == 201
    assert client.post(LOGIN, json={"email": other.email, "password": WRONG}).status_code == 401
    assert client.post(LOGIN, json={"email": other.email, "password": PASSWORD}).status_code == 429


# --- 4. a wrong current_password is audited as a failed login, and only that ---------------


def test_password_change_with_a_wrong_password_writes_one_failed_login(app, client, user, tokens):
    before = events(app)
    r = client.post(
        PASSWORD_URL,
        headers=bearer(tokens["access_token"]),
        json={"current_password": WRONG, "new_password": NEW_PASSWORD},
    )
    assert r.status_code == 401
    assert error_of(r) == envelope("invalid_credentials", attr="current_password")
    assert events(app)[len(before) :] == [
        ("login.failed", {"reason": "credentials", "action": "password.change"})
    ]
    assert client.post(LOGIN, json={"email": user.email, "password": PASSWORD}).status_code == 200


def test_the_openapi_document_names_the_proof_fields(client):
    doc = client.get("/api/v1/openapi.json").get_json()

    def body_schema(path):
        content = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]
        ref = content["schema"]["$ref"].rsplit("/", 1)[1]
        return doc["components"]["schemas"][ref]

    for path in (SETUP, ENABLE, PATS, "/api/v1/private-tokens/{token_id}/rotate", PASSWORD_URL):
        schema = body_schema(path)
        assert "current_password" in schema["properties"], path
        assert "current_password" in schema.get("required", []), path
    for path in (PATS, "/api/v1/private-tokens/{token_id}/rotate", PASSWORD_URL):
        assert "totp_code" in body_schema(path)["properties"]
    assert {"password", "current_password", "totp_code"} <= set(body_schema(DISABLE)["properties"])
