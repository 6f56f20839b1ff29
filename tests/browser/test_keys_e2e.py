"""Issue 21, items 1-8 and 17: the keys and two-factor pages people can trust, in Chromium."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import expect

from tests.browser.test_console_e2e import copy_shown_key, row, sign_in
from tests.helpers import PASSWORD, bearer
from tests.helpers import BrowserTab as BrowserTabType

if TYPE_CHECKING:
    from flask import Flask
    from flask.testing import FlaskClient

    from tests.helpers import BrowserTab, TestUser


def keys_of(client: FlaskClient, access: str) -> dict[str, dict[str, Any]]:
    r = client.get("/api/v1/private-tokens", headers=bearer(access))
    assert r.status_code == 200
    return {k["name"]: k for k in r.get_json()["items"]}


def api_key(client: FlaskClient, access: str, **body: Any) -> dict[str, Any]:
    body = {"expires_in_days": 30, "current_password": PASSWORD, **body}
    r = client.post("/api/v1/private-tokens", headers=bearer(access), json=body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


# --- item 1: the scope boxes after the first key of a visit ---------------------------------


def test_three_keys_in_a_row_each_start_from_the_defaults(
    tab: BrowserTab, client: FlaskClient, user: TestUser, login: Any
) -> None:
    page = tab.page
    sign_in(tab, user)
    dialog = page.get_by_role("dialog", name="Create an API key")
    for n, extra in enumerate((["write"], [], [])):
        page.get_by_role("button", name="Create key").click()
        read, write = (
            dialog.get_by_role("checkbox", name=re.compile("^read")),
            dialog.get_by_role("checkbox", name=re.compile("^write")),
        )
        expect(read).to_be_checked()
        expect(read).to_be_disabled()  # base scope: always in
        expect(write).not_to_be_checked()  # every other scope is opt-in
        for scope in extra:
            dialog.get_by_role("checkbox", name=re.compile(f"^{scope}")).check()
        dialog.get_by_label("Name").fill(f"key {n}")
        dialog.get_by_label("Your password").fill(PASSWORD)
        dialog.get_by_role("button", name="Create key").click()
        copy_shown_key(tab)
    keys = keys_of(client, login(user)["access_token"])
    assert [keys[f"key {n}"]["scopes"] for n in range(3)] == [["read", "write"], ["read"], ["read"]]


# --- item 2: least privilege, in words --------------------------------------------------------


@pytest.fixture
def described(config: dict[str, Any]) -> None:
    config["AUTHSVC_SCOPE_DESCRIPTIONS"] = {"read": "Look at your projects, never change them."}


def test_each_scope_says_what_it_grants(described: None, tab: BrowserTab, user: TestUser) -> None:
    page = tab.page
    sign_in(tab, user)
    page.get_by_role("button", name="Create key").click()
    dialog = page.get_by_role("dialog", name="Create an API key")
    choices = dialog.locator(".scope-choice")
    expect(choices).to_have_count(2)
    expect(choices.first).to_contain_text("read")
    expect(choices.first).to_contain_text("always included")
    expect(choices.first).to_contain_text("Look at your projects, never change them.")
    expect(choices.nth(1)).to_contain_text("Change your data on services that trust this sign-in.")


# --- item 3: description, and editing in place ---------------------------------------------


def test_a_description_at_creation_and_edits_in_place(
    tab: BrowserTab, client: FlaskClient, user: TestUser, login: Any
) -> None:
    page = tab.page
    sign_in(tab, user)
    page.get_by_role("button", name="Create key").click()
    dialog = page.get_by_role("dialog", name="Create an API key")
    dialog.get_by_label("Name").fill("backup")
    dialog.get_by_label("Description").fill("nightly cron on db-2")
    dialog.get_by_label("Your password").fill(PASSWORD)
    dialog.get_by_role("button", name="Create key").click()
    copy_shown_key(tab)
    expect(row(tab, "backup").locator("th")).to_contain_text("nightly cron on db-2")

    row(tab, "backup").get_by_role("button", name="Edit key backup").click()
    edit = page.get_by_role("form", name="Edit key backup")
    expect(edit.get_by_label("Name")).to_be_focused()
    edit.get_by_label("Name").fill("")
    edit.get_by_role("button", name="Save").click()
    expect(edit.locator('[data-error-for="name"]')).to_have_text("Name is required.")
    expect(edit.get_by_label("Name")).to_be_focused()
    edit.get_by_label("Name").evaluate("el => el.removeAttribute('maxlength')")  # as a script could
    edit.get_by_label("Name").fill("x" * 101)
    edit.get_by_role("button", name="Save").click()
    expect(edit.locator('[data-error-for="name"]')).to_have_text(
        "Name can be at most 100 characters."
    )
    page.keyboard.press("Escape")
    expect(edit).to_have_count(0)
    expect(row(tab, "backup").get_by_role("button", name="Edit key backup")).to_be_focused()

    row(tab, "backup").get_by_role("button", name="Edit key backup").click()
    edit.get_by_label("Name").fill("db backup")
    edit.get_by_label("Description").fill("nightly cron on db-3")
    edit.get_by_role("button", name="Save").click()
    expect(page.locator("#keys-status")).to_have_text("Key “db backup” saved.")
    expect(row(tab, "db backup").locator("th")).to_contain_text("nightly cron on db-3")
    stored = keys_of(client, login(user)["access_token"])["db backup"]
    assert stored["description"] == "nightly cron on db-3" and stored["status"] == "active"


# --- item 4: expired keys renew; rotated ones link on; inactive ones fold away -------------


def test_expired_keys_renew_and_rotated_keys_name_their_successor(
    app: Flask, tab: BrowserTab, client: FlaskClient, user: TestUser, login: Any
) -> None:
    from sqlalchemy import update

    from authsvc.core import clock
    from authsvc.extensions import db
    from authsvc.models import PrivateToken

    access = login(user)["access_token"]
    live = api_key(client, access, name="live one")
    old = api_key(client, access, name="expired one")
    with app.app_context():
        now = clock.now()
        db.session.execute(
            update(PrivateToken)
            .where(PrivateToken.id == old["id"])
            .values(created_at=now - timedelta(days=31), expires_at=now - timedelta(days=1))
        )
        db.session.commit()
    page = tab.page
    sign_in(tab, user)
    expect(page.locator("#keys-table tbody tr")).to_have_count(1)
    inactive = page.locator("#keys-inactive")
    expect(inactive).to_be_visible()
    expect(inactive.locator("summary")).to_contain_text("(1)")
    assert inactive.evaluate("el => el.open") is False  # collapsed
    expect(row(tab, "expired one")).to_be_hidden()
    inactive.locator("summary").click()
    expired = row(tab, "expired one")
    expect(expired.locator('td[data-label="Status"]')).to_have_text("Expired")
    expired.get_by_role("button", name="Rotate key expired one").click()
    renew = page.get_by_role("dialog", name="Renew “expired one”?")
    renew.get_by_label("Your password").fill(PASSWORD)
    renew.get_by_role("button", name="Rotate key").click()
    fresh = copy_shown_key(tab)
    assert client.get("/api/v1/auth/verify", headers=bearer(fresh)).status_code == 200
    expect(page.locator("#keys-table tbody tr")).to_have_count(2)
    old_row = page.locator(f"#key-{old['id']}")
    link = old_row.get_by_role("link", name="“expired one”")
    expect(old_row).to_contain_text("rotated to “expired one”")
    link.click()
    items = client.get("/api/v1/private-tokens", headers=bearer(access)).get_json()["items"]
    new_id = next(k["id"] for k in items if k["id"] not in (old["id"], live["id"]))
    expect(page.locator(f"#key-{new_id} th")).to_be_focused()


# --- item 5: limits and plain words ---------------------------------------------------------


def test_limits_are_said_and_no_developer_sentence_reaches_a_person(
    tab: BrowserTab, user: TestUser
) -> None:
    page = tab.page
    sign_in(tab, user)
    page.get_by_role("button", name="Create key").click()
    dialog = page.get_by_role("dialog", name="Create an API key")
    expect(dialog.get_by_label("Name")).to_have_attribute("maxlength", "100")
    expect(dialog.get_by_label("Description")).to_have_attribute("maxlength", "1000")
    for label, n in (("Name", 101), ("Description", 1001)):  # past maxlength, as a script could
        dialog.get_by_label(label).evaluate("el => el.removeAttribute('maxlength')")
        dialog.get_by_label(label).fill("x" * n)
    dialog.get_by_label("On a date").check()
    dialog.get_by_label("Your password").fill(PASSWORD)
    dialog.get_by_role("button", name="Create key").click()
    expect(page.locator("#create-name-error")).to_have_text("Name can be at most 100 characters.")
    expect(page.locator("#create-description-error")).to_have_text(
        "Description can be at most 1000 characters."
    )
    expect(page.locator("#create-expiry-error")).to_have_text(
        "Choose when the key expires: pick a date, or one of the other choices."
    )
    text = dialog.inner_text()
    for raw in ("may not be null", "Not a valid", "This field", "This value"):
        assert raw not in text


# --- item 6: long names wrap; no sideways scroll ----------------------------------------------


@pytest.mark.parametrize("width", [1280, 320])
def test_long_names_wrap_and_nothing_scrolls_sideways(
    chromium: Any, live_server: str, client: FlaskClient, user: TestUser, login: Any, width: int
) -> None:
    access = login(user)["access_token"]
    api_key(client, access, name="n" * 100, description="d" * 1000, scopes=["write"])
    api_key(client, access, name="deploy " * 14, description="word " * 200)
    context = chromium.new_context(
        base_url=live_server,
        viewport={"width": width, "height": 800},
        is_mobile=width < 400,
        has_touch=width < 400,
    )
    try:
        tab = BrowserTabType(context.new_page(), live_server, [])
        sign_in(tab, user)
        page = tab.page
        expect(page.locator("#keys-table tbody tr")).to_have_count(2)
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        wrap = page.locator(".table-wrap").first
        assert wrap.evaluate("el => el.scrollWidth <= el.clientWidth")
        outside = page.evaluate(
            f"""[...document.querySelectorAll('header *, main *')]
              .filter(e => e.getClientRects().length && !e.closest('dialog, details:not([open])'))
              .filter(e => {{ const r = e.getBoundingClientRect(); return r.right > {width} + 0.5 || r.left < -0.5; }})
              .map(e => e.tagName + '#' + e.id + '.' + e.className)"""
        )
        assert outside == [], outside
        for link in page.get_by_role("navigation", name="Console").get_by_role("link").all():
            box = link.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
    finally:
        context.close()


# --- item 7: leaving while a secret is on screen ------------------------------------------------


def test_leaving_while_the_new_key_is_shown_asks_first(tab: BrowserTab, user: TestUser) -> None:
    page = tab.page
    sign_in(tab, user, "/console/sessions")
    page.get_by_role("link", name="API keys").click()
    expect(page.get_by_role("heading", name="API keys")).to_be_visible()
    page.get_by_role("button", name="Create key").click()
    dialog = page.get_by_role("dialog", name="Create an API key")
    dialog.get_by_label("Name").fill("watched")
    dialog.get_by_label("Your password").fill(PASSWORD)
    dialog.get_by_role("button", name="Create key").click()
    shown = page.get_by_role("dialog", name="Copy your new key")
    expect(shown).to_be_visible()

    asked: list[str] = []

    def refuse(d: Any) -> None:
        asked.append(d.type)
        d.dismiss()

    page.on("dialog", refuse)

    def wait_for(count: int) -> None:  # the dialog event arrives after the call returns
        for _ in range(100):
            if len(asked) >= count:
                return
            page.wait_for_timeout(50)

    page.evaluate("history.back()")  # Back inside the console
    wait_for(1)
    assert asked == ["confirm"]
    expect(page).to_have_url(re.compile(r"/console/keys$"))
    expect(shown).to_be_visible()
    page.close(run_before_unload=True)  # closing the tab
    wait_for(2)
    assert asked == ["confirm", "beforeunload"]
    assert not page.is_closed()
    expect(shown).to_be_visible()
    page.remove_listener("dialog", refuse)
    shown.get_by_role("button", name="Copy").click()
    shown.get_by_role("button", name="Close").click()
    expect(shown).to_be_hidden()
    assert (
        page.evaluate(
            "(() => { const e = new Event('beforeunload', {cancelable: true}); "
            "window.dispatchEvent(e); return e.defaultPrevented; })()"
        )
        is False
    )


# --- item 8: recovery codes -------------------------------------------------------------------


def sign_in_with_code(tab: BrowserTab, who: TestUser, code: str, path: str) -> None:
    page = tab.page
    tab.go(path)
    main = page.locator("main")
    main.get_by_label("Email").fill(who.email)
    main.get_by_label("Password").fill(who.password)
    page.get_by_role("button", name="Sign in").click()
    main.get_by_label("Code").fill(code)
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(re.compile(re.escape(path) + "$"))


def test_recovery_codes_count_download_print_and_regenerate(
    tab: BrowserTab, client: FlaskClient, user: TestUser, totp_user: Any
) -> None:
    import pyotp

    from authsvc.core import clock

    now = lambda: pyotp.TOTP(totp_user.secret).at(clock.now())  # noqa: E731
    page = tab.page
    clock.advance(30)
    sign_in_with_code(tab, user, now(), "/console/two-factor")
    expect(page.locator("#tf-codes-left")).to_have_text("You have 10 unused recovery codes left.")
    form = page.locator("#tf-codes-form")
    form.get_by_label("Your password").fill(PASSWORD)
    form.get_by_label("Two-factor code").fill("000000" if now() != "000000" else "111111")
    page.get_by_role("button", name="Generate new recovery codes").click()
    expect(page.locator("#tf-codes-password-error")).to_have_text(
        "The password or the two-factor code is incorrect."
    )
    clock.advance(30)
    form.get_by_label("Your password").fill(PASSWORD)
    form.get_by_label("Two-factor code").fill(now())
    page.get_by_role("button", name="Generate new recovery codes").click()
    saved = page.get_by_role("dialog", name="Save your recovery codes")
    expect(saved).to_be_visible()
    codes = saved.locator("#recovery-list li").all_inner_texts()
    assert len(codes) == 10 and not set(codes) & set(totp_user.recovery_codes)

    with page.expect_download() as download:
        saved.get_by_role("button", name="Download .txt").click()
    assert download.value.suggested_filename == "authsvc-recovery-codes.txt"
    with open(download.value.path()) as f:
        text = f.read()
    assert all(c in text for c in codes) and user.email in text

    page.evaluate("() => { window.printed = 0; window.print = () => { window.printed += 1; }; }")
    saved.get_by_role("button", name="Print").click()
    assert page.evaluate("window.printed") == 1
    page.emulate_media(media="print")
    assert (
        page.locator("#recovery-list").evaluate("el => getComputedStyle(el).visibility")
        == "visible"
    )
    assert page.locator("#nav").evaluate("el => getComputedStyle(el).visibility") == "hidden"
    page.emulate_media(media="screen")

    saved.get_by_label("I have saved these codes").check()
    saved.get_by_role("button", name="Done").click()
    expect(page.locator("#tf-status")).to_have_text(
        "New recovery codes made; the old ones no longer work."
    )
    expect(page.locator("#tf-codes-left")).to_have_text("You have 10 unused recovery codes left.")
    body = {"email": user.email, "password": PASSWORD}
    r = client.post("/api/v1/auth/login", json={**body, "totp_code": totp_user.recovery_codes[0]})
    assert r.status_code == 401
    r = client.post("/api/v1/auth/login", json={**body, "totp_code": codes[0]})
    assert r.status_code == 200
    page.reload()
    expect(page.locator("#tf-codes-left")).to_have_text("You have 9 unused recovery codes left.")


# --- item 17: lockout wait, form-level focus, expiry radios ----------------------------------


def test_the_lockout_says_how_long_to_wait_and_takes_focus(
    tab: BrowserTab, client: FlaskClient, user: TestUser
) -> None:
    page = tab.page
    tab.go("/console/signin")
    main = page.locator("main")
    main.get_by_label("Email").fill(user.email)
    main.get_by_label("Password").fill("not-the-password-42")
    page.get_by_role("button", name="Sign in").click()
    error = page.locator("#signin-form .form-error")
    expect(error).to_have_text("Incorrect email or password.")
    expect(error).to_be_focused()  # a form-level error takes focus as a field's does
    for _ in range(4):
        r = client.post(
            "/api/v1/auth/login", json={"email": user.email, "password": "not-the-password-42"}
        )
        assert r.status_code == 401
    main.get_by_label("Password").fill(user.password)
    page.get_by_role("button", name="Sign in").click()
    expect(error).to_have_text(
        re.compile(r"^Too many attempts\. Wait 1[45] minutes, then try again\.$")
    )
    expect(error).to_be_focused()


def test_the_expiry_radios_keep_the_keyboard_on_the_radios(tab: BrowserTab, user: TestUser) -> None:
    page = tab.page
    sign_in(tab, user)
    page.get_by_role("button", name="Create key").click()
    dialog = page.get_by_role("dialog", name="Create an API key")
    hint = dialog.get_by_text("The key expires at the end of the chosen day")
    date = dialog.get_by_label("Expiry date")
    expect(hint).to_be_hidden()
    dialog.get_by_label("In 30 days").focus()
    page.keyboard.press("ArrowDown")
    expect(dialog.get_by_label("In 90 days")).to_be_focused()
    page.keyboard.press("ArrowDown")
    on_date = dialog.get_by_label("On a date")
    expect(on_date).to_be_checked()
    expect(on_date).to_be_focused()  # not pulled into the date field
    expect(date).to_be_enabled()
    expect(hint).to_be_visible()
    page.keyboard.press("ArrowUp")
    expect(dialog.get_by_label("In 90 days")).to_be_focused()
    expect(date).to_be_disabled()
    expect(hint).to_be_hidden()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Tab")
    expect(date).to_be_focused()
    expect(dialog.get_by_text("At most 365 days from now.")).to_be_visible()
