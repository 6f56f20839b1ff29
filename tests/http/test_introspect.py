"""POST /api/v1/auth/introspect (RFC 7662): who may ask, what is active, and the exact answers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import jwt
import pytest
from sqlalchemy import func, select, update

from authsvc.core import clock
from authsvc.extensions import db
from authsvc.models import AuditEvent, User
from tests.helpers import bearer, envelope, error_of

URL = "/api/v1/auth/introspect"
ACTIVE_FIELDS = {
    "active",
    "token_type",
    "sub",
    "scope",
    "jti",
    "iat",
    "exp",
    "iss",
    "aud",
    "client_id",
    "owner_type",
}


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def introspect(client: Any, caller: str, token: str, *, form: bool = False) -> Any:
    if form:
        return client.post(URL, data={"token": token}, headers=bearer(caller))
    return client.post(URL, json={"token": token}, headers=bearer(caller))


@pytest.fixture
def caller(admin, login) -> str:
    """An access token holding the introspect scope (the `admin` fixture's scopes include it)."""
    return login(admin)["access_token"]


@pytest.mark.parametrize("form", [False, True], ids=["json", "form"])
def test_an_accepted_access_token_is_active_with_rfc7662_fields(client, caller, tokens, user, form):
    r = introspect(client, caller, tokens["access_token"], form=form)
    assert r.status_code == 200, r.get_json()
    assert r.headers["Cache-Control"] == "no-store"
    body = r.get_json()
    claims = claims_of(tokens["access_token"])
    assert body == {
        "active": True,
        "token_type": "access",
        "sub": user.id,
        "scope": "read write",
        "jti": claims["jti"],
        "iat": claims["iat"],
        "exp": claims["exp"],
        "iss": "http://authsvc.test",
        "aud": "authsvc",
        "client_id": "authsvc",
        "owner_type": "user",
    }
    # RFC 7662 dates are NumericDates (integers), unlike the RFC 3339 strings elsewhere.
    assert type(body["iat"]) is int and type(body["exp"]) is int


def test_a_private_token_is_active_with_its_own_type(client, caller, tokens, user):
    r = client.post(
        "/api/v1/private-tokens",
        headers=bearer(tokens["access_token"]),
        json={
            "name": "ci",
            "scopes": ["read"],
            "expires_in_days": 30,
            "current_password": user.password,
        },
    )
    assert r.status_code == 201, r.get_json()
    private = r.get_json()["token"]
    body = introspect(client, caller, private).get_json()
    assert set(body) == ACTIVE_FIELDS
    assert body["active"] is True and body["token_type"] == "private"
    assert body["sub"] == user.id and body["scope"] == "read"


def test_a_private_token_with_the_scope_may_introspect(client, admin, login, tokens):
    access = login(admin)["access_token"]
    r = client.post(
        "/api/v1/private-tokens",
        headers=bearer(access),
        json={
            "name": "gateway",
            "scopes": ["introspect"],
            "expires_in_days": 30,
            "current_password": admin.password,
        },
    )
    assert r.status_code == 201, r.get_json()
    gateway = r.get_json()["token"]
    r = client.post(URL, json={"token": tokens["access_token"]}, headers={"X-API-Key": gateway})
    assert r.status_code == 200 and r.get_json()["active"] is True


def test_the_scope_shown_is_the_users_current_one(app, client, caller, tokens, user):
    with app.app_context():
        db.session.execute(update(User).where(User.id == user.id).values(scopes="read"))
        db.session.commit()
    assert introspect(client, caller, tokens["access_token"]).get_json()["scope"] == "read"


def tamper(token: str) -> str:
    """The same token with one signature character changed (still canonical base64url)."""
    head, payload, sig = token.split(".")
    middle = len(sig) // 2
    return f"{head}.{payload}.{sig[:middle]}{'A' if sig[middle] != 'A' else 'B'}{sig[middle + 1 :]}"


def _tampered(tokens: dict[str, Any], **_: Any) -> str:
    return tamper(tokens["access_token"])


def _revoked(tokens: dict[str, Any], client: Any, **_: Any) -> str:
    assert (
        client.post("/api/v1/auth/revoke", json={"token": tokens["access_token"]}).status_code
        == 200
    )
    return tokens["access_token"]


def _logged_out(tokens: dict[str, Any], client: Any, **_: Any) -> str:
    assert (
        client.post("/api/v1/auth/logout", headers=bearer(tokens["access_token"])).status_code
        == 204
    )
    return tokens["access_token"]


def _inactive_user(tokens: dict[str, Any], app: Any, user: Any, **_: Any) -> str:
    with app.app_context():
        db.session.execute(update(User).where(User.id == user.id).values(is_active=False))
        db.session.commit()
    return tokens["access_token"]


def _refresh(tokens: dict[str, Any], **_: Any) -> str:
    return tokens["refresh_token"]


def _garbage(**_: Any) -> str:
    return "not-a-token"


def _too_long(**_: Any) -> str:
    return "a" * 20000


def _foreign_issuer(tokens: dict[str, Any], app: Any, **_: Any) -> str:
    from authsvc.core import tokens as token_lib

    with app.app_context():
        key = app.extensions["authsvc"].keystore.signing_key()
    claims = claims_of(tokens["access_token"])
    token, _ = token_lib.encode(
        "access",
        subject=claims["sub"],
        scopes=["read"],
        key=key,
        issuer="http://elsewhere.test",
        audience="authsvc",
        now=clock.now(),
        expires_at=clock.now() + timedelta(minutes=5),
        session_id=claims["sid"],
    )
    return token


@pytest.mark.parametrize(
    "make",
    [
        _tampered,
        _revoked,
        _logged_out,
        _inactive_user,
        _refresh,
        _garbage,
        _too_long,
        _foreign_issuer,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_a_token_not_accepted_now_is_inactive_and_nothing_more(
    app, client, caller, tokens, user, make
):
    token = make(tokens=tokens, client=client, app=app, user=user)
    r = introspect(client, caller, token)
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {"active": False}


def test_an_expired_token_is_inactive(frozen, client, user, admin, login):
    old = login(user)["access_token"]
    clock.advance(timedelta(seconds=3600 + 10))
    caller = login(admin)["access_token"]
    assert introspect(client, caller, old).get_json() == {"active": False}


def test_a_caller_without_the_scope_is_refused(app, client, tokens):
    r = introspect(client, tokens["access_token"], tokens["access_token"])
    assert r.status_code == 403
    assert error_of(r) == {**envelope("insufficient_scope"), "extra": {"scopes": ["introspect"]}}


def test_an_admin_without_the_scope_is_refused(client, make_user, login, tokens):
    boss = make_user("boss@example.com", is_admin=True, scopes=["read", "write"])
    r = introspect(client, login(boss)["access_token"], tokens["access_token"])
    assert r.status_code == 403 and error_of(r)["code"] == "insufficient_scope"


def test_no_credentials(client, tokens):
    r = client.post(URL, json={"token": tokens["access_token"]})
    assert r.status_code == 401
    assert error_of(r) == envelope("not_authenticated")
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="authsvc"'


def test_the_callers_own_token_must_be_valid(client, caller, tokens):
    r = client.post(URL, json={"token": tokens["access_token"]}, headers=bearer(tamper(caller)))
    assert r.status_code == 401
    assert error_of(r) == envelope("invalid_token", reason="signature")
    assert r.headers["WWW-Authenticate"].startswith('Bearer realm="authsvc", error="invalid_token"')


def test_a_refresh_token_cannot_authenticate_the_caller(client, admin, login, tokens):
    r = client.post(
        URL, json={"token": tokens["access_token"]}, headers=bearer(login(admin)["refresh_token"])
    )
    assert r.status_code == 401
    assert error_of(r) == envelope("invalid_token", reason="wrong_type")


@pytest.mark.parametrize(
    "kwargs,status,expected",
    [
        ({"json": {}}, 400, envelope("required", type="validation_error", attr="token")),
        ({"json": {"token": ""}}, 400, envelope("blank", type="validation_error", attr="token")),
        ({"json": {"token": 5}}, 400, envelope("invalid", type="validation_error", attr="token")),
        ({"data": {}}, 400, envelope("required", type="validation_error", attr="token")),
        (
            {"data": "token=x", "content_type": "text/plain"},
            415,
            envelope("unsupported_media_type"),
        ),
        ({"data": "{", "content_type": "application/json"}, 400, envelope("parse_error")),
    ],
    ids=["json-missing", "json-blank", "json-number", "form-missing", "text", "bad-json"],
)
def test_bad_bodies(client, caller, kwargs, status, expected):
    r = client.post(URL, headers=bearer(caller), **kwargs)
    assert r.status_code == status, r.get_json()
    assert error_of(r) == expected


def test_introspection_is_not_audited_and_changes_nothing(app, client, caller, tokens):
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(AuditEvent))
    introspect(client, caller, tokens["access_token"])
    introspect(client, caller, "garbage")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == before


def test_the_metadata_names_the_endpoint(client):
    body = client.get("/.well-known/oauth-authorization-server").get_json()
    assert body["introspection_endpoint"] == "http://authsvc.test/api/v1/auth/introspect"


def test_openapi_documents_json_and_form_bodies(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    op = doc["paths"][URL]["post"]
    assert set(op["requestBody"]["content"]) == {
        "application/json",
        "application/x-www-form-urlencoded",
    }
    assert {"200", "400", "401", "403", "415"} <= set(op["responses"])
    assert op["security"]
