"""Issue 22 in the console: a key's addresses and limit in the create dialog, and its row."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.browser.test_console_e2e import copy_shown_key, sign_in  # skips without a browser
from tests.helpers import PASSWORD

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
