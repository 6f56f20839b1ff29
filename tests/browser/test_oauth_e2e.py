"""OAuth end to end with real clients against a live server on loopback (issue 16).

- authlib's OAuth2Session: authorization code + PKCE, with sign-in (second factor too) and
  consent in Debian's Chromium driven by Playwright; then refresh, client credentials,
  revocation and introspection.
- Node's openid-client (tests/js): discovery, PKCE, state, nonce, iss and strict id_token
  validation, userinfo, refresh.

Skips, saying what is missing, without /usr/bin/chromium, playwright, node or tests/js/node_modules.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask

from tests.helpers import CHROMIUM, TestUser, bearer

if not os.access(CHROMIUM, os.X_OK):
    pytest.skip(
        f"no browser: {CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is missing (pip install -e '.[test]')"
)
oauth2_client = pytest.importorskip(
    "authlib.integrations.requests_client",
    reason="authlib and requests are missing (pip install -e '.[test]')",
)
expect = sync_api.expect

JS = Path(__file__).resolve().parents[1] / "js"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
CALLBACK = "http://127.0.0.1:8765/callback"  # registered as http://127.0.0.1/callback: any port


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def port() -> int:
    return _free_port()


@pytest.fixture
def issuer(config: dict[str, Any], port: int) -> str:
    """The live server's own URL is the issuer: real clients check discovery against it."""
    url = f"http://127.0.0.1:{port}"
    config["AUTHSVC_ISSUER"] = url
    return url


@pytest.fixture
def server(issuer: str, app: Flask, port: int) -> Iterator[str]:
    from werkzeug.serving import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            pass

    srv = make_server("127.0.0.1", port, app, threaded=True, request_handler=Quiet)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield issuer
    srv.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def browser_page(chromium: Any, server: str) -> Iterator[Any]:
    """A fresh context of the run's one Chromium (tests/conftest.py), on the live server."""
    context = chromium.new_context(viewport={"width": 1100, "height": 760})
    context.set_default_timeout(15_000)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    yield page
    context.close()
    assert not problems, problems


@pytest.fixture
def admin_token(
    server: str, make_user: Callable[..., TestUser], login: Callable[..., dict[str, Any]]
) -> str:
    root = make_user(
        "root@example.com", is_admin=True, scopes=["read", "write", "admin", "introspect"]
    )
    return login(root)["access_token"]


def register(client: Any, admin_token: str, **overrides: Any) -> dict[str, Any]:
    body = {
        "name": "Grafana",
        "redirect_uris": ["http://127.0.0.1/callback"],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "client_secret_basic",
        "scopes": ["openid", "email", "read"],
        **overrides,
    }
    response = client.post("/api/v1/oauth2/clients", json=body, headers=bearer(admin_token))
    assert response.status_code == 201, response.get_json()
    return dict(response.get_json())


def consent_in_browser(
    page: Any,
    url: str,
    who: TestUser,
    *,
    totp: Callable[[], str] | None = None,
    screenshot: bool = False,
) -> str:
    """Open the authorization URL, sign in, Allow; returns the callback URL the browser reached."""
    landed: list[str] = []

    def catch(route: Any) -> None:
        landed.append(route.request.url)
        route.fulfill(status=200, content_type="text/plain", body="signed in")

    page.route(re.compile(r"^http://127\.0\.0\.1:8765/callback.*"), catch)
    page.goto(url)
    expect(page).to_have_url(re.compile(r"/console/signin\?next="))
    page.locator("main").get_by_label("Email").fill(who.email)
    page.locator("main").get_by_label("Password").fill(who.password)
    page.get_by_role("button", name="Sign in").click()
    if totp is not None:
        page.locator("main").get_by_label("Code").fill(totp())
        page.get_by_role("button", name="Verify").click()
    heading = page.get_by_role("heading", name=re.compile("wants to use your account"))
    expect(heading).to_be_visible()
    expect(page.locator("#consent-scopes li")).to_have_count(3)
    expect(page.locator("#consent-scopes")).to_contain_text("See your email address.")
    if screenshot and os.environ.get("AUTHSVC_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "oauth-consent.png"))
    page.get_by_role("button", name="Allow").click()
    page.wait_for_function("() => document.body.innerText.includes('signed in')")
    assert landed, "the browser never reached the callback"
    return landed[-1]


def test_authlib_client_code_pkce_refresh_revoke_introspect(
    server: str, client: Any, admin_token: str, user: TestUser, enable_totp: Any, browser_page: Any
) -> None:
    import pyotp

    state = enable_totp(user)
    app = register(client, admin_token)
    session = oauth2_client.OAuth2Session(
        app["client_id"],
        app["client_secret"],
        scope="openid email read",
        redirect_uri=CALLBACK,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )
    verifier = __import__("secrets").token_urlsafe(48)
    url, expected_state = session.create_authorization_url(
        server + "/api/v1/auth/oauth2/authorize", code_verifier=verifier, nonce="n-e2e"
    )
    import time

    totp = pyotp.TOTP(state.secret)

    def fresh_code() -> str:
        # The enable step used the current window; wait for the next one.
        time.sleep(max(0.0, 30 - time.time() % 30 + 0.5))
        return totp.now()

    callback = consent_in_browser(browser_page, url, user, totp=fresh_code, screenshot=True)
    query = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    assert query["state"] == expected_state and query["iss"] == server
    token = session.fetch_token(
        server + "/api/v1/auth/oauth2/token",
        authorization_response=callback,
        code_verifier=verifier,
    )
    assert {"access_token", "refresh_token", "id_token"} <= set(token)
    id_claims = json.loads(
        __import__("base64").urlsafe_b64decode(token["id_token"].split(".")[1] + "==")
    )
    assert id_claims["amr"] == ["pwd", "otp"] and id_claims["nonce"] == "n-e2e"
    info = session.get(server + "/api/v1/auth/oauth2/userinfo").json()
    assert info == {"sub": user.id, "email": user.email}

    refreshed = session.refresh_token(server + "/api/v1/auth/oauth2/token")
    assert refreshed["refresh_token"] != token["refresh_token"]

    # A gateway: client credentials, then introspection with client_secret_basic.
    gateway = register(
        client,
        admin_token,
        name="Gateway",
        grant_types=["client_credentials"],
        redirect_uris=[],
        scopes=["read", "introspect"],
    )
    service = oauth2_client.OAuth2Session(
        gateway["client_id"],
        gateway["client_secret"],
        token_endpoint_auth_method="client_secret_basic",
    )
    cc = service.fetch_token(
        server + "/api/v1/auth/oauth2/token", grant_type="client_credentials", scope="read"
    )
    assert "refresh_token" not in cc and cc["scope"] == "read"
    seen = service.introspect_token(
        server + "/api/v1/auth/introspect", token=refreshed["access_token"]
    ).json()
    assert (
        seen["active"] is True and seen["client_id"] == app["client_id"] and seen["sub"] == user.id
    )

    # Revocation by the app (its own refresh token takes the session with it).
    revoked = session.revoke_token(
        server + "/api/v1/auth/revoke", refreshed["refresh_token"], token_type_hint="refresh_token"
    )
    assert revoked.status_code == 200
    after = service.introspect_token(
        server + "/api/v1/auth/introspect", token=refreshed["access_token"]
    ).json()
    assert after == {"active": False}


def test_node_openid_client_validates_everything(
    server: str, client: Any, admin_token: str, user: TestUser, browser_page: Any
) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is missing (apt-get install nodejs)")
    if not (JS / "node_modules" / "openid-client").is_dir():
        pytest.skip("openid-client is missing: (cd tests/js && npm ci)")
    app = register(client, admin_token, name="Node app")
    proc = subprocess.Popen(
        [node, str(JS / "oidc_flow.mjs"), server, app["client_id"], app["client_secret"], CALLBACK],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        first = proc.stdout.readline()
        if not first:
            raise AssertionError(proc.stderr.read() if proc.stderr else "node said nothing")
        url = json.loads(first)["authorization_url"]
        assert "code_challenge_method=S256" in url
        callback = consent_in_browser(browser_page, url, user)
        proc.stdin.write(callback + "\n")
        proc.stdin.flush()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["metadata_issuer"] == server
    assert result["claims"]["sub"] == user.id and result["claims"]["aud"] == app["client_id"]
    assert result["userinfo"] == {"sub": user.id, "email": user.email}
    assert result["refreshed"] is True
