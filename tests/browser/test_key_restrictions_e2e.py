"""Issue 22 in the console: a key's addresses and limit in the create dialog, and its row."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.test_console_e2e import copy_shown_key, row, sign_in  # skips without a browser
from tests.helpers import PASSWORD, bearer

expect = pytest.importorskip("playwright.sync_api").expect

if TYPE_CHECKING:
    from flask.testing import FlaskClient

    from tests.helpers import BrowserTab, TestUser


def test_create_a_restricted_key_and_see_it_marked(
    tab: BrowserTab, client: FlaskClient, user: TestUser
) -> None:
    page = tab.page
    sign_in(tab, user)
    page.get_by_role("button", name="Create key").click()
    dialog = page.get_by_role("dialog", name="Create an API key")
    dialog.get_by_label("Name").fill("ci runners")
    dialog.get_by_label("Allowed addresses").fill("127.0.0.1\n2001:db8::/48\n0.0.0.0/0")
    dialog.get_by_label("Rate limit").fill("100")
    dialog.locator("#create-rate-unit").select_option("minute")
    dialog.get_by_label("Your password").fill(PASSWORD)
    dialog.get_by_role("button", name="Create key").click()
    expect(page.locator("#create-ips-error")).to_contain_text("0.0.0.0/0: Too broad")
    dialog.get_by_label("Allowed addresses").fill("127.0.0.1\n2001:db8::/48\n")
    dialog.get_by_role("button", name="Create key").click()
    key = copy_shown_key(tab)

    line = page.locator("#keys-table tbody tr.restricted")
    expect(line).to_have_count(1)
    expect(line.locator(".badge.restricted")).to_have_text("Restricted")
    expect(line).to_contain_text("from 127.0.0.1, 2001:db8::/48; at most 100 per minute")
    assert client.get("/api/v1/auth/verify", headers={"X-API-Key": key}).status_code == 200
    page.reload()
    expect(line.locator('td[data-label="Last used"]')).to_contain_text("from 127.0.0.1")


def test_a_keys_limit_is_set_changed_and_lifted_in_its_row(
    tab: BrowserTab, client: FlaskClient, user: TestUser, login: Any
) -> None:
    access = login(user)["access_token"]
    made = client.post(
        "/api/v1/private-tokens",
        headers=bearer(access),
        json={"name": "deploy", "expires_in_days": 30, "current_password": PASSWORD},
    ).get_json()
    page = tab.page
    sign_in(tab, user)
    line = row(tab, "deploy")
    expect(line.locator(".badge.restricted")).to_have_count(0)

    line.get_by_role("button", name="Edit key deploy").click()
    edit = page.get_by_role("form", name="Edit key deploy")
    edit.get_by_label("Rate limit").fill("5")
    edit.get_by_label("per", exact=True).select_option("minute")
    edit.get_by_role("button", name="Save").click()
    expect(page.locator("#keys-status")).to_have_text("Key “deploy” saved.")
    expect(row(tab, "deploy")).to_contain_text("at most 5 per minute")
    assert stored(client, access, made["id"])["rate_limit"] == "5/minute"

    row(tab, "deploy").get_by_role("button", name="Edit key deploy").click()  # a rename only
    expect(edit.get_by_label("Rate limit")).to_have_value("5")
    edit.get_by_label("Name").fill("deploy bot")
    edit.get_by_role("button", name="Save").click()
    expect(row(tab, "deploy bot")).to_contain_text("at most 5 per minute")
    assert stored(client, access, made["id"])["rate_limit"] == "5/minute"

    row(tab, "deploy bot").get_by_role("button", name="Edit key deploy bot").click()
    edit = page.get_by_role("form", name="Edit key deploy bot")
    edit.get_by_label("Rate limit").fill("")
    edit.get_by_role("button", name="Save").click()
    expect(page.locator("#keys-status")).to_have_text("Key “deploy bot” saved.")
    expect(row(tab, "deploy bot").locator(".badge.restricted")).to_have_count(0)
    assert stored(client, access, made["id"])["rate_limit"] is None


def stored(client: FlaskClient, access: str, key_id: str) -> dict[str, Any]:
    r = client.get(f"/api/v1/private-tokens/{key_id}", headers=bearer(access))
    assert r.status_code == 200
    return r.get_json()
