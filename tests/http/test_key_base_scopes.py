"""Issue 21 item 2: least privilege for keys (AUTHSVC_PRIVATE_TOKEN_BASE_SCOPES), the rules
a key form reads first, scope descriptions, and which key a rotated one became."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.helpers import PASSWORD, bearer

URL = "/api/v1/private-tokens"
TEAMS = "/api/v1/teams"


def new(client: Any, access: str, url: str = URL, **body: Any) -> Any:
    body = {"name": "ci", "expires_in_days": 30, "current_password": PASSWORD, **body}
    return client.post(url, json=body, headers=bearer(access))


def verified_scopes(client: Any, token: str) -> list[str]:
    r = client.get("/api/v1/auth/verify", headers=bearer(token))
    assert r.status_code == 200, r.get_json()
    return r.get_json()["scopes"]


def test_a_key_without_scopes_gets_only_the_base_ones(client, tokens):
    r = new(client, tokens["access_token"])
    assert r.status_code == 201 and r.get_json()["scopes"] == ["read"]
    assert verified_scopes(client, r.get_json()["token"]) == ["read"]


@pytest.mark.parametrize(
    "asked,got",
    [([], ["read"]), (["write"], ["read", "write"]), (["write", "read"], ["read", "write"])],
)
def test_base_scopes_are_added_to_the_ones_asked_for(client, tokens, asked, got):
    r = new(client, tokens["access_token"], scopes=asked)
    assert r.status_code == 201 and r.get_json()["scopes"] == got
    assert verified_scopes(client, r.get_json()["token"]) == got


def test_several_base_scopes(configure):
    c = configure(AUTHSVC_PRIVATE_TOKEN_BASE_SCOPES=("read", "write"))
    access = c.login(c.make_user())["access_token"]
    r = new(c.client, access)
    assert r.status_code == 201 and r.get_json()["scopes"] == ["read", "write"]


def test_an_empty_setting_turns_base_scopes_off(configure):
    c = configure(AUTHSVC_PRIVATE_TOKEN_BASE_SCOPES="")
    access = c.login(c.make_user())["access_token"]
    r = new(c.client, access)
    assert r.status_code == 201 and r.get_json()["scopes"] == []
    r = new(c.client, access, scopes=["write"])
    assert r.status_code == 201 and r.get_json()["scopes"] == ["write"]
    rules = c.client.get(f"{URL}/settings", headers=bearer(access)).get_json()
    assert rules["base_scopes"] == []


def test_a_base_scope_the_holder_lacks_is_not_added(configure):
    c = configure()
    access = c.login(c.make_user(scopes=["write"]))["access_token"]
    r = new(c.client, access)
    assert r.status_code == 201 and r.get_json()["scopes"] == []
    r = new(c.client, access, scopes=["read"])
    assert r.status_code == 403 and r.get_json()["errors"][0]["extra"] == {"scopes": ["read"]}


def test_team_keys_follow_the_same_rule(client, tokens):
    team = client.post(TEAMS, json={"name": "Ops"}, headers=bearer(tokens["access_token"]))
    assert team.status_code == 201, team.get_json()
    url = f"{TEAMS}/{team.get_json()['id']}/private-tokens"
    r = new(client, tokens["access_token"], url)
    assert r.status_code == 201 and r.get_json()["scopes"] == ["read"]
    r = new(client, tokens["access_token"], url, scopes=["write"])
    assert r.status_code == 201 and r.get_json()["scopes"] == ["read", "write"]
    assert verified_scopes(client, r.get_json()["token"]) == ["read", "write"]


def test_the_settings_route_says_base_scopes_words_and_limits(client, tokens):
    r = client.get(f"{URL}/settings", headers=bearer(tokens["access_token"]))
    assert r.status_code == 200
    body = r.get_json()
    assert body["base_scopes"] == ["read"]
    assert body["max_days"] == 365
    assert body["name_max_length"] == 100 and body["description_max_length"] == 1000
    words = body["scope_descriptions"]
    assert {"read", "write", "admin"} <= set(words) and all(words.values())


@pytest.mark.parametrize(
    "setting",
    [
        json.dumps({"read": "Look, never touch.", "deploy": "Ship to production."}),
        "read=Look, never touch.\ndeploy = Ship to production.",
        {"read": "Look, never touch.", "deploy": "Ship to production."},
    ],
)
def test_scope_descriptions_are_configurable(configure, setting):
    c = configure(AUTHSVC_SCOPE_DESCRIPTIONS=setting)
    access = c.login(c.make_user(scopes=["read", "deploy"]))["access_token"]
    words = c.client.get(f"{URL}/settings", headers=bearer(access)).get_json()["scope_descriptions"]
    assert words["read"] == "Look, never touch." and words["deploy"] == "Ship to production."
    assert words["write"] == "Change your data on services that trust this sign-in."


@pytest.mark.parametrize("raw", ["{not json", '["read"]', "read", '{"two words": "x"}'])
def test_bad_scope_descriptions_stop_the_app(raw):
    from authsvc.config import ConfigError, Settings

    with pytest.raises(ConfigError, match="AUTHSVC_SCOPE_DESCRIPTIONS"):
        Settings.from_sources({}, environment={"AUTHSVC_SCOPE_DESCRIPTIONS": raw})


def test_the_settings_route_takes_access_tokens_only(client, tokens):
    key = new(client, tokens["access_token"]).get_json()["token"]
    assert client.get(f"{URL}/settings", headers=bearer(key)).status_code == 403
    assert client.get(f"{URL}/settings").status_code == 401


def test_a_rotated_key_names_its_successor(client, tokens):
    access = tokens["access_token"]
    old = new(client, access).get_json()
    other = new(client, access, name="other").get_json()
    r = client.post(
        f"{URL}/{old['id']}/rotate", json={"current_password": PASSWORD}, headers=bearer(access)
    )
    assert r.status_code == 201 and r.get_json()["rotated_to"] is None
    successor = r.get_json()["id"]
    client.delete(f"{URL}/{other['id']}", headers=bearer(access))
    items = {k["id"]: k for k in client.get(URL, headers=bearer(access)).get_json()["items"]}
    assert items[old["id"]]["rotated_to"] == successor and items[old["id"]]["status"] == "revoked"
    assert items[other["id"]]["rotated_to"] is None  # deleted, not rotated
    assert items[successor]["rotated_to"] is None
    one = client.get(f"{URL}/{old['id']}", headers=bearer(access)).get_json()
    assert one["rotated_to"] == successor
    renamed = client.patch(f"{URL}/{old['id']}", json={"name": "x"}, headers=bearer(access))
    assert renamed.get_json()["rotated_to"] == successor


def test_a_rotated_team_key_names_its_successor(client, tokens):
    access = tokens["access_token"]
    team = client.post(TEAMS, json={"name": "Ops"}, headers=bearer(access)).get_json()["id"]
    url = f"{TEAMS}/{team}/private-tokens"
    old = new(client, access, url).get_json()
    r = client.post(
        f"{url}/{old['id']}/rotate", json={"current_password": PASSWORD}, headers=bearer(access)
    )
    assert r.status_code == 201
    items = {k["id"]: k for k in client.get(url, headers=bearer(access)).get_json()["items"]}
    assert items[old["id"]]["rotated_to"] == r.get_json()["id"]
    # the personal list is a different holder: its rows never pick up the team's rotations
    assert client.get(URL, headers=bearer(access)).get_json()["items"] == []
