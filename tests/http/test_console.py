"""The web console without a browser: page shells, their CSP, and the session cookie adapter."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyotp
import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from authsvc.core import clock
from authsvc.extensions import db
from authsvc.models import AuditEvent, LoginSession
from authsvc.web.app import HTML_CSP
from authsvc.web.console import PAGES
from tests.helpers import bearer, count_rows, envelope, error_of

if TYPE_CHECKING:
    from tests.helpers import TestUser, TotpState

SESSION = "/console/session"
GUARD = {"X-Authsvc-Console": "1"}
COOKIE = "__Secure-authsvc_refresh"
CONSOLE = Path(__file__).resolve().parents[2] / "authsvc" / "web" / "console"


def set_cookie_header(response: Any) -> dict[str, str]:
    """The Set-Cookie of the refresh cookie, attributes lower-cased (value under `value`)."""
    (header,) = [h for h in response.headers.getlist("Set-Cookie") if "authsvc_refresh=" in h]
    name_value, *attrs = [part.strip() for part in header.split(";")]
    name, _, value = name_value.partition("=")
    parsed = {"name": name, "value": value}
    for attr in attrs:
        key, _, val = attr.partition("=")
        parsed[key.lower()] = val
    return parsed


def console_login(client: FlaskClient, who: TestUser, **extra: Any) -> Any:
    return client.post(
        f"{SESSION}/login",
        headers=GUARD,
        json={"email": who.email, "password": who.password, **extra},
    )


def cookie_value(client: FlaskClient, name: str = COOKIE) -> str | None:
    cookie = client.get_cookie(name, path=SESSION)
    return cookie.value if cookie else None


def audit_types(app: Any) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent.type).order_by(AuditEvent.id)))


# --- pages ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PAGES))
def test_every_page_is_a_shell_under_the_strict_policy(client: FlaskClient, name: str) -> None:
    r = client.get(f"/console/{name}")
    assert r.status_code == 200
    assert r.mimetype == "text/html"
    assert r.headers["Content-Security-Policy"] == HTML_CSP
    assert r.headers["X-Frame-Options"] == "DENY"
    html = r.get_data(as_text=True)
    assert f'data-page="{name}"' in html
    assert '<script type="module" src="/console/static/app.js"></script>' in html
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline script"
    assert not re.search(r"\sstyle=|<style", html), "inline style"
    assert not re.search(r"\son[a-z]+=", html), "inline event handler"
    # Until its script is wired a form cannot be sent (a native GET would put the password
    # in the URL): its submit button starts disabled, which also stops Enter.
    assert not re.search(r'<button type="submit"(?![^>]*\bdisabled\b)', html)
    for ref in re.findall(r'(?:src|href)="(/console/static/[^"]+)"', html):
        assert client.get(ref).status_code == 200, ref
    (module,) = [p for p in (CONSOLE / "static" / "pages").glob("*.js") if p.stem == name]
    assert client.get(f"/console/static/pages/{module.name}").status_code == 200


def test_static_scripts_and_styles_need_nothing_the_policy_forbids() -> None:
    for path in (CONSOLE / "static").rglob("*.js"):
        text = path.read_text()
        for forbidden in (
            "eval(",
            "new Function",
            "innerHTML",
            'setAttribute("style"',
            "localStorage",
            "document.cookie",
            "insertAdjacentHTML",
        ):
            assert forbidden not in text, (path.name, forbidden)
    css = (CONSOLE / "static" / "console.css").read_text()
    assert "@import" not in css and "url(" not in css


def test_console_root_redirects_to_keys_and_unknown_pages_are_404(client: FlaskClient) -> None:
    r = client.get("/console/")
    assert r.status_code == 302 and r.headers["Location"].endswith("/console/keys")
    r = client.get("/console/nowhere")
    assert r.status_code == 404 and error_of(r) == envelope("not_found")


# --- the cookie adapter: login ---------------------------------------------------------


def test_login_answers_the_access_token_and_keeps_the_refresh_token_in_a_strict_cookie(
    app: Any, client: FlaskClient, user: TestUser
) -> None:
    r = console_login(client, user)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600
    assert r.headers["Cache-Control"] == "no-store"
    cookie = set_cookie_header(r)
    assert cookie["name"] == COOKIE
    assert cookie["path"] == SESSION
    assert "httponly" in cookie and "secure" in cookie
    assert cookie["samesite"] == "Strict"
    assert cookie["max-age"] == str(30 * 24 * 3600)
    assert "domain" not in cookie
    v = client.get("/api/v1/auth/verify", headers=bearer(body["access_token"]))
    assert v.status_code == 200 and v.get_json()["token_type"] == "access"
    # The cookie is the API's own refresh token: it works at /auth/refresh too.
    assert (
        client.post("/api/v1/auth/refresh", json={"refresh_token": cookie["value"]}).status_code
        == 200
    )
    assert audit_types(app).count("login.succeeded") == 1


def test_the_cookie_is_only_sent_to_the_session_routes(client: FlaskClient, user: TestUser) -> None:
    console_login(client, user)
    assert cookie_value(client) is not None
    assert client.get_cookie(COOKIE, path="/") is None


@pytest.mark.parametrize(
    ("body", "status", "code", "attr"),
    [
        (
            {"email": "alice@example.com", "password": "wrong-password-123"},
            401,
            "invalid_credentials",
            None,
        ),
        (
            {"email": "nobody@example.com", "password": "wrong-password-123"},
            401,
            "invalid_credentials",
            None,
        ),
        ({"password": "x"}, 400, "required", "email"),
        ({"email": "not-an-email", "password": "x"}, 400, "invalid", "email"),
        ({"email": "alice@example.com"}, 400, "required", "password"),
    ],
)
def test_login_failures_are_the_apis_own(
    app: Any,
    client: FlaskClient,
    user: TestUser,
    body: dict[str, str],
    status: int,
    code: str,
    attr: str | None,
) -> None:
    r = client.post(f"{SESSION}/login", headers=GUARD, json=body)
    assert r.status_code == status
    assert error_of(r)["code"] == code and error_of(r)["attr"] == attr
    assert "Set-Cookie" not in r.headers
    assert count_rows(app, LoginSession) == 0


def test_login_takes_json_only(client: FlaskClient, user: TestUser) -> None:
    r = client.post(
        f"{SESSION}/login", headers=GUARD, data={"email": user.email, "password": user.password}
    )
    assert r.status_code == 415 and error_of(r) == envelope("unsupported_media_type")


def test_login_with_two_factor_asks_for_the_code_then_takes_it(
    app: Any, client: FlaskClient, user: TestUser, totp_user: TotpState
) -> None:
    r = console_login(client, user)
    assert r.status_code == 401
    assert error_of(r) == envelope("mfa_required", attr="totp_code")
    assert "Set-Cookie" not in r.headers
    r = console_login(client, user, totp_code="000000")
    assert r.status_code == 401 and error_of(r) == envelope("invalid_totp", attr="totp_code")
    clock.advance(30)
    r = console_login(client, user, totp_code=pyotp.TOTP(totp_user.secret).at(clock.now()))
    assert r.status_code == 200, r.get_json()
    assert set_cookie_header(r)["name"] == COOKIE
    r = console_login(client, user, totp_code=totp_user.recovery_codes[0])
    assert r.status_code == 200, r.get_json()


def test_console_login_counts_towards_the_address_limit(
    make_app: Callable[..., Any], user: TestUser
) -> None:
    limited = make_app(AUTHSVC_ADDRESS_RATE="2 per minute").test_client()
    for _ in range(2):
        assert console_login(limited, user).status_code == 200
    r = console_login(limited, user)
    assert r.status_code == 429 and error_of(r)["code"] == "rate_limited"
    assert int(r.headers["Retry-After"]) >= 1


def test_console_login_shares_the_account_lockout(client: FlaskClient, user: TestUser) -> None:
    wrong = dataclasses.replace(user, password="not-the-password-42")
    for _ in range(5):
        assert console_login(client, wrong).status_code == 401
    r = console_login(client, user)
    assert r.status_code == 429 and error_of(r)["code"] == "rate_limited"
    r = client.post("/api/v1/auth/login", json={"email": user.email, "password": user.password})
    assert r.status_code == 429


def test_the_secure_flag_can_be_turned_off_for_plain_http(
    make_app: Callable[..., Any], user: TestUser
) -> None:
    plain = make_app(AUTHSVC_CONSOLE_SECURE_COOKIE=False).test_client()
    r = console_login(plain, user)
    cookie = set_cookie_header(r)
    assert cookie["name"] == "authsvc_refresh" and "secure" not in cookie
    assert "httponly" in cookie and cookie["samesite"] == "Strict" and cookie["path"] == SESSION
    assert plain.post(f"{SESSION}/refresh", headers=GUARD).status_code == 200


# --- CSRF ------------------------------------------------------------------------------


CROSS_SITE = [
    pytest.param({}, id="no-guard-header"),
    pytest.param({"X-Authsvc-Console": "yes"}, id="wrong-guard-value"),
    pytest.param({**GUARD, "Origin": "https://evil.example"}, id="foreign-origin"),
    pytest.param({**GUARD, "Origin": "null"}, id="opaque-origin"),
    pytest.param({**GUARD, "Origin": "http://localhost:8080"}, id="other-port"),
    pytest.param({**GUARD, "Sec-Fetch-Site": "cross-site"}, id="fetch-cross-site"),
    pytest.param({**GUARD, "Sec-Fetch-Site": "same-site"}, id="fetch-same-site"),
]


@pytest.mark.parametrize("headers", CROSS_SITE)
def test_cross_site_login_is_refused_and_opens_no_session(
    app: Any, client: FlaskClient, user: TestUser, headers: dict[str, str]
) -> None:
    r = client.post(
        f"{SESSION}/login", headers=headers, json={"email": user.email, "password": user.password}
    )
    assert r.status_code == 403 and error_of(r) == envelope("permission_denied")
    assert "Set-Cookie" not in r.headers
    assert count_rows(app, LoginSession) == 0
    assert "login.succeeded" not in audit_types(app)


@pytest.mark.parametrize("headers", CROSS_SITE)
@pytest.mark.parametrize("route", ["refresh", "logout"])
def test_cross_site_refresh_and_logout_are_refused_and_change_nothing(
    app: Any, client: FlaskClient, user: TestUser, headers: dict[str, str], route: str
) -> None:
    access = console_login(client, user).get_json()["access_token"]
    before = cookie_value(client)
    r = client.post(f"{SESSION}/{route}", headers={**headers, **bearer(access)})
    assert r.status_code == 403 and error_of(r) == envelope("permission_denied")
    assert "Set-Cookie" not in r.headers
    assert cookie_value(client) == before
    assert count_rows(app, LoginSession, LoginSession.revoked_at.is_(None)) == 1
    assert client.get("/api/v1/auth/verify", headers=bearer(access)).status_code == 200


def test_same_origin_browser_headers_are_accepted(client: FlaskClient, user: TestUser) -> None:
    headers = {**GUARD, "Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}
    r = client.post(
        f"{SESSION}/login", headers=headers, json={"email": user.email, "password": user.password}
    )
    assert r.status_code == 200, r.get_json()
    assert client.post(f"{SESSION}/refresh", headers=headers).status_code == 200


# --- refresh ---------------------------------------------------------------------------


def test_refresh_rotates_the_cookie(app: Any, client: FlaskClient, user: TestUser) -> None:
    console_login(client, user)
    first = cookie_value(client)
    r = client.post(f"{SESSION}/refresh", headers=GUARD)
    assert r.status_code == 200, r.get_json()
    assert set(r.get_json()) == {"access_token", "token_type", "expires_in"}
    assert r.headers["Cache-Control"] == "no-store"
    cookie = set_cookie_header(r)
    assert cookie["value"] != first and cookie["value"] == cookie_value(client)
    assert "httponly" in cookie and "secure" in cookie and cookie["samesite"] == "Strict"
    assert (
        client.get("/api/v1/auth/verify", headers=bearer(r.get_json()["access_token"])).status_code
        == 200
    )
    assert audit_types(app).count("token.refreshed") == 1
    assert client.post(f"{SESSION}/refresh", headers=GUARD).status_code == 200


@pytest.mark.parametrize("refresh_window", [0])
def test_a_replayed_cookie_revokes_the_session_and_is_forgotten(
    app: Any, client: FlaskClient, user: TestUser
) -> None:
    access = console_login(client, user).get_json()["access_token"]
    stolen = cookie_value(client)
    assert client.post(f"{SESSION}/refresh", headers=GUARD).status_code == 200
    client.set_cookie(COOKIE, stolen, path=SESSION)
    r = client.post(f"{SESSION}/refresh", headers=GUARD)
    assert r.status_code == 401
    assert error_of(r) == envelope("invalid_token", reason="reused")
    assert cookie_value(client) is None
    cleared = set_cookie_header(r)
    assert cleared["value"] == "" and cleared["path"] == SESSION
    assert client.get("/api/v1/auth/verify", headers=bearer(access)).status_code == 401
    assert "refresh.reuse_detected" in audit_types(app)


def test_refresh_without_a_cookie_has_nothing_to_refresh(client: FlaskClient) -> None:
    # issue 21 item 12: a first visit's check shows no failed (red) request in the browser
    r = client.post(f"{SESSION}/refresh", headers=GUARD)
    assert r.status_code == 204 and r.data == b""
    assert not r.headers.getlist("Set-Cookie")


def test_a_garbage_cookie_is_refused_and_forgotten(client: FlaskClient) -> None:
    client.set_cookie(COOKIE, "not-a-token", path=SESSION)
    r = client.post(f"{SESSION}/refresh", headers=GUARD)
    assert r.status_code == 401 and error_of(r) == envelope("invalid_token", reason="malformed")
    assert cookie_value(client) is None


def test_refresh_after_a_password_change_elsewhere_fails(
    client: FlaskClient, user: TestUser, tokens: dict[str, Any]
) -> None:
    console_login(client, user)
    r = client.post(
        "/api/v1/auth/password",
        headers=bearer(tokens["access_token"]),
        json={"current_password": user.password, "new_password": "another-Granite-77-harbour"},
    )
    assert r.status_code == 204
    r = client.post(f"{SESSION}/refresh", headers=GUARD)
    assert r.status_code == 401 and error_of(r)["code"] == "invalid_token"


# --- logout ----------------------------------------------------------------------------


def test_logout_ends_the_session_and_forgets_the_cookie(
    app: Any, client: FlaskClient, user: TestUser
) -> None:
    access = console_login(client, user).get_json()["access_token"]
    refresh_token = cookie_value(client)
    r = client.post(f"{SESSION}/logout", headers={**GUARD, **bearer(access)})
    assert r.status_code == 204
    assert cookie_value(client) is None
    assert client.get("/api/v1/auth/verify", headers=bearer(access)).status_code == 401
    r = client.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})
    assert r.status_code == 401
    assert "logout" in audit_types(app)


def test_logout_without_a_token_only_forgets_the_cookie(
    app: Any, client: FlaskClient, user: TestUser
) -> None:
    access = console_login(client, user).get_json()["access_token"]
    r = client.post(f"{SESSION}/logout", headers=GUARD)
    assert r.status_code == 204
    assert cookie_value(client) is None
    assert client.get("/api/v1/auth/verify", headers=bearer(access)).status_code == 200
    assert "logout" not in audit_types(app)


def test_logout_with_a_dead_token_still_forgets_the_cookie(
    client: FlaskClient, user: TestUser
) -> None:
    access = console_login(client, user).get_json()["access_token"]
    assert client.delete("/api/v1/auth/sessions", headers=bearer(access)).status_code == 204
    r = client.post(f"{SESSION}/logout", headers={**GUARD, **bearer(access)})
    assert r.status_code == 401 and error_of(r) == envelope("invalid_token", reason="revoked")
    assert cookie_value(client) is None


def test_a_private_token_cannot_log_out_a_console_session(
    client: FlaskClient, user: TestUser, tokens: dict[str, Any]
) -> None:
    r = client.post(
        "/api/v1/private-tokens",
        headers=bearer(tokens["access_token"]),
        json={"name": "ci", "expires_in_days": 7, "current_password": user.password},
    )
    assert r.status_code == 201, r.get_json()
    console_login(client, user)
    r = client.post(f"{SESSION}/logout", headers={**GUARD, **bearer(r.get_json()["token"])})
    assert r.status_code == 403 and error_of(r) == envelope("permission_denied")


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_session_routes_take_post_only(client: FlaskClient, method: str) -> None:
    r = client.open(f"{SESSION}/refresh", method=method, headers=GUARD)
    assert r.status_code == 405 and error_of(r) == envelope("method_not_allowed")


def test_a_retried_cookie_within_the_window_gets_the_same_successor(
    app: Any, client: FlaskClient, user: TestUser
) -> None:
    """Two tabs (or a reload that lost the answer) refreshing with one cookie stay signed in."""
    import jwt

    console_login(client, user)
    old = cookie_value(client)
    assert client.post(f"{SESSION}/refresh", headers=GUARD).status_code == 200
    first = cookie_value(client)
    client.set_cookie(COOKIE, old, path=SESSION)  # the other tab still has the old cookie
    r = client.post(f"{SESSION}/refresh", headers=GUARD)
    assert r.status_code == 200
    second = cookie_value(client)
    a, b = (jwt.decode(t, options={"verify_signature": False}) for t in (first, second))
    assert (a["jti"], a["iat"], a["exp"]) == (b["jti"], b["iat"], b["exp"])
    assert (
        client.get("/api/v1/auth/verify", headers=bearer(r.get_json()["access_token"])).status_code
        == 200
    )
    assert client.post(f"{SESSION}/refresh", headers=GUARD).status_code == 200
    assert "refresh.reuse_detected" not in audit_types(app)
