"""The administrators' console end to end (issue 21 items 9-12): Users, one user's sessions
and keys, the audit log, all teams; refusals for everyone else; a first visit without traps."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

import pytest

from authsvc.core.principal import Client
from authsvc.extensions import db
from authsvc.services import audit
from tests.helpers import CHROMIUM, PASSWORD, bearer
from tests.helpers import BrowserTab as BrowserTabType

if not os.access(CHROMIUM, os.X_OK):
    pytest.skip(f"no browser: {CHROMIUM} is missing", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="the playwright package is missing")

from playwright.sync_api import expect

from tests.browser.test_console_e2e import sign_in

if TYPE_CHECKING:
    from collections.abc import Callable

    from flask import Flask
    from flask.testing import FlaskClient

    from tests.helpers import BrowserTab, TestUser

ADMIN_LINKS = ["Users", "Audit log", "OAuth apps", "All teams"]


def nav(tab: BrowserTab) -> Any:
    return tab.page.get_by_role("navigation", name="Console")


def test_users_search_create_manage_sessions_and_keys(
    tab: BrowserTab,
    client: FlaskClient,
    admin: TestUser,
    user: TestUser,
    login: Callable[..., dict],
) -> None:
    page = tab.page
    pair = login(user)
    r = client.post(
        "/api/v1/private-tokens",
        headers=bearer(pair["access_token"]),
        json={"name": "nightly", "expires_in_days": 30, "current_password": PASSWORD},
    )
    key = r.get_json()["token"]
    sign_in(tab, admin, "/console/admin-users")
    for name in ADMIN_LINKS:
        expect(nav(tab).get_by_role("link", name=name, exact=True)).to_be_visible()
    table = page.locator("#users-table tbody")
    expect(table.locator("tr")).to_have_count(2)
    page.get_by_label("Search by email").fill("alice")
    expect(table.locator("tr")).to_have_count(1)
    expect(page.locator("#users-count")).to_have_text("1 of 2 users match.")

    # create: the API's refusal is shown next to its field, then a good one goes through
    page.get_by_role("button", name="Create user").click()
    dialog = page.get_by_role("dialog", name="Create a user")
    dialog.get_by_label("Email").fill("not an email")
    dialog.get_by_label("Initial password").fill(PASSWORD)
    dialog.get_by_role("button", name="Create user").click()
    expect(dialog.locator("#user-email-error")).to_be_visible()
    expect(dialog.get_by_label("Email")).to_be_focused()
    dialog.get_by_label("Email").fill("bob@example.com")
    dialog.get_by_label("Scopes, separated by spaces").fill("read")
    dialog.get_by_role("button", name="Create user").click()
    expect(page.locator("#users-status")).to_have_text("bob@example.com was created.")
    page.get_by_label("Search by email").fill("")
    expect(table.locator("tr")).to_have_count(3)
    assert (
        client.post(
            "/api/v1/auth/login", json={"email": "bob@example.com", "password": PASSWORD}
        ).status_code
        == 200
    )

    # one user: sessions and keys, revoke them, change access, deactivate
    page.get_by_role("link", name=f"Manage {user.email}").click()
    expect(page.get_by_role("heading", name=user.email)).to_be_visible()
    sessions = page.locator("#user-sessions tbody tr")
    expect(sessions).to_have_count(1)
    keys = page.locator("#user-keys tbody tr")
    expect(keys).to_have_count(1)
    expect(keys.first.get_by_role("rowheader")).to_have_text("nightly")
    page.get_by_role("button", name="Revoke nightly").click()
    page.get_by_role("dialog").get_by_role("button", name="Revoke").click()
    expect(page.locator("#user-status")).to_have_text("nightly was revoked.")
    expect(keys.first.locator('td[data-label="Status"]')).to_have_text("Revoked")
    assert client.get("/api/v1/auth/verify", headers={"X-API-Key": key}).status_code == 401

    sessions.first.get_by_role("button", name=re.compile("^Sign out session")).click()
    page.get_by_role("dialog").get_by_role("button", name="Sign out").click()
    expect(page.locator("#user-status")).to_have_text("The session was signed out.")
    expect(page.get_by_text("No live session.")).to_be_visible()
    assert (
        client.get("/api/v1/auth/verify", headers=bearer(pair["access_token"])).status_code == 401
    )

    page.get_by_label("Scopes, separated by spaces").fill("read write deploy")
    page.get_by_label("Administrator").check()
    page.get_by_role("button", name="Save access").click()
    expect(page.locator("#user-status")).to_have_text(f"The access of {user.email} was saved.")
    me = client.get("/api/v1/users/me", headers=bearer(login(user)["access_token"])).get_json()
    assert me["scopes"] == ["read", "write", "deploy"] and me["is_admin"] is True
    page.get_by_label("Administrator").uncheck()
    page.get_by_role("button", name="Save access").click()
    expect(page.locator("#user-facts")).to_contain_text("AdministratorNo")

    page.get_by_role("button", name="Deactivate").click()
    page.get_by_role("dialog").get_by_role("button", name="Deactivate").click()
    expect(page.locator("#user-status")).to_have_text(f"{user.email} was deactivated.")
    assert (
        client.post(
            "/api/v1/auth/login", json={"email": user.email, "password": user.password}
        ).status_code
        == 401
    )
    page.get_by_role("button", name="Reactivate").click()
    expect(page.locator("#user-status")).to_have_text(f"{user.email} was reactivated.")

    # the user's audit events, from their page
    page.get_by_role("link", name="This user's audit events").click()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    expect(page.get_by_label("User", exact=True)).to_have_value(user.id)
    rows = page.locator("#audit-table tbody tr")
    expect(rows.first).to_be_visible()
    expect(rows.locator('td[data-label="User"]').filter(has_not_text=user.email)).to_have_count(0)


def test_audit_log_filters_pages_and_details(
    tab: BrowserTab, app: Flask, admin: TestUser, user: TestUser
) -> None:
    page = tab.page
    with app.app_context():
        for n in range(55):
            audit.record("login.failed", client=Client(ip="192.0.2.7"), user_id=user.id, n=n)
        db.session.commit()
    sign_in(tab, admin, "/console/audit")
    rows = page.locator("#audit-table tbody tr")
    expect(rows).to_have_count(50)
    expect(page.locator("#audit-page")).to_have_text("Page 1")
    expect(page.get_by_role("button", name="Newer")).to_be_disabled()
    page.get_by_role("button", name="Older").click()
    expect(page.locator("#audit-page")).to_have_text("Page 2")
    expect(rows).not_to_have_count(50)
    page.get_by_role("button", name="Newer").click()
    expect(page.locator("#audit-page")).to_have_text("Page 1")

    page.get_by_label("Type").fill("login.succeeded")
    page.get_by_role("button", name="Show events").click()
    expect(rows).to_have_count(1)
    expect(page).to_have_url(re.compile(r"/console/audit\?type=login.succeeded$"))
    expect(rows.first.locator('td[data-label="User"]')).to_have_text(admin.email)
    rows.first.get_by_role("button", name=re.compile("^Details of login.succeeded")).click()
    detail = page.get_by_role("dialog", name="login.succeeded")
    expect(detail).to_be_visible()
    expect(detail.locator("#event-detail")).to_contain_text('"session_id"')
    detail.get_by_role("button", name="Close").click()
    expect(detail).to_be_hidden()  # a modal dialog leaves the page behind it inert until then

    kind = page.get_by_label("Type")
    kind.press("Escape")  # close the datalist's suggestions, which may pick a value back up
    kind.fill("")
    kind.press("Escape")
    expect(kind).to_have_value("")
    page.get_by_label("User", exact=True).select_option(label=user.email)
    page.get_by_label("Until").fill("2020-01-01T00:00")
    page.get_by_role("button", name="Show events").click()
    expect(page).to_have_url(re.compile(r"\?user_id=\w+&until="))
    expect(page.get_by_text("No event matches.")).to_be_visible()
    page.get_by_label("Until").fill("")
    page.get_by_label("From").fill("2020-01-01T00:00")
    page.get_by_role("button", name="Show events").click()
    expect(page).to_have_url(re.compile(r"\?user_id=\w+&since="))
    expect(rows).to_have_count(50)


def test_all_teams_show_members_and_admins_set_scopes(
    tab: BrowserTab, admin: TestUser, user: TestUser, client: FlaskClient, login
) -> None:
    page = tab.page
    r = client.post(
        "/api/v1/teams", headers=bearer(login(user)["access_token"]), json={"name": "Platform"}
    )
    team = r.get_json()
    sign_in(tab, admin, "/console/admin-teams")
    card = page.locator("li.team").filter(has=page.get_by_role("heading", name="Platform"))
    expect(card.get_by_role("rowheader", name=user.email)).to_be_visible()
    expect(card).to_contain_text("you are not a member")
    card.get_by_label("Scopes of Platform").fill("read admin")
    card.get_by_role("button", name="Save scopes").click()
    expect(card.locator('[data-error-for="scopes"]')).to_be_visible()
    card.get_by_label("Scopes of Platform").fill("read deploy")
    card.get_by_role("button", name="Save scopes").click()
    expect(page.locator("#admin-teams-status")).to_have_text("The scopes of Platform were saved.")
    got = client.get(f"/api/v1/teams/{team['id']}", headers=bearer(login(user)["access_token"]))
    assert got.get_json()["scopes"] == ["read", "deploy"]


@pytest.mark.parametrize(
    "path", ["admin-users", "admin-user?id=x", "audit", "oauth-apps", "admin-teams"]
)
def test_non_admins_see_no_admin_navigation_and_the_pages_refuse(
    tab: BrowserTab, user: TestUser, path: str
) -> None:
    page = tab.page
    sign_in(tab, user)
    for name in ADMIN_LINKS:
        expect(nav(tab).get_by_role("link", name=name, exact=True)).to_be_hidden()
    failed: list[str] = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    tab.go(f"/console/{path}")
    expect(page.get_by_role("heading", name="Administrators only")).to_be_visible()
    expect(page.locator("[data-refused]")).to_contain_text("your account is not one")
    for name in ADMIN_LINKS:
        expect(nav(tab).get_by_role("link", name=name, exact=True)).to_be_hidden()
    assert failed == []  # the page asked the admin API nothing
    page.get_by_role("link", name="Go to your API keys").click()
    expect(page.get_by_role("heading", name="API keys")).to_be_visible()


def test_a_first_visit_lands_on_sign_in_without_a_failed_request(tab: BrowserTab) -> None:
    page = tab.page
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    tab.go("/")
    expect(page).to_have_url(re.compile(r"/console/signin\?next="))
    expect(page.get_by_role("button", name="Sign in")).to_be_enabled()
    page.wait_for_load_state("networkidle")
    assert errors == [] and failed == []
    icon = page.evaluate("document.querySelector('link[rel=icon]').href")
    assert page.request.get(icon).status == 200

    tab.go("/console/nowhere")
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    page.get_by_role("link", name="Go to your API keys").click()
    expect(page).to_have_url(re.compile(r"/console/signin\?next=%2Fconsole%2Fkeys"))


VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.mark.skipif(
    not os.environ.get("AUTHSVC_SCREENSHOTS"),
    reason="set AUTHSVC_SCREENSHOTS=docs/screenshots to refresh the docs' screenshots",
)
@pytest.mark.parametrize("width", sorted(VIEWPORTS))
def test_admin_screenshots(
    chromium: Any,
    live_server: str,
    client: FlaskClient,
    admin: TestUser,
    user: TestUser,
    make_user: Callable[..., TestUser],
    login: Callable[..., dict],
    width: str,
) -> None:
    """The administrators' pages at desktop and phone width, into $AUTHSVC_SCREENSHOTS."""
    from pathlib import Path

    out = Path(os.environ["AUTHSVC_SCREENSHOTS"])
    out.mkdir(parents=True, exist_ok=True)
    make_user("maria.keller@example.com", scopes=["read"])
    access = login(user)["access_token"]
    client.post(
        "/api/v1/private-tokens",
        headers=bearer(access),
        json={"name": "billing exporter", "expires_in_days": 90, "current_password": PASSWORD},
    )
    client.post("/api/v1/teams", headers=bearer(access), json={"name": "Platform"})
    client.post("/api/v1/auth/login", json={"email": user.email, "password": "not-it-at-all"})
    context = chromium.new_context(
        base_url=live_server,
        viewport=VIEWPORTS[width],
        is_mobile=width == "phone",
        has_touch=width == "phone",
    )
    page = context.new_page()
    tab = BrowserTabType(page, live_server, [])

    def shot(name: str) -> None:
        page.mouse.move(0, 0)
        page.screenshot(path=out / f"{name}-{width}.png", full_page=True, animations="disabled")

    sign_in(tab, admin, "/console/admin-users")
    expect(page.locator("#users-table tbody tr")).to_have_count(3)
    shot("admin-users")
    page.get_by_role("link", name=f"Manage {user.email}").click()
    expect(page.locator("#user-keys tbody tr")).to_have_count(1)
    shot("admin-user")
    page.get_by_role("link", name="This user's audit events").click()
    expect(page.locator("#audit-table tbody tr").first).to_be_visible()
    shot("audit")
    tab.go("/console/admin-teams")
    expect(page.locator("li.team")).to_have_count(1)
    shot("admin-teams")
    context.close()
