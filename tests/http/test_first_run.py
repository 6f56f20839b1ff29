"""A first visit without traps (issue 21 item 12): `/` in a browser, unknown console pages,
the favicon; JSON clients keep the envelope."""

from __future__ import annotations

import pytest

from tests.helpers import envelope, error_of

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def test_a_browser_opening_the_root_goes_to_the_console(client):
    r = client.get("/", headers={"Accept": BROWSER})
    assert r.status_code == 302 and r.headers["Location"] == "/console/keys"


@pytest.mark.parametrize(
    "accept", [None, "*/*", "application/json", "application/json, text/html;q=0.5"]
)
def test_json_clients_keep_the_envelope_at_the_root(client, accept):
    r = client.get("/", headers={"Accept": accept} if accept else {})
    assert r.status_code == 404 and error_of(r) == envelope("not_found")
    assert r.mimetype == "application/json"


@pytest.mark.parametrize("path", ["/nope", "/api/v1/nope"])
def test_unknown_paths_outside_the_console_stay_json_even_for_browsers(client, path):
    r = client.get(path, headers={"Accept": BROWSER})
    assert r.status_code == 404 and error_of(r) == envelope("not_found")


@pytest.mark.parametrize("path", ["/console/nope", "/console/keys/extra", "/console/a/b/c"])
def test_an_unknown_console_page_is_an_html_404_with_a_way_back(client, path):
    r = client.get(path, headers={"Accept": BROWSER})
    assert r.status_code == 404 and r.mimetype == "text/html"
    page = r.get_data(as_text=True)
    assert "Page not found" in page and 'href="/console/keys"' in page
    assert "Content-Security-Policy" in r.headers
    r = client.get(path, headers={"Accept": "application/json"})
    assert r.status_code == 404 and error_of(r) == envelope("not_found")


def test_console_static_files_still_resolve(client):
    r = client.get("/console/static/app.js")
    assert r.status_code == 200


def test_a_favicon(client):
    r = client.get("/favicon.ico")
    assert r.status_code == 301 and r.headers["Location"].endswith("/console/static/favicon.svg")
    r = client.get("/console/static/favicon.svg")
    assert r.status_code == 200 and r.mimetype == "image/svg+xml"
    page = client.get("/console/signin").get_data(as_text=True)
    assert 'rel="icon" href="/console/static/favicon.svg"' in page
