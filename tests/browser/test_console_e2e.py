"""The web console end to end: Debian's Chromium, driven by Playwright, against the app on loopback.

Skips, saying what to install, where /usr/bin/chromium or the playwright package is missing
(`.ci/run` installs both).
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

import pytest

from tests.helpers import CHROMIUM, PASSWORD, bearer
from tests.helpers import BrowserTab as BrowserTabType

if not os.access(CHROMIUM, os.X_OK):
    pytest.skip(
        f"no browser: {CHROMIUM} is missing (apt-get install chromium)", allow_module_level=True
    )
pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is missing (pip install -e '.[test]')"
)

from playwright.sync_api import expect

if TYPE_CHECKING:
    from flask.testing import FlaskClient

    from tests.helpers import BrowserTab, TestUser


def sign_in(tab: BrowserTab, who: TestUser, path: str = "/console/keys") -> None:
    page = tab.page
    tab.go(path)
    expect(page).to_have_url(re.compile(r"/console/signin\?next="))
    page.locator("main").get_by_label("Email").fill(who.email)
    page.locator("main").get_by_label("Password").fill(who.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(re.escape(path) + "$"))
    expect(page.locator("#who")).to_have_text(who.email)


def test_sign_in_without_two_factor(tab: BrowserTab, user: TestUser) -> None:
    page = tab.page
    tab.go("/console/keys")
    expect(page).to_have_url(re.compile(r"/console/signin\?next=%2Fconsole%2Fkeys"))
    expect(page.get_by_role("navigation", name="Console")).to_be_hidden()
    page.locator("main").get_by_label("Email").fill(user.email)
    page.locator("main").get_by_label("Password").fill("not-the-password-42")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signin-form .form-error")).to_have_text("Incorrect email or password.")
    page.locator("main").get_by_label("Password").fill(user.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/console/keys$"))
    expect(page.get_by_role("heading", name="API keys")).to_be_visible()
    expect(page.get_by_role("navigation", name="Console")).to_be_visible()
    expect(page.get_by_role("link", name="API keys")).to_have_attribute("aria-current", "page")
    # The refresh cookie is Secure, and Chromium keeps it over plain http on loopback:
    # a reload signs in again from it, with no password.
    page.reload()
    expect(page).to_have_url(re.compile(r"/console/keys$"))
    expect(page.locator("#who")).to_have_text(user.email)
    assert page.evaluate("document.cookie") == ""


def test_errors_are_shown_next_to_the_field_they_name(tab: BrowserTab, user: TestUser) -> None:
    page = tab.page
    tab.go("/console/signin")
    main = page.locator("main")
    main.get_by_label("Email").fill("not an email")
    main.get_by_label("Password").fill("whatever")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#signin-email-error")).to_have_text("Email is not valid.")
    expect(main.get_by_label("Email")).to_have_attribute("aria-invalid", "true")
    expect(main.get_by_label("Email")).to_be_focused()
    expect(page.locator("#signin-password-error")).to_be_hidden()


def create_key(
    tab: BrowserTab,
    name: str,
    expiry: str = "In 30 days",
    password: str = PASSWORD,
    code: str | None = None,
) -> str:
    """Create a key through the dialog, copy it with the Copy button, close; returns the key.

    Sudo mode: the dialog asks for the password, and for a code when two-factor is on."""
    page = tab.page
    page.get_by_role("button", name="Create key").click()
    dialog = page.get_by_role("dialog", name="Create an API key")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Name").fill(name)
    dialog.get_by_label(expiry).check()
    dialog.get_by_label("Your password").fill(password)
    if code is None:
        expect(dialog.get_by_label("Two-factor code")).to_be_hidden()
    else:
        dialog.get_by_label("Two-factor code").fill(code)
    dialog.get_by_role("button", name="Create key").click()
    return copy_shown_key(tab)


def copy_shown_key(tab: BrowserTab) -> str:
    page = tab.page
    shown = page.get_by_role("dialog", name="Copy your new key")
    expect(shown).to_be_visible()
    expect(shown).to_contain_text("This is the only time this key is shown.")
    close = shown.get_by_role("button", name="Close")
    expect(close).to_be_disabled()
    page.keyboard.press("Escape")
    expect(shown).to_be_visible()
    expect(close).to_be_disabled()
    shown.get_by_role("button", name="Copy").click()
    expect(close).to_be_enabled()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == shown.get_by_label(re.compile("^Key ")).input_value()
    close.click()
    expect(shown).to_be_hidden()
    return copied


def row(tab: BrowserTab, name: str) -> Any:
    return tab.page.locator(".keys-table tbody tr").filter(
        has=tab.page.locator("th > .name").get_by_text(name, exact=True)
    )


def test_create_a_key_copy_it_once_and_use_it(
    tab: BrowserTab, client: FlaskClient, user: TestUser
) -> None:
    page = tab.page
    sign_in(tab, user)
    expect(page.get_by_text("You have no API keys yet.")).to_be_visible()
    key = create_key(tab, "deploy from CI", expiry="In 90 days")
    expect(page.locator("#keys-status")).to_have_text("Key “deploy from CI” created.")
    expect(page.get_by_role("button", name="Create key")).to_be_focused()

    r = client.get("/api/v1/auth/verify", headers=bearer(key))
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["token_type"] == "private" and r.get_json()["email"] == user.email
    assert client.get("/api/v1/auth/verify", headers={"X-API-Key": key}).status_code == 200

    line = row(tab, "deploy from CI")
    expect(line.locator('td[data-label="Status"]')).to_have_text("Active")
    expect(line.locator('td[data-label="Scopes"]')).to_have_text("read")  # least privilege
    expect(line.locator('td[data-label="Last used"]')).to_have_text("Never")
    page.get_by_role("link", name="Sessions").click()
    expect(page.get_by_role("heading", name="Sessions")).to_be_visible()
    page.go_back()
    expect(page.get_by_role("heading", name="API keys")).to_be_visible()
    expect(line.locator('td[data-label="Last used"]')).not_to_have_text("Never")
    # The key is nowhere to be seen again.
    assert key not in page.content()


def test_the_create_dialog_keeps_keyboard_users_in_charge(tab: BrowserTab, user: TestUser) -> None:
    page = tab.page
    sign_in(tab, user)
    opener = page.get_by_role("button", name="Create key")
    expect(opener).to_be_enabled()
    opener.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Create an API key")
    expect(dialog.get_by_label("Name")).to_be_focused()
    page.keyboard.type("half-typed")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(opener).to_be_focused()
    opener.click()
    expect(dialog.get_by_label("Name")).to_have_value("half-typed")
    dialog.get_by_label("Name").fill("")
    dialog.get_by_label("On a date").check()
    expect(dialog.get_by_label("Expiry date")).to_be_enabled()
    dialog.get_by_role("button", name="Create key").click()
    expect(page.locator("#create-name-error")).to_have_text("Name is required.")
    expect(page.locator("#create-expiry-error")).to_be_visible()
    expect(page.locator("#create-password-error")).to_be_visible()  # sudo mode
    expect(dialog.get_by_label("Name")).to_be_focused()
    expect(page.locator(".keys-table tbody tr")).to_have_count(0)


def test_rotate_and_delete(tab: BrowserTab, client: FlaskClient, user: TestUser) -> None:
    page = tab.page
    sign_in(tab, user)
    old = create_key(tab, "nightly backup", expiry="In 7 days")

    row(tab, "nightly backup").get_by_role("button", name="Rotate key nightly backup").click()
    confirm = page.get_by_role("dialog", name="Rotate “nightly backup”?")
    expect(confirm).to_be_visible()
    # Sudo mode: rotating asks for the password; a wrong one is refused and nothing changes.
    expect(confirm.get_by_label("Your password")).to_be_focused()
    confirm.get_by_label("Your password").fill("not-the-password-42")
    confirm.get_by_role("button", name="Rotate key").click()
    expect(page.locator("#rotate-password-error")).to_have_text(
        "The current password is incorrect."
    )
    assert client.get("/api/v1/auth/verify", headers=bearer(old)).status_code == 200
    confirm.get_by_label("Your password").fill(user.password)
    confirm.get_by_role("button", name="Rotate key").click()
    new = copy_shown_key(tab)
    assert new != old
    assert client.get("/api/v1/auth/verify", headers=bearer(old)).status_code == 401
    assert client.get("/api/v1/auth/verify", headers=bearer(new)).status_code == 200
    expect(page.locator("#keys-status")).to_contain_text("rotated")
    lines = page.locator(".keys-table tbody tr")
    expect(lines).to_have_count(2)
    expect(page.locator("#keys-table tbody tr")).to_have_count(1)  # the rest is inactive
    status = lines.locator('td[data-label="Status"]')
    expect(status.filter(has_text="Active")).to_have_count(1)
    expect(status.filter(has_text="Revoked")).to_have_count(1)

    active = lines.filter(has_text="Active")
    active.get_by_role("button", name="Delete key nightly backup").click()
    confirm = page.get_by_role("dialog", name="Delete “nightly backup”?")
    confirm.get_by_role("button", name="Cancel").click()
    expect(confirm).to_be_hidden()
    assert client.get("/api/v1/auth/verify", headers=bearer(new)).status_code == 200
    active.get_by_role("button", name="Delete key nightly backup").click()
    confirm.get_by_role("button", name="Delete key").click()
    expect(page.locator("#keys-status")).to_have_text("Key “nightly backup” deleted.")
    expect(lines.locator('td[data-label="Status"] .badge')).to_have_text(["Revoked", "Revoked"])
    assert client.get("/api/v1/auth/verify", headers=bearer(new)).status_code == 401


def test_an_ended_session_asks_to_sign_in_again_and_keeps_what_was_typed(
    tab: BrowserTab, client: FlaskClient, user: TestUser, login: Any
) -> None:
    page = tab.page
    sign_in(tab, user)
    page.get_by_role("button", name="Create key").click()
    dialog = page.get_by_role("dialog", name="Create an API key")
    dialog.get_by_label("Name").fill("typed before the session ended")
    dialog.get_by_label("In 7 days").check()
    dialog.get_by_label("Your password").fill(user.password)
    other = login(user)["access_token"]
    assert client.delete("/api/v1/auth/sessions", headers=bearer(other)).status_code == 204

    dialog.get_by_role("button", name="Create key").click()
    again = page.get_by_role("dialog", name="Your session has ended")
    expect(again).to_be_visible()
    expect(again.get_by_label("Email")).to_have_value(user.email)
    expect(again.get_by_label("Password")).to_be_focused()
    again.get_by_label("Password").fill(user.password)
    again.get_by_role("button", name="Sign in").click()
    expect(again).to_be_hidden()
    key = copy_shown_key(tab)
    expect(row(tab, "typed before the session ended")).to_have_count(1)
    r = client.get("/api/v1/auth/verify", headers=bearer(key))
    assert r.status_code == 200


def test_sign_out_everywhere(
    tab: BrowserTab, client: FlaskClient, user: TestUser, login: Any
) -> None:
    page = tab.page
    elsewhere = login(user)["access_token"]
    sign_in(tab, user, "/console/sessions")
    cards = page.locator("#sessions-list > li")
    expect(cards).to_have_count(2)
    expect(cards.filter(has_text="This session")).to_have_count(1)
    page.get_by_role("button", name="Sign out everywhere").click()
    confirm = page.get_by_role("dialog", name="Sign out everywhere?")
    confirm.get_by_role("button", name="Sign out everywhere").click()
    expect(page).to_have_url(re.compile(r"/console/signin\?signed_out=everywhere$"))
    expect(page.locator("#signin-notice")).to_have_text("You signed out everywhere.")
    assert client.get("/api/v1/auth/verify", headers=bearer(elsewhere)).status_code == 401
    tab.go("/console/keys")
    expect(page).to_have_url(re.compile(r"/console/signin\?next="))


def test_sign_out_one_other_session(
    tab: BrowserTab, client: FlaskClient, user: TestUser, login: Any
) -> None:
    page = tab.page
    elsewhere = login(user)["access_token"]
    sign_in(tab, user, "/console/sessions")
    cards = page.locator("#sessions-list > li")
    expect(cards).to_have_count(2)
    cards.filter(has_not_text="This session").get_by_role(
        "button", name=re.compile("^Sign out")
    ).click()
    expect(cards).to_have_count(1)
    expect(page.locator("#sessions-status")).to_contain_text("Signed out")
    assert client.get("/api/v1/auth/verify", headers=bearer(elsewhere)).status_code == 401
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page).to_have_url(re.compile(r"/console/signin\?signed_out=out$"))


def sign_out_then_answer(page: Any, held: list[Any], pattern: re.Pattern[str]) -> None:
    """Sign out while `held` holds the one call to `pattern`, then let it through: it is
    refused, and no "session ended" dialog opens over the sign-in page."""
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page).to_have_url(re.compile(r"/console/signin\?signed_out=out$"))
    assert len(held) == 1
    with page.expect_response(pattern) as answered:
        held[0].continue_()
    assert answered.value.status == 401
    page.wait_for_load_state("networkidle")
    expect(page.get_by_role("dialog", name="Your session has ended")).to_be_hidden()


def test_a_call_answered_after_sign_out_does_not_ask_to_sign_in_again(
    tab: BrowserTab, user: TestUser
) -> None:
    page = tab.page
    sign_in(tab, user)
    # The first page's own listing must land first: held, it would die with that page.
    expect(page.locator("#keys-empty")).to_be_visible()
    listing = re.compile(r"/api/v1/private-tokens$")
    held: list[Any] = []
    page.route(listing, lambda route: held.append(route))
    with page.expect_request(listing):
        page.reload()
    expect(page.locator("#who")).to_have_text(user.email)
    sign_out_then_answer(page, held, listing)
    page.locator("main").get_by_label("Email").fill(user.email)
    page.locator("main").get_by_label("Password").fill(user.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/console/keys$"))


def test_a_page_whose_first_call_is_refused_after_sign_out_is_left_quietly(
    tab: BrowserTab, user: TestUser
) -> None:
    # The keys page cannot start without its settings: refused because the user signed
    # out meanwhile, the page is dropped without an error (the tab fixture fails on any).
    page = tab.page
    sign_in(tab, user, "/console/two-factor")
    settings = re.compile(r"/api/v1/private-tokens/settings$")
    held: list[Any] = []
    page.route(settings, lambda route: held.append(route))
    with page.expect_request(settings):
        page.get_by_role("link", name="API keys").click()
    sign_out_then_answer(page, held, settings)
    expect(page.get_by_role("button", name="Sign in")).to_have_count(1)


def test_a_call_begun_after_sign_out_does_not_ask_to_sign_in_again(
    tab: BrowserTab, user: TestUser
) -> None:
    # A page being left can still start a call once "Sign out" is pressed (its list after
    # its settings, say); signed out, that call must fail, not ask to sign in again.
    page = tab.page
    sign_in(tab, user)
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page).to_have_url(re.compile(r"/console/signin\?signed_out=out$"))
    # Left waiting for a sign-in, the call would never settle: give it 5 s.
    status = page.evaluate(
        """() => import("/console/static/api.js").then(({ api }) => Promise.race([
            api("/private-tokens").then(() => 200, (error) => error.status),
            new Promise((settle) => setTimeout(() => settle("still waiting"), 5000)),
        ]))"""
    )
    assert status == 401
    expect(page.get_by_role("dialog", name="Your session has ended")).to_be_hidden()
    expect(page.get_by_role("button", name="Sign in")).to_have_count(1)


def test_two_factor_setup_then_sign_in_with_a_code_and_a_recovery_code(
    tab: BrowserTab, client: FlaskClient, user: TestUser, frozen: Any
) -> None:
    import pyotp

    from authsvc.core import clock

    page = tab.page
    sign_in(tab, user, "/console/two-factor")
    expect(page.get_by_role("heading", name="Two-factor is off")).to_be_visible()
    # Sudo mode: setting up asks for the password first.
    page.get_by_role("button", name="Set up two-factor").click()
    expect(page.locator("#tf-setup-password-error")).to_be_visible()
    page.locator("#tf-setup-form").get_by_label("Your password").fill("not-the-password-42")
    page.get_by_role("button", name="Set up two-factor").click()
    expect(page.locator("#tf-setup-password-error")).to_have_text(
        "The current password is incorrect."
    )
    page.locator("#tf-setup-form").get_by_label("Your password").fill(user.password)
    page.get_by_role("button", name="Set up two-factor").click()
    qr = page.get_by_role("img", name=re.compile("QR code"))
    expect(qr).to_be_visible()
    assert page.evaluate("document.getElementById('tf-qr').naturalWidth") > 0
    page.get_by_text("Can't scan it? Enter this key instead").click()
    secret = page.locator("#tf-secret").inner_text()
    code = page.get_by_label("Enter the 6-digit code the app shows")
    code.fill("000000")
    page.get_by_role("button", name="Turn on two-factor").click()
    expect(page.locator("#tf-enable-code-error")).to_be_visible()
    code.fill(pyotp.TOTP(secret).at(clock.now()))
    page.get_by_role("button", name="Turn on two-factor").click()

    saved = page.get_by_role("dialog", name="Save your recovery codes")
    expect(saved).to_be_visible()
    codes = saved.locator("#recovery-list li")
    expect(codes).to_have_count(10)
    recovery = codes.first.inner_text()
    done = saved.get_by_role("button", name="Done")
    expect(done).to_be_disabled()
    page.keyboard.press("Escape")
    expect(saved).to_be_visible()
    saved.get_by_label("I have saved these codes").check()
    done.click()
    expect(saved).to_be_hidden()
    expect(page.get_by_role("heading", name="Two-factor is on")).to_be_visible()

    page.get_by_role("button", name="Sign out", exact=True).click()
    main = page.locator("main")
    main.get_by_label("Email").fill(user.email)
    main.get_by_label("Password").fill(user.password)
    page.get_by_role("button", name="Sign in").click()
    code = main.get_by_label("Code")
    expect(code).to_be_focused()
    expect(page.locator("#signin-code-hint")).to_contain_text("authenticator app")
    code.fill("123456")
    page.get_by_role("button", name="Verify").click()
    expect(page.locator("#signin-code-error")).to_be_visible()
    clock.advance(30)
    code.fill(pyotp.TOTP(secret).at(clock.now()))
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(re.compile(r"/console/keys$"))

    page.get_by_role("button", name="Sign out", exact=True).click()
    main.get_by_label("Email").fill(user.email)
    main.get_by_label("Password").fill(user.password)
    page.get_by_role("button", name="Sign in").click()
    main.get_by_label("Code").fill(recovery)
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(re.compile(r"/console/keys$"))

    # With two-factor on, creating a key asks for a code as well as the password.
    page.get_by_role("button", name="Create key").click()
    dialog = page.get_by_role("dialog", name="Create an API key")
    dialog.get_by_label("Name").fill("needs a code")
    dialog.get_by_label("Your password").fill(user.password)
    dialog.get_by_role("button", name="Create key").click()
    expect(page.locator("#create-code-error")).to_have_text("A two-factor code is required.")
    dialog.get_by_label("Two-factor code").fill("000000")
    dialog.get_by_role("button", name="Create key").click()
    expect(page.locator("#create-password-error")).to_have_text(
        "The password or the two-factor code is incorrect."
    )
    dialog.get_by_role("button", name="Cancel").click()
    clock.advance(30)
    create_key(tab, "needs a code", code=pyotp.TOTP(secret).at(clock.now()))
    expect(row(tab, "needs a code")).to_have_count(1)

    page.get_by_role("link", name="Two-factor").click()
    clock.advance(30)
    off = page.locator("#tf-disable-form")
    off.get_by_label("Password").fill(user.password)
    off.get_by_label("Code").fill(pyotp.TOTP(secret).at(clock.now()))
    page.get_by_role("button", name="Turn off two-factor").click()
    expect(page.get_by_role("heading", name="Two-factor is off")).to_be_visible()
    expect(page.locator("#tf-status")).to_have_text("Two-factor authentication is off.")


def test_change_password(tab: BrowserTab, client: FlaskClient, user: TestUser) -> None:
    page = tab.page
    sign_in(tab, user)
    key = create_key(tab, "soon revoked")
    page.get_by_role("link", name="Password").click()
    form = page.locator("#password-form")
    expect(form.get_by_label("Two-factor code")).to_be_hidden()  # two-factor is off
    form.get_by_label("Current password").fill("not-the-password-42")
    form.get_by_label("New password", exact=True).fill("another-Granite-77-harbour")
    form.get_by_label("New password again").fill("another-Granite-77-harbour")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#password-current-error")).to_have_text(
        "The current password is incorrect."
    )
    assert client.get("/api/v1/auth/verify", headers=bearer(key)).status_code == 200
    form.get_by_label("Current password").fill(user.password)
    form.get_by_label("New password", exact=True).fill("another-Granite-77-harbour")
    form.get_by_label("New password again").fill("something else entirely")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#password-confirm-error")).to_have_text(
        "The two new passwords are not the same."
    )
    form.get_by_label("New password", exact=True).fill("password1234")
    form.get_by_label("New password again").fill("password1234")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#password-new-error")).to_be_visible()
    expect(page.locator("#password-confirm-error")).to_be_hidden()
    form.get_by_label("New password", exact=True).fill("another-Granite-77-harbour")
    form.get_by_label("New password again").fill("another-Granite-77-harbour")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#password-status")).to_contain_text("Password changed.")
    assert client.get("/api/v1/auth/verify", headers=bearer(key)).status_code == 401
    # This session carries on.
    page.get_by_role("link", name="API keys").click()
    expect(row(tab, "soon revoked").locator('td[data-label="Status"]')).to_have_text("Revoked")


def test_keyboard_alone_signs_in_and_moves_around(tab: BrowserTab, user: TestUser) -> None:
    page = tab.page
    tab.go("/console/signin")
    expect(page.locator("main").get_by_label("Email")).to_be_focused()
    page.keyboard.type(user.email)
    page.keyboard.press("Tab")
    expect(page.locator("main").get_by_label("Password")).to_be_focused()
    page.keyboard.type(user.password)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/console/keys$"))
    expect(page.get_by_role("heading", name="API keys")).to_be_focused()
    page.get_by_role("link", name="Sessions").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Sessions")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Sign out everywhere")).to_be_focused()
    page.keyboard.press("Enter")
    confirm = page.get_by_role("dialog", name="Sign out everywhere?")
    expect(confirm.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Escape")
    expect(confirm).to_be_hidden()
    expect(page.get_by_role("button", name="Sign out everywhere")).to_be_focused()


def test_pages_fit_a_phone_screen(
    chromium: Any, live_server: str, client: FlaskClient, user: TestUser, login: Any
) -> None:
    access = login(user)["access_token"]
    r = client.post(
        "/api/v1/private-tokens",
        headers=bearer(access),
        json={
            "name": "a rather long key name for a narrow screen",
            "expires_in_days": 30,
            "current_password": PASSWORD,
        },
    )
    assert r.status_code == 201
    context = chromium.new_context(
        base_url=live_server, viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True
    )
    try:
        tab = BrowserTabType(context.new_page(), live_server, [])
        sign_in(tab, user)
        for link, heading in (
            ("API keys", "API keys"),
            ("Two-factor", "Two-factor authentication"),
            ("Sessions", "Sessions"),
            ("Password", "Change password"),
        ):
            tab.page.get_by_role("link", name=link).click()
            expect(tab.page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
            tab.page.wait_for_load_state("networkidle")
            width = tab.page.evaluate("document.documentElement.scrollWidth")
            wide = tab.page.evaluate(
                "[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 361)"
                ".map(e => e.tagName + '#' + e.id + '.' + e.className)"
            )
            assert width <= 360, (link, width, wide)
    finally:
        context.close()


VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.mark.skipif(
    not os.environ.get("AUTHSVC_SCREENSHOTS"),
    reason="set AUTHSVC_SCREENSHOTS=docs/screenshots to refresh the README's screenshots",
)
@pytest.mark.parametrize("width", sorted(VIEWPORTS))
def test_screenshots(
    chromium: Any, live_server: str, client: FlaskClient, user: TestUser, login: Any, width: str
) -> None:
    """Every page at desktop and phone width, with some data, into $AUTHSVC_SCREENSHOTS."""
    from pathlib import Path

    out = Path(os.environ["AUTHSVC_SCREENSHOTS"])
    out.mkdir(parents=True, exist_ok=True)
    access = login(user)["access_token"]
    for name, days in (("billing exporter", 90), ("old laptop script", 30)):
        r = client.post(
            "/api/v1/private-tokens",
            headers=bearer(access),
            json={
                "name": name,
                "expires_in_days": days,
                "current_password": PASSWORD,
                "scopes": [] if "billing" in name else ["write"],
                "description": "Monthly invoices to the finance bucket"
                if "billing" in name
                else None,
            },
        )
        assert r.status_code == 201
        if "billing" in name:
            assert (
                client.get("/api/v1/auth/verify", headers=bearer(r.get_json()["token"])).status_code
                == 200
            )
        else:
            assert (
                client.delete(
                    f"/api/v1/private-tokens/{r.get_json()['id']}", headers=bearer(access)
                ).status_code
                == 204
            )

    context = chromium.new_context(
        base_url=live_server,
        viewport=VIEWPORTS[width],
        is_mobile=width == "phone",
        has_touch=width == "phone",
        user_agent=(
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
            "(KHTML, like Gecko) Chrome/156.0 Safari/537.36"
        ),
    )
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server)
    page = context.new_page()
    tab = BrowserTabType(page, live_server, [])

    def shot(name: str, full: bool = True) -> bytes:
        return page.screenshot(
            path=out / f"{name}-{width}.png", full_page=full, animations="disabled"
        )

    tab.go("/console/signin")
    expect(page.locator("main").get_by_label("Email")).to_be_focused()
    shot("signin")
    sign_in(tab, user)
    page.get_by_role("button", name="Create key").click()
    dialog = page.get_by_role("dialog", name="Create an API key")
    dialog.get_by_label("Name").fill("deploy from CI")
    dialog.get_by_label("Description").fill("GitHub Actions, repository web")
    dialog.get_by_label("Your password").fill(user.password)  # sudo mode
    shot("keys-create", full=False)
    dialog.get_by_role("button", name="Create key").click()
    expect(page.get_by_role("dialog", name="Copy your new key")).to_be_visible()
    shot("keys-new-key", full=False)
    page.get_by_role("button", name="Copy").click()
    page.get_by_role("button", name="Close").click()
    page.locator("#keys-status").evaluate("el => { el.textContent = ''; }")
    page.mouse.move(0, 0)
    shot("keys")
    page.get_by_role("link", name="Two-factor").click()
    page.locator("#tf-setup-form").get_by_label("Your password").fill(user.password)  # sudo mode
    page.get_by_role("button", name="Set up two-factor").click()
    expect(page.get_by_role("img", name=re.compile("QR code"))).to_be_visible()
    shot("two-factor")
    page.get_by_role("link", name="Sessions").click()
    expect(page.locator("#sessions-list > li")).to_have_count(2)
    shot("sessions")
    page.get_by_role("link", name="Password").click()
    expect(page.get_by_role("heading", name="Change password")).to_be_visible()
    shot("password")
    context.close()
