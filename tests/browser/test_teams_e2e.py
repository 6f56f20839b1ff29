"""The console's Teams pages end to end (issue 19): create, add by email, roles, leave, team keys."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from tests.helpers import CHROMIUM, bearer

if not os.access(CHROMIUM, os.X_OK):
    pytest.skip(f"no browser: {CHROMIUM} is missing", allow_module_level=True)
pytest.importorskip("playwright.sync_api", reason="the playwright package is missing")

from playwright.sync_api import expect

from tests.browser.test_console_e2e import create_key, row, sign_in

if TYPE_CHECKING:
    from collections.abc import Callable

    from flask.testing import FlaskClient

    from tests.helpers import BrowserTab, TestUser


def test_create_a_team_add_a_member_make_a_team_key_and_leave(
    tab: BrowserTab, client: FlaskClient, user: TestUser, make_user: Callable[..., TestUser]
) -> None:
    page = tab.page
    mia = make_user("mia@example.com")
    sign_in(tab, user, "/console/teams")
    expect(page.get_by_text("You are in no team yet.")).to_be_visible()
    page.get_by_label("Team name").fill("Platform")
    page.get_by_role("button", name="Create team").click()
    expect(page.locator("#teams-status")).to_have_text("Team Platform created; you are its owner.")
    card = page.locator("li.team").filter(has=page.get_by_role("heading", name="Platform"))
    card.get_by_label("Add a member by email").fill(mia.email)
    card.get_by_label("Role", exact=True).select_option("admin")
    card.get_by_role("button", name="Add member").click()
    expect(page.locator("#teams-status")).to_have_text(f"{mia.email} added to Platform as admin.")
    expect(card.get_by_label(f"Role of {mia.email}")).to_have_value("admin")
    # an unknown email is shown next to the field
    card.get_by_label("Add a member by email").fill("nobody@example.com")
    card.get_by_role("button", name="Add member").click()
    expect(card.locator('[data-error-for="email"]')).to_have_text("No active user has this email.")

    # the team's keys page: the same copy-once dialog as personal keys
    card.get_by_role("link", name="API keys of Platform").click()
    expect(page.get_by_role("heading", name="API keys of Platform")).to_be_visible()
    key = create_key(tab, "deploy")
    expect(row(tab, "deploy").locator('td[data-label="Status"]')).to_have_text("Active")
    r = client.get("/api/v1/auth/verify", headers=bearer(key))
    assert r.status_code == 200 and r.get_json()["owner_type"] == "team"

    # hand the team over and leave; the key keeps working
    page.get_by_role("link", name="Teams").click()
    expect(page.get_by_role("heading", name="Teams")).to_be_visible()
    card = page.locator("li.team").filter(has=page.get_by_role("heading", name="Platform"))
    card.get_by_role("button", name="Leave Platform").click()
    page.get_by_role("dialog").get_by_role("button", name="Leave").click()
    expect(page.locator("#teams-error")).to_contain_text("owner")
    page.wait_for_load_state("networkidle")  # the list reloaded after the refusal: still said
    expect(page.locator("#teams-error")).to_contain_text("owner")
    card = page.locator("li.team").filter(has=page.get_by_role("heading", name="Platform"))
    card.get_by_label(f"Role of {mia.email}").select_option("owner")
    expect(page.locator("#teams-status")).to_have_text(f"{mia.email} is now owner of Platform.")
    card = page.locator("li.team").filter(has=page.get_by_role("heading", name="Platform"))
    card.get_by_role("button", name="Leave Platform").click()
    page.get_by_role("dialog").get_by_role("button", name="Leave").click()
    expect(page.locator("#teams-status")).to_have_text("You left Platform.")
    expect(page.get_by_text("You are in no team yet.")).to_be_visible()
    assert client.get("/api/v1/auth/verify", headers=bearer(key)).status_code == 200
