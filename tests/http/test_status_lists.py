"""Token Status Lists through HTTP: the claim on every token, the signed list, ETag/304,
and the status each revocation and deactivation sets, in its own transaction."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from authsvc.core import status_list
from authsvc.services import audit
from tests.helpers import PASSWORD, bearer, envelope, error_of
from tests.oauth_helpers import ISSUER, Flow, basic

LISTS = "/api/v1/status-lists/"


def ref(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})["status"]["status_list"]


def fetch(client: FlaskClient, uri: str) -> tuple[dict[str, Any], bytes]:
    """The list at `uri`, its signature checked against the JWKS like a verifier would."""
    assert uri.startswith(ISSUER + LISTS)
    response = client.get(uri.removeprefix(ISSUER))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/statuslist+jwt"
    jwks = client.get("/.well-known/jwks.json").get_json()["keys"]
    token = response.get_data(as_text=True)
    kid = jwt.get_unverified_header(token)["kid"]
    (jwk,) = [k for k in jwks if k["kid"] == kid]
    payload = jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=[jwk["alg"]])
    assert jwt.get_unverified_header(token)["typ"] == "statuslist+jwt"
    assert payload["sub"] == uri
    return payload, status_list.decode_lst(payload["status_list"]["lst"])


def status(client: FlaskClient, token: str) -> int:
    r = ref(token)
    _, raw = fetch(client, r["uri"])
    return status_list.status_at(raw, r["idx"])


@pytest.fixture
def private(client: FlaskClient, tokens: dict[str, Any]) -> dict[str, Any]:
    r = client.post(
        "/api/v1/private-tokens",
        json={"name": "ci", "expires_in_days": 30, "current_password": PASSWORD},
        headers=bearer(tokens["access_token"]),
    )
    assert r.status_code == 201, r.get_json()
    return r.get_json()


# --- the claim and the list -------------------------------------------------------------------


def test_every_kind_of_token_carries_a_status_claim(tokens, private, login, user):
    access, refresh = ref(tokens["access_token"]), ref(tokens["refresh_token"])
    assert access == refresh  # one index per session
    assert access["uri"] == f"{ISSUER}{LISTS}0" and isinstance(access["idx"], int)
    assert ref(private["token"])["idx"] != access["idx"]
    assert ref(login(user)["access_token"])["idx"] not in (
        access["idx"],
        ref(private["token"])["idx"],
    )


def test_the_list_is_a_signed_statuslist_jwt(client, tokens):
    payload, raw = fetch(client, ref(tokens["access_token"])["uri"])
    assert payload["ttl"] == 2 and payload["exp"] > payload["iat"]
    assert payload["status_list"]["bits"] == 2
    assert len(raw) == status_list.LIST_SIZE // 4 and not any(raw)


def test_ttl_follows_the_setting(make_app, login, user):
    other = make_app(AUTHSVC_STATUS_LIST_TTL=7)
    client = other.test_client()
    pair = client.post(
        "/api/v1/auth/login", json={"email": user.email, "password": user.password}
    ).get_json()
    assert fetch(client, ref(pair["access_token"])["uri"])[0]["ttl"] == 7


def test_etag_and_304(client, tokens):
    first = client.get(LISTS + "0")
    tag = first.headers["ETag"]
    assert tag.startswith('W/"') and first.headers["Cache-Control"] == "no-cache"
    again = client.get(LISTS + "0", headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.get_data() == b"" and again.headers["ETag"] == tag
    strong = tag.removeprefix("W/")
    assert client.get(LISTS + "0", headers={"If-None-Match": f'"x", {strong}'}).status_code == 304
    client.post("/api/v1/auth/logout", headers=bearer(tokens["access_token"]))
    changed = client.get(LISTS + "0", headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["ETag"] != tag


BAD_TAG = envelope("invalid", attr="If-None-Match")


@pytest.mark.parametrize(
    ("list_id", "if_none_match", "status_code", "expected"),
    [
        ("1", None, 404, envelope("not_found")),  # beyond the highest index handed out
        ("999999999999", None, 404, envelope("not_found")),
        ("-1", None, 404, envelope("not_found")),
        ("01", None, 404, envelope("not_found")),
        ("abc", None, 404, envelope("not_found")),
        ("0x0", None, 404, envelope("not_found")),
        ("1e3", None, 404, envelope("not_found")),
        ("9" * 40, None, 404, envelope("not_found")),
        ("1", '"x"', 404, envelope("not_found")),
        ("0", "garbage", 400, BAD_TAG),
        ("0", 'W/"unterminated', 400, BAD_TAG),
        ("0", '"a" "b"', 400, BAD_TAG),
        ("0", '"\x7f"', 400, BAD_TAG),
        ("0", '"a", garbage', 400, BAD_TAG),
        ("0", ",", 400, BAD_TAG),
        ("0", " ", 400, BAD_TAG),
        ("0", 'W/"' + "x" * 1030 + '"', 400, BAD_TAG),  # oversized, though well formed
        ("0", ", ".join(['"x"'] * 300), 400, BAD_TAG),
    ],
    ids=repr,
)
def test_bad_input_is_the_envelope_and_nothing_else(
    app: Flask, client, tokens, list_id, if_none_match, status_code, expected
):
    from authsvc.extensions import db
    from authsvc.models import StatusListVersion
    from authsvc.services.runtime import signed_lists

    def stored() -> tuple[Any, ...]:
        with app.app_context():
            versions = db.session.execute(
                select(StatusListVersion.list_id, StatusListVersion.version)
            ).all()
            db.session.rollback()
            return tuple(versions), dict(signed_lists().signed), signed_lists().builds

    before = stored()
    headers = {} if if_none_match is None else {"If-None-Match": if_none_match}
    r = client.get(LISTS + list_id, headers=headers)
    assert r.status_code == status_code and error_of(r) == expected
    assert r.mimetype == "application/json" and "ETag" not in r.headers
    assert stored() == before  # nothing built, signed, cached or written


@pytest.mark.parametrize("if_none_match", ['W/"0.0", "x"', ',, W/"0.0" ,', '"0.0"', "*"], ids=repr)
def test_well_formed_if_none_match_lists(client, tokens, if_none_match):
    tag = client.get(LISTS + "0").headers["ETag"]
    assert tag == 'W/"0.0"'  # no status has changed yet
    r = client.get(LISTS + "0", headers={"If-None-Match": if_none_match})
    assert r.status_code == 304 and r.get_data() == b"" and r.headers["ETag"] == tag


def test_metadata_names_the_aggregation_endpoint(client, tokens):
    meta = client.get("/.well-known/oauth-authorization-server").get_json()
    assert meta["status_list_aggregation_endpoint"] == f"{ISSUER}/api/v1/status-lists"
    assert client.get("/api/v1/status-lists").get_json() == {"status_lists": [f"{ISSUER}{LISTS}0"]}


# --- each revocation sets its status ----------------------------------------------------------


def test_logout(client, tokens, login, user):
    other = login(user)
    assert status(client, tokens["access_token"]) == 0
    assert (
        client.post("/api/v1/auth/logout", headers=bearer(tokens["access_token"])).status_code
        == 204
    )
    assert status(client, tokens["access_token"]) == 1
    assert status(client, tokens["refresh_token"]) == 1
    assert status(client, other["access_token"]) == 0


def test_session_revocation_and_sign_out_everywhere(client, tokens, login, user):
    second, third = login(user), login(user)
    sessions = client.get(
        "/api/v1/auth/sessions", headers=bearer(tokens["access_token"])
    ).get_json()
    sid = jwt.decode(second["access_token"], options={"verify_signature": False})["sid"]
    assert sid in [s["id"] for s in sessions["items"]]
    r = client.delete(f"/api/v1/auth/sessions/{sid}", headers=bearer(tokens["access_token"]))
    assert r.status_code == 204
    assert [status(client, t["access_token"]) for t in (tokens, second, third)] == [0, 1, 0]
    r = client.delete("/api/v1/auth/sessions", headers=bearer(tokens["access_token"]))
    assert r.status_code == 204
    assert [status(client, t["access_token"]) for t in (tokens, second, third)] == [1, 1, 1]


def test_password_change(client, tokens, login, user, private):
    other = login(user)
    r = client.post(
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": "a-new-Passphrase-for-42-owls"},
        headers=bearer(tokens["access_token"]),
    )
    assert r.status_code == 204
    assert status(client, tokens["access_token"]) == 0  # the session that changed it stays
    assert status(client, other["access_token"]) == 1
    assert status(client, private["token"]) == 1


def test_refresh_reuse_detection(client, tokens, make_app):
    first = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    second = client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first.get_json()["refresh_token"]}
    ).get_json()
    assert ref(second["access_token"]) == ref(tokens["access_token"])  # the session's index
    assert status(client, second["access_token"]) == 0
    # the first token is two rotations old: reuse, whatever the window
    r = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert error_of(r) == envelope("invalid_token", reason="reused")
    assert status(client, second["access_token"]) == 1


def test_revoke_a_refresh_token(client, tokens):
    client.post("/api/v1/auth/revoke", json={"token": tokens["refresh_token"]})
    assert status(client, tokens["access_token"]) == 1


def test_revoke_one_access_token_moves_the_session_to_a_new_index(client, tokens):
    r = client.post("/api/v1/auth/revoke", json={"token": tokens["access_token"]})
    assert r.status_code == 200
    assert status(client, tokens["access_token"]) == 1
    renewed = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert renewed.status_code == 200
    fresh = renewed.get_json()["access_token"]
    assert ref(fresh)["idx"] != ref(tokens["access_token"])["idx"]
    assert status(client, fresh) == 0
    # a second revocation of the same token changes nothing more
    client.post("/api/v1/auth/revoke", json={"token": tokens["access_token"]})
    assert status(client, fresh) == 0


def test_revoking_one_access_token_in_the_list_and_online(client, tokens):
    """The design's price, pinned: the list can say one thing per index, and a session's
    tokens share one, so its siblings issued before are refused offline (never the other
    way round); online only that jti is. The next refresh mends it; revoking an older
    sibling later does not move the session again."""
    first = tokens["access_token"]
    renewed = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    sibling, refresh = renewed.get_json()["access_token"], renewed.get_json()["refresh_token"]
    assert ref(sibling) == ref(first)
    assert client.post("/api/v1/auth/revoke", json={"token": first}).status_code == 200
    verify = "/api/v1/auth/verify"
    assert client.get(verify, headers=bearer(first)).status_code == 401
    assert client.get(verify, headers=bearer(sibling)).status_code == 200  # online: only that jti
    assert status(client, sibling) == 1  # offline: the shared index (documented)
    mended = client.post("/api/v1/auth/refresh", json={"refresh_token": refresh}).get_json()
    assert ref(mended["access_token"])["idx"] != ref(first)["idx"]
    assert status(client, mended["access_token"]) == 0
    assert client.post("/api/v1/auth/revoke", json={"token": sibling}).status_code == 200
    assert status(client, mended["access_token"]) == 0
    again = client.post(
        "/api/v1/auth/refresh", json={"refresh_token": mended["refresh_token"]}
    ).get_json()
    assert ref(again["access_token"]) == ref(mended["access_token"])  # not moved again
    r = client.post("/api/v1/auth/logout", headers=bearer(again["access_token"]))
    assert r.status_code == 204
    assert (
        status(client, again["access_token"]) == 1 and status(client, mended["access_token"]) == 1
    )


def test_revoke_delete_and_rotate_private_tokens(client, tokens, private):
    headers = bearer(tokens["access_token"])
    rotated = client.post(
        f"/api/v1/private-tokens/{private['id']}/rotate",
        json={"current_password": PASSWORD},
        headers=headers,
    ).get_json()
    assert status(client, private["token"]) == 1 and status(client, rotated["token"]) == 0
    client.post("/api/v1/auth/revoke", json={"token": rotated["token"]})
    assert status(client, rotated["token"]) == 1
    created = client.post(
        "/api/v1/private-tokens",
        json={"name": "b", "expires_in_days": 3, "current_password": PASSWORD},
        headers=headers,
    ).get_json()
    assert (
        client.delete(f"/api/v1/private-tokens/{created['id']}", headers=headers).status_code == 204
    )
    assert status(client, created["token"]) == 1


def test_deactivation_suspends_and_reactivation_clears(client, tokens, private, admin_token, user):
    def active(value: bool) -> None:
        r = client.patch(
            f"/api/v1/users/{user.id}", json={"is_active": value}, headers=bearer(admin_token)
        )
        assert r.status_code == 200, r.get_json()

    active(False)
    assert status(client, tokens["access_token"]) == 2 and status(client, private["token"]) == 2
    active(True)
    assert status(client, tokens["access_token"]) == 0 and status(client, private["token"]) == 0
    client.post("/api/v1/auth/logout", headers=bearer(tokens["access_token"]))
    active(False)
    assert status(client, tokens["access_token"]) == 1  # revoked stays revoked
    active(True)
    assert status(client, tokens["access_token"]) == 1


@pytest.fixture
def flow(client, make_user, user, login) -> Flow:
    root = make_user(
        "root@example.com", is_admin=True, scopes=["read", "write", "introspect", "admin"]
    )
    return Flow(client, login(root)["access_token"], login(user)["access_token"])


def test_oauth_tokens_consent_withdrawal_and_client_deletion(client, flow):
    partner = flow.register()
    issued = flow.tokens(partner)
    assert status(client, issued["access_token"]) == 0
    assert ref(issued["refresh_token"]) == ref(issued["access_token"])
    r = client.delete(
        f"/api/v1/oauth2/consents/{partner['client_id']}", headers=bearer(flow.user_token)
    )
    assert r.status_code == 204
    assert status(client, issued["access_token"]) == 1

    service = flow.register("Batch", grant_types=["client_credentials"])
    form = {"grant_type": "client_credentials", "scope": "read"}
    auth = basic(service["client_id"], service["client_secret"])
    one = client.post("/api/v1/auth/oauth2/token", data=form, headers=auth).get_json()
    two = client.post("/api/v1/auth/oauth2/token", data=form, headers=auth).get_json()
    assert ref(one["access_token"]) == ref(two["access_token"])  # one index per client
    client.post("/api/v1/auth/revoke", json={"token": one["access_token"]})
    assert status(client, one["access_token"]) == 1
    three = client.post("/api/v1/auth/oauth2/token", data=form, headers=auth).get_json()
    assert status(client, three["access_token"]) == 0  # the client moved to a fresh index
    coded = flow.register("Coded")
    in_flight = flow.tokens(coded)
    r = client.delete(
        f"/api/v1/oauth2/clients/{service['client_id']}", headers=bearer(flow.admin_token)
    )
    assert r.status_code == 204
    assert status(client, three["access_token"]) == 1
    client.delete(f"/api/v1/oauth2/clients/{coded['client_id']}", headers=bearer(flow.admin_token))
    assert status(client, in_flight["access_token"]) == 1


# --- same transaction: a revocation that fails leaves the status 0 --------------------------


def test_a_failed_revocation_leaves_the_status_valid(client, tokens, monkeypatch):
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("audit store down")

    monkeypatch.setattr(audit, "record", broken)
    with pytest.raises(RuntimeError):  # the test client re-raises what would be a 500
        client.post("/api/v1/auth/logout", headers=bearer(tokens["access_token"]))
    monkeypatch.undo()
    assert status(client, tokens["access_token"]) == 0
    assert (
        client.get("/api/v1/auth/verify", headers=bearer(tokens["access_token"])).status_code == 200
    )


def test_a_rolled_back_revocation_leaves_the_status_valid(app: Flask, client, tokens, user):
    from authsvc.extensions import db
    from authsvc.services import sessions, status_lists

    with app.app_context():
        assert sessions.revoke_sessions(user.id) == 1
        idx = status_lists.index_of({"status": {"status_list": ref(tokens["access_token"])}})
        assert status_lists.statuses(0) == {idx: 1}  # seen inside the transaction
        db.session.rollback()
        assert status_lists.statuses(0) == {}
    assert status(client, tokens["access_token"]) == 0


# --- team keys (issue 19) ---------------------------------------------------------------------

TEAMS = "/api/v1/teams"


def team_key(client: FlaskClient, access: str, team: str, name: str = "deploy") -> dict[str, Any]:
    r = client.post(
        f"{TEAMS}/{team}/private-tokens",
        json={"name": name, "expires_in_days": 30, "current_password": PASSWORD},
        headers=bearer(access),
    )
    assert r.status_code == 201, r.get_json()
    return r.get_json()


@pytest.fixture
def team(client: FlaskClient, tokens: dict[str, Any], make_user, login) -> dict[str, Any]:
    """A team owned by `user`, with a second manager (`adam`) who made one of its keys."""
    owner = tokens["access_token"]
    made = client.post(TEAMS, json={"name": "Platform"}, headers=bearer(owner))
    assert made.status_code == 201, made.get_json()
    team_id = made.get_json()["id"]
    adam = make_user("adam@example.com")
    r = client.post(
        f"{TEAMS}/{team_id}/members",
        json={"email": adam.email, "role": "admin"},
        headers=bearer(owner),
    )
    assert r.status_code == 201, r.get_json()
    adam_pair = login(adam)
    return {
        "id": team_id,
        "adam": adam,
        "adam_pair": adam_pair,
        "keys": [
            team_key(client, owner, team_id),
            team_key(client, adam_pair["access_token"], team_id, "ci"),
        ],
    }


def test_team_keys_carry_a_status_of_their_own(client, tokens, team):
    refs = [ref(key["token"]) for key in team["keys"]]
    assert refs[0]["uri"] == f"{ISSUER}{LISTS}0" and refs[0]["idx"] != refs[1]["idx"]
    assert ref(tokens["access_token"])["idx"] not in {r["idx"] for r in refs}
    assert [status(client, key["token"]) for key in team["keys"]] == [0, 0]


def test_deleting_a_team_revokes_every_team_key_in_the_list(app: Flask, client, tokens, team):
    from authsvc.extensions import db
    from authsvc.services import status_lists

    tag = client.get(LISTS + "0").headers["ETag"]
    r = client.delete(f"{TEAMS}/{team['id']}", headers=bearer(tokens["access_token"]))
    assert r.status_code == 204
    assert [status(client, key["token"]) for key in team["keys"]] == [1, 1]
    # the members' own tokens are not the team's: they stay valid
    assert status(client, tokens["access_token"]) == 0
    assert status(client, team["adam_pair"]["access_token"]) == 0
    assert client.get(LISTS + "0", headers={"If-None-Match": tag}).status_code == 200
    with app.app_context():
        idx = {
            status_lists.index_of({"status": {"status_list": ref(k["token"])}})
            for k in team["keys"]
        }
        assert set(status_lists.statuses(0)) == idx
        db.session.rollback()


def test_deleting_or_rotating_one_team_key(client, tokens, team):
    first, second = team["keys"]
    owner = bearer(tokens["access_token"])
    rotated = client.post(
        f"{TEAMS}/{team['id']}/private-tokens/{first['id']}/rotate",
        json={"current_password": PASSWORD},
        headers=owner,
    )
    assert rotated.status_code in (200, 201), rotated.get_json()
    fresh = rotated.get_json()["token"]
    r = client.delete(f"{TEAMS}/{team['id']}/private-tokens/{second['id']}", headers=owner)
    assert r.status_code == 204
    assert [status(client, t) for t in (first["token"], fresh, second["token"])] == [1, 0, 1]


def test_deactivating_a_key_creator_suspends_their_tokens_not_the_team_keys(
    client, team, admin_token
):
    adam = team["adam"]
    personal = client.post(
        "/api/v1/private-tokens",
        json={"name": "mine", "expires_in_days": 3, "current_password": PASSWORD},
        headers=bearer(team["adam_pair"]["access_token"]),
    ).get_json()

    def active(value: bool) -> None:
        r = client.patch(
            f"/api/v1/users/{adam.id}", json={"is_active": value}, headers=bearer(admin_token)
        )
        assert r.status_code == 200, r.get_json()

    made_by_adam = team["keys"][1]["token"]
    active(False)
    assert status(client, team["adam_pair"]["access_token"]) == 2
    assert status(client, personal["token"]) == 2
    assert status(client, made_by_adam) == 0  # a team key outlives its creator's account
    assert client.get("/api/v1/auth/verify", headers=bearer(made_by_adam)).status_code == 200
    active(True)
    assert status(client, team["adam_pair"]["access_token"]) == 0
    assert status(client, personal["token"]) == 0 and status(client, made_by_adam) == 0


# --- the cache: per (list, version), never staler than the version ------------------------------


def builds(app: Flask) -> int:
    from authsvc.services.runtime import signed_lists

    with app.app_context():
        return signed_lists().builds


def test_an_unchanged_list_is_served_from_the_cache(app: Flask, client, tokens, login, user):
    first = client.get(LISTS + "0")
    assert builds(app) == 1
    login(user)  # a new valid holder changes no status: no new version
    again = client.get(LISTS + "0")
    assert again.get_data() == first.get_data() and builds(app) == 1
    assert again.headers["ETag"] == first.headers["ETag"]
    client.post("/api/v1/auth/logout", headers=bearer(tokens["access_token"]))
    assert status(client, tokens["access_token"]) == 1 and builds(app) == 2
    status(client, tokens["access_token"])
    assert builds(app) == 2


def test_a_revocation_through_another_host_is_seen_at_the_next_fetch(
    app: Flask, client, tokens, make_app, login, user
):
    other = make_app().test_client()
    second = login(user)
    assert status(client, tokens["access_token"]) == 0  # cached here
    assert status(other, second["access_token"]) == 0  # and there
    r = other.post("/api/v1/auth/logout", headers=bearer(tokens["access_token"]))
    assert r.status_code == 204
    assert status(client, tokens["access_token"]) == 1
    r = client.post("/api/v1/auth/logout", headers=bearer(second["access_token"]))
    assert r.status_code == 204
    assert status(other, second["access_token"]) == 1
    assert client.get(LISTS + "0").headers["ETag"] == other.get(LISTS + "0").headers["ETag"]


def test_a_write_outside_any_use_case_still_moves_the_version(app: Flask, client, tokens, private):
    """Triggers, not use cases, bump the version: a bulk UPDATE by hand is seen too."""
    from sqlalchemy import update

    from authsvc.extensions import db
    from authsvc.models import PrivateToken, User

    assert status(client, private["token"]) == 0
    with app.app_context():
        db.session.execute(update(PrivateToken).values(revoked_at=PrivateToken.created_at))
        db.session.commit()
    assert status(client, private["token"]) == 1
    with app.app_context():
        db.session.execute(update(User).values(is_active=False))
        db.session.commit()
    assert status(client, tokens["access_token"]) == 2


def test_a_new_signing_key_re_signs_without_rebuilding(app: Flask, client, tokens):
    from authsvc.services.runtime import keystore

    before = client.get(LISTS + "0")
    old_kid = jwt.get_unverified_header(before.get_data(as_text=True))["kid"]
    with app.app_context():
        new, _, _ = keystore().rotate(now=True)
    after = client.get(LISTS + "0")
    assert jwt.get_unverified_header(after.get_data(as_text=True))["kid"] == new.kid != old_kid
    assert after.headers["ETag"] == before.headers["ETag"] and builds(app) == 1
    fetch(client, ref(tokens["access_token"])["uri"])  # verifies against the JWKS


def test_an_aging_list_jwt_is_re_signed_before_it_expires(app: Flask, client, frozen, tokens):
    from datetime import timedelta

    from authsvc.core import clock

    def payload() -> dict[str, Any]:
        body = client.get(LISTS + "0").get_data(as_text=True)
        return jwt.decode(body, options={"verify_signature": False, "verify_exp": False})

    first = payload()
    assert first["exp"] - first["iat"] == 3600
    clock.advance(timedelta(minutes=29))
    assert payload()["iat"] == first["iat"]
    clock.advance(timedelta(minutes=2))
    renewed = payload()
    assert renewed["iat"] > first["iat"] and renewed["exp"] > first["exp"] and builds(app) == 1
