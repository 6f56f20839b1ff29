"""Issue 13: rules found missing by an outside attack run (see docs/security.md)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from authsvc.core import clock
from authsvc.extensions import db
from authsvc.models import AuditEvent, LoginFailure, RevokedToken
from authsvc.services.failure_log import SWEEP_BATCH
from tests.helpers import PASSWORD, bearer, count_rows, envelope, error_of

LOGIN = "/api/v1/auth/login"
VERIFY = "/api/v1/auth/verify"
REVOKE = "/api/v1/auth/revoke"
WRONG = "not-the-password-42"


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
    assert count_rows(app, LoginFailure) == 5
    for i in range(30):  # made-up emails: each adds one row, until the window has passed
        fail_login(client, f"ghost{i}@example.com")
    assert count_rows(app, LoginFailure) == 35
    clock.advance(timedelta(seconds=901))
    fail_login(client, "late@example.com")  # one reservation sweeps what the window left behind
    assert count_rows(app, LoginFailure) == 1 and SWEEP_BATCH >= 35
    assert count_rows(app, LoginFailure, LoginFailure.pending.is_(True)) == 0


# --- Audit log growth -----------------------------------------------------------------------


def test_revoking_an_already_revoked_token_writes_nothing(app, client, user, login):
    pair = login(user)
    r = client.post(
        "/api/v1/private-tokens",
        headers=bearer(pair["access_token"]),
        json={"name": "ci", "expires_in_days": 30, "current_password": PASSWORD},
    )
    private = r.get_json()["token"]
    revoked = AuditEvent.type == "token.revoked"
    for token in (pair["access_token"], private, pair["refresh_token"]):
        before = count_rows(app, AuditEvent, revoked)
        for _ in range(10):
            r = client.post(REVOKE, json={"token": token})
            assert r.status_code == 200 and r.get_json() == {}
        assert count_rows(app, AuditEvent, revoked) == before + 1
    assert count_rows(app, RevokedToken) == 1
    assert count_rows(app, AuditEvent, revoked) == 3


# --- Prune and leeway -----------------------------------------------------------------------


def test_prune_keeps_a_revoked_access_token_until_exp_plus_leeway(
    frozen, app, client, runner, user, login
):
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
        reasons = [
            (r.user_id, r.detail["reason"])
            for r in db.session.scalars(select(AuditEvent).where(failed).order_by(AuditEvent.id))
        ]
    assert reasons.count((user.id, "locked_out")) == 1
    assert reasons.count((None, "locked_out")) == 1
    assert len(reasons) == 12
    clock.advance(timedelta(seconds=901))  # a new lock is recorded again
    for _ in range(6):
        fail_login(client, user.email)
    with app.app_context():
        assert (
            db.session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(failed, AuditEvent.user_id == user.id)
            )
            == 5 + 1 + 5 + 1
        )


# --- Input rules ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["yes", "on", "1", "true", "True", 1, 0, "", None, [], {}])
def test_booleans_are_json_true_or_false_only(client, admin_token, user, value):
    r = client.patch(
        f"/api/v1/users/{user.id}", headers=bearer(admin_token), json={"is_admin": value}
    )
    assert r.status_code == 400
    assert error_of(r) == envelope(
        "null" if value is None else "invalid", type="validation_error", attr="is_admin"
    )
    r = client.post(
        "/api/v1/users",
        headers=bearer(admin_token),
        json={"email": "new@example.com", "password": PASSWORD, "is_admin": value},
    )
    assert r.status_code == 400 and error_of(r)["attr"] == "is_admin"
    me = client.get("/api/v1/users", headers=bearer(admin_token)).get_json()["items"]
    assert [u["is_admin"] for u in me if u["id"] == user.id] == [False]
    assert (
        client.patch(
            f"/api/v1/users/{user.id}", headers=bearer(admin_token), json={"is_admin": True}
        ).get_json()["is_admin"]
        is True
    )


@pytest.mark.parametrize(
    "body",
    [
        '{"email": "a@example.com", "email": "b@example.com", "password": "x"}',
        '{"email": "a@example.com", "password": "x", "extra": {"k": 1, "k": 2}}',
        '[{"a": 1, "a": 1}]',
    ],
)
def test_duplicate_member_names_are_a_parse_error(client, user, body):
    for path in (LOGIN, "/console/session/login"):
        r = client.post(
            path, data=body, headers={"Content-Type": "application/json", "X-Authsvc-Console": "1"}
        )
        assert r.status_code == 400 and error_of(r) == envelope("parse_error"), path


def test_duplicate_names_cannot_make_an_admin(client, admin_token, user):
    r = client.patch(
        f"/api/v1/users/{user.id}",
        headers={**bearer(admin_token), "Content-Type": "application/json"},
        data='{"is_admin": false, "is_admin": true}',
    )
    assert r.status_code == 400 and error_of(r) == envelope("parse_error")


INVISIBLE_OR_CONFUSABLE = [
    "ali\u200bce@example.com",  # zero-width space
    "\ufeffalice@example.com",  # byte-order mark / zero-width no-break space
    "alice\u202e@example.com",  # right-to-left override
    "ali\u2066ce@example.com",  # left-to-right isolate
    "\u0430lice@example.com",  # Cyrillic a in a Latin local part
    "alice@ex\u0430mple.com",  # Cyrillic a in a Latin domain
    "alic\u03b5@example.com",  # Greek epsilon among Latin letters
]


@pytest.mark.parametrize("email", INVISIBLE_OR_CONFUSABLE)
def test_invisible_and_mixed_script_emails_are_refused_everywhere(configure, email):
    c = configure(AUTHSVC_OPEN_REGISTRATION=True)
    admin = c.make_user("root@example.com", is_admin=True)
    access = c.login(admin)["access_token"]
    for path, headers in (
        ("/api/v1/users", bearer(access)),
        ("/api/v1/auth/register", {}),
        (LOGIN, {}),
    ):
        r = c.client.post(path, headers=headers, json={"email": email, "password": PASSWORD})
        assert r.status_code == 400, (path, r.get_json())
        assert error_of(r) == envelope("invalid", type="validation_error", attr="email"), path
    result = c.app.test_cli_runner().invoke(
        args=["create-user", email, "--password-stdin"], input=PASSWORD + "\n"
    )
    assert result.exit_code != 0 and "email" in result.output
    from authsvc.models import User

    assert count_rows(c.app, User) == 1


def test_fullwidth_letters_are_the_same_account(client, user, admin_token):
    fullwidth = "\uff41\uff4c\uff49\uff43\uff45@example.com"  # ａｌｉｃｅ
    r = client.post(
        "/api/v1/users",
        headers=bearer(admin_token),
        json={"email": fullwidth, "password": PASSWORD},
    )
    assert r.status_code == 409 and error_of(r)["attr"] == "email"
    r = client.post(LOGIN, json={"email": fullwidth, "password": PASSWORD})
    assert r.status_code == 200
    for _ in range(5):  # and the lockout counts both spellings as one email
        fail_login(client, fullwidth)
    assert fail_login(client, user.email, PASSWORD).status_code == 429


def test_an_address_wholly_in_one_other_script_is_allowed(client, admin_token):
    r = client.post(
        "/api/v1/users",
        headers=bearer(admin_token),
        json={"email": "\u0438\u0432\u0430\u043d@example.com", "password": PASSWORD},
    )
    assert r.status_code == 201 and r.get_json()["email"] == "иван@example.com"


SPOOFED = {
    "SCRIPT_NAME": "/evil",
    "HTTP_HOST": "evil.example",
    "HTTP_X_FORWARDED_HOST": "evil.example",
    "HTTP_X_FORWARDED_PROTO": "https",
    "HTTP_X_FORWARDED_PREFIX": "/evil",
    "HTTP_SCRIPT_NAME": "/evil",
}


@pytest.mark.parametrize("trusted_proxies", [0, 1])
def test_metadata_and_redirects_come_from_the_issuer_only(configure, trusted_proxies):
    c = configure(AUTHSVC_TRUSTED_PROXIES=trusted_proxies)
    r = c.client.get("/.well-known/oauth-authorization-server", environ_base=SPOOFED)
    body = r.get_json()
    urls = [
        body[k]
        for k in ("token_endpoint", "revocation_endpoint", "introspection_endpoint", "jwks_uri")
    ]
    assert body["issuer"] == "http://authsvc.test"
    assert urls == [
        "http://authsvc.test/api/v1/auth/oauth2/token",
        "http://authsvc.test/api/v1/auth/revoke",
        "http://authsvc.test/api/v1/auth/introspect",
        "http://authsvc.test/.well-known/jwks.json",
    ]
    r = c.client.get("/console/", environ_base=SPOOFED)
    assert r.status_code == 302 and r.headers["Location"] == "http://authsvc.test/console/keys"


def test_an_issuer_with_a_path_prefixes_the_metadata(configure):
    c = configure(AUTHSVC_ISSUER="https://example.com/auth/")
    body = c.client.get("/.well-known/oauth-authorization-server").get_json()
    assert body["token_endpoint"] == "https://example.com/auth/api/v1/auth/oauth2/token"
