"""Interop: @sd-jwt/jwt-status-list (Node) reads authsvc's list and gets the same statuses."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import PASSWORD, bearer
from tests.http.test_status_lists import ISSUER, fetch, ref

JS = Path(__file__).resolve().parent.parent / "js-status"


@pytest.fixture
def node() -> str:
    found = shutil.which("node")
    if found is None:
        pytest.skip("node is not installed: the @sd-jwt/jwt-status-list interop test needs it")
    if not (JS / "node_modules" / "@sd-jwt" / "jwt-status-list").is_dir():
        pytest.skip(f"run `npm ci` in {JS} first: @sd-jwt/jwt-status-list is not installed")
    return found


def test_sd_jwt_status_list_reads_the_same_statuses(
    node, client, login, user, admin_token, tmp_path
):
    revoked, suspended_later, valid = login(user), login(user), login(user)
    client.post("/api/v1/auth/logout", headers=bearer(revoked["access_token"]))
    private = client.post(
        "/api/v1/private-tokens",
        json={"name": "k", "expires_in_days": 3, "current_password": PASSWORD},
        headers=bearer(valid["access_token"]),
    ).get_json()
    client.delete(f"/api/v1/private-tokens/{private['id']}", headers=bearer(valid["access_token"]))
    uri = ref(valid["access_token"])["uri"]
    token = client.get(uri.removeprefix(ISSUER)).get_data(as_text=True)
    _, raw = fetch(client, uri)
    from authsvc.core import status_list

    indices = [
        ref(t)["idx"] for t in (revoked["access_token"], valid["access_token"], private["token"])
    ]
    indices += [ref(suspended_later["access_token"])["idx"], 0, status_list.LIST_SIZE - 1]
    expected = {str(i): status_list.status_at(raw, i) for i in indices}
    assert sorted(expected.values()) == [0, 0, 0, 0, 1, 1]
    path = tmp_path / "list.jwt"
    path.write_text(token)
    out = subprocess.run(
        [node, str(JS / "read_list.mjs"), str(path), *map(str, indices)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=JS,
    )
    assert json.loads(out.stdout) == {"bits": 2, "statuses": expected}
