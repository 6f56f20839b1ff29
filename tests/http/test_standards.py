"""Issue 17: RFC 7009 form bodies, RFC 6750 challenges from one renderer, audit detail times."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask

from authsvc.core import envelope
from tests.helpers import PASSWORD, bearer, error_of
from tests.helpers import envelope as expected

ROOT = Path(__file__).resolve().parents[2]
REVOKE = "/api/v1/auth/revoke"
VERIFY = "/api/v1/auth/verify"
FORM = "application/x-www-form-urlencoded"


# --- RFC 7009: /auth/revoke takes the form body OAuth clients send ----------------------------


@pytest.mark.parametrize(
    "hint", [None, "access_token", "refresh_token", "private_token", "no_such_hint"]
)
def test_revoke_takes_an_rfc7009_form_body_and_any_hint(client, tokens, hint):
    form = {"token": tokens["access_token"], **({"token_type_hint": hint} if hint else {})}
    r = client.post(REVOKE, data=form, content_type=FORM)  # what authlib's revoke_token sends
    assert r.status_code == 200 and r.get_json() == {}
    r = client.get(VERIFY, headers=bearer(tokens["access_token"]))
    assert r.status_code == 401 and error_of(r) == expected("invalid_token", reason="revoked")


def test_a_wrong_hint_still_finds_the_refresh_token(client, tokens):
    r = client.post(
        REVOKE,
        data={"token": tokens["refresh_token"], "token_type_hint": "access_token"},
        content_type=FORM,
    )
    assert r.status_code == 200
    r = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 401 and error_of(r)["extra"]["reason"] == "revoked"


def test_revoke_still_takes_json_and_refuses_other_types(client, tokens):
    r = client.post(
        REVOKE, json={"token": tokens["access_token"], "token_type_hint": "access_token"}
    )
    assert r.status_code == 200 and r.get_json() == {}
    r = client.post(REVOKE, data="token=x", content_type="text/plain")
    assert r.status_code == 415 and error_of(r) == expected("unsupported_media_type")
    r = client.post(REVOKE, data={"token_type_hint": "access_token"}, content_type=FORM)
    assert r.status_code == 400 and error_of(r)["attr"] == "token"


def test_the_openapi_document_offers_the_form_body_for_revoke(client):
    body = client.get("/api/v1/openapi.json").get_json()["paths"]["/api/v1/auth/revoke"]["post"]
    content = body["requestBody"]["content"]
    assert set(content) == {"application/json", FORM}
    for media in content.values():
        schema = media["schema"]
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[1]
            schema = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"][name]
        assert {"token", "token_type_hint"} <= set(schema["properties"])


# --- RFC 6750: one challenge for server and verifier ------------------------------------------


def test_insufficient_scope_at_introspect_carries_the_challenge(client, tokens):
    r = client.post(
        "/api/v1/auth/introspect",
        headers=bearer(tokens["access_token"]),
        json={"token": tokens["access_token"]},
    )
    assert r.status_code == 403 and error_of(r)["code"] == "insufficient_scope"
    assert (
        r.headers["WWW-Authenticate"]
        == 'Bearer realm="authsvc", error="insufficient_scope", scope="introspect"'
    )


def test_insufficient_scope_names_the_missing_scopes_of_any_route(client, tokens):
    r = client.post(
        "/api/v1/private-tokens",
        headers=bearer(tokens["access_token"]),
        json={
            "name": "x",
            "scopes": ["read", "deploy", "admin"],
            "expires_in_days": 1,
            "current_password": PASSWORD,
        },
    )
    assert r.status_code == 403 and error_of(r)["code"] == "insufficient_scope"
    missing = error_of(r)["extra"]["scopes"]
    assert (
        r.headers["WWW-Authenticate"]
        == f'Bearer realm="authsvc", error="insufficient_scope", scope="{" ".join(missing)}"'
    )


def test_a_token_in_the_url_or_two_tokens_is_invalid_request(client, tokens):
    r = client.get(VERIFY + "?access_token=" + tokens["access_token"])
    assert r.status_code == 400 and error_of(r)["code"] == "invalid"
    assert re.fullmatch(
        r'Bearer realm="authsvc", error="invalid_request", error_description="[^"]+"',
        r.headers["WWW-Authenticate"],
    )
    r = client.get(VERIFY, headers={**bearer(tokens["access_token"]), "X-API-Key": "other"})
    assert r.status_code == 400
    assert r.headers["WWW-Authenticate"].startswith(
        'Bearer realm="authsvc", error="invalid_request"'
    )


def test_other_400s_and_403s_carry_no_challenge(client, tokens):
    r = client.post("/api/v1/auth/login", json={})
    assert r.status_code == 400 and "WWW-Authenticate" not in r.headers
    r = client.post("/api/v1/auth/logout", headers=bearer("x"))
    assert r.status_code == 401


def test_server_and_verifier_answer_alike(app, client, tokens, live_server):
    """The same refusals from authsvc and from a resource server: same body shape, same header."""
    from examples import resource_server as example

    rs = example.create_app(live_server, introspect_token="unused", issuer="http://authsvc.test")
    rc = rs.test_client()
    cases = [
        (
            VERIFY + "?access_token=" + tokens["access_token"],
            "/notes?access_token=" + tokens["access_token"],
            {},
        ),
        (VERIFY, "/notes", {**bearer(tokens["access_token"]), "X-API-Key": "other"}),
        (VERIFY, "/notes", {}),
        (VERIFY, "/notes", bearer("garbage")),
    ]
    for server_path, rs_path, headers in cases:
        a, b = client.get(server_path, headers=headers), rc.get(rs_path, headers=headers)
        assert (a.status_code, a.headers.get("WWW-Authenticate")) == (
            b.status_code,
            b.headers.get("WWW-Authenticate"),
        ), (server_path, headers)
        assert error_of(a) == error_of(b)


def test_the_renderer_is_pure_and_derives_scope_from_extra():
    body, headers = envelope.render(
        403, [{"code": "insufficient_scope", "detail": "no", "extra": {"scopes": ["admin"]}}]
    )
    assert body == {
        "type": "client_error",
        "errors": [
            {
                "code": "insufficient_scope",
                "detail": "no",
                "attr": None,
                "extra": {"scopes": ["admin"]},
            }
        ],
    }
    assert headers == {
        "WWW-Authenticate": 'Bearer realm="authsvc", error="insufficient_scope", scope="admin"'
    }
    _, headers = envelope.render(401, [{"code": "invalid_token", "detail": 'a "quoted" \\ thing'}])
    assert (
        headers["WWW-Authenticate"]
        == 'Bearer realm="authsvc", error="invalid_token", error_description="a ?quoted? ? thing"'
    )
    assert envelope.render(404, [{"code": "not_found", "detail": "x"}])[1] == {}
    # The module alone, with Flask, werkzeug and SQLAlchemy refused (the package's __init__
    # imports Flask for create_app; a later restructure moves this module into authsvc/core/).
    script = f"""
import importlib.abc, importlib.util, sys
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("flask", "werkzeug", "sqlalchemy", "authsvc"):
            raise ImportError(name)
sys.meta_path.insert(0, Refuse())
spec = importlib.util.spec_from_file_location("envelope", {str(ROOT / "authsvc" / "core" / "envelope.py")!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(module.render(401, [{{"code": "not_authenticated", "detail": "x"}}])[1])
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "{'WWW-Authenticate': 'Bearer realm=\"authsvc\"'}"


# --- audit detail: times with Z, the seven fields ---------------------------------------------


def test_audit_answers_the_seven_fields_and_detail_times_end_in_z(
    app: Flask, client, admin, admin_token, user
):
    r = client.post(
        "/api/v1/private-tokens",
        headers=bearer(admin_token),
        json={"name": "ci", "expires_in_days": 30, "current_password": PASSWORD},
    )
    assert r.status_code == 201
    r = client.post(
        f"/api/v1/private-tokens/{r.get_json()['id']}/rotate",
        headers=bearer(admin_token),
        json={"current_password": PASSWORD},
    )
    assert r.status_code == 201
    assert (
        client.patch(
            f"/api/v1/users/{user.id}", headers=bearer(admin_token), json={"scopes": ["read"]}
        ).status_code
        == 200
    )
    items = client.get("/api/v1/audit-events", headers=bearer(admin_token)).get_json()["items"]
    for item in items:
        assert set(item) == {"id", "at", "type", "user_id", "ip", "user_agent", "detail"}, item
    by_type = {item["type"]: item for item in items}
    for kind in ("private_token.created", "private_token.rotated"):
        assert re.fullmatch(
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", by_type[kind]["detail"]["expires_at"]
        )
    assert by_type["user.updated"]["detail"]["actor_id"] == admin.id
