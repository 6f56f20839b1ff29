"""Teams, roles and team-owned keys (issue 19): who may do what, and what a team key is."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from sqlalchemy import select

from authsvc.extensions import db
from authsvc.models import AuditEvent, PrivateToken, Team, TeamMember
from tests.helpers import PASSWORD, bearer, envelope, error_of

TEAMS = "/api/v1/teams"
VERIFY = "/api/v1/auth/verify"


@dataclass
class World:
    team: str
    key: dict[str, Any]  # a team key made by the owner
    ids: dict[str, str]  # role name -> user id
    access: dict[str, str]  # role name -> access token


def new_key(client: Any, access: str, team: str, **body: Any) -> Any:
    body.setdefault("name", "deploy")
    body.setdefault("current_password", PASSWORD)
    body.setdefault("expires_in_days", 30)
    return client.post(f"{TEAMS}/{team}/private-tokens", json=body, headers=bearer(access))


def add(client: Any, access: str, team: str, email: str, role: str) -> Any:
    return client.post(
        f"{TEAMS}/{team}/members", json={"email": email, "role": role}, headers=bearer(access)
    )


@pytest.fixture
def world(client, make_user, admin, login) -> World:
    people = {
        "owner": make_user("olga@example.com"),
        "admin": make_user("adam@example.com"),
        "member": make_user("mia@example.com"),
        "outsider": make_user("otto@example.com"),
        "service_admin": admin,
    }
    make_user("eve@example.com")
    access = {name: login(who)["access_token"] for name, who in people.items()}
    r = client.post(TEAMS, json={"name": "Platform"}, headers=bearer(access["owner"]))
    assert r.status_code == 201, r.get_json()
    team = r.get_json()["id"]
    assert add(client, access["owner"], team, "adam@example.com", "admin").status_code == 201
    assert add(client, access["owner"], team, "mia@example.com", "member").status_code == 201
    key = new_key(client, access["owner"], team)
    assert key.status_code == 201, key.get_json()
    return World(team, key.get_json(), {n: w.id for n, w in people.items()}, access)


def snapshot(app) -> tuple[Any, ...]:
    """Everything a refused request must leave as it was."""
    with app.app_context():
        return (
            db.session.scalars(select(AuditEvent.id).order_by(AuditEvent.id)).all(),
            db.session.execute(
                select(Team.id, Team.name, Team.scopes, Team.deleted_at).order_by(Team.id)
            ).all(),
            db.session.execute(
                select(TeamMember.team_id, TeamMember.user_id, TeamMember.role).order_by(
                    TeamMember.user_id
                )
            ).all(),
            db.session.execute(
                select(PrivateToken.id, PrivateToken.name, PrivateToken.revoked_at).order_by(
                    PrivateToken.id
                )
            ).all(),
        )


ROLES = ("owner", "admin", "member", "outsider", "service_admin")


def row(method: str, path: str, body: Any, *statuses: int) -> list[Any]:
    return [
        pytest.param(method, path, body, role, status, id=f"{method} {path} as {role}")
        for role, status in zip(ROLES, statuses, strict=True)
    ]


SUDO = {"current_password": PASSWORD}
KEY_BODY = {"name": "k2", "expires_in_days": 10, **SUDO}
TABLE = [
    #                                                        owner adm  mem  out  svc
    *row("GET", "", None, 200, 200, 200, 404, 200),
    *row("PATCH", "", {"name": "Renamed"}, 200, 403, 403, 404, 403),
    *row("PATCH", "", {"scopes": ["read"]}, 403, 403, 403, 404, 200),
    *row("DELETE", "", None, 204, 403, 403, 404, 403),
    *row("GET", "/members", None, 200, 200, 200, 404, 200),
    *row("POST", "/members", {"email": "eve@example.com"}, 201, 201, 403, 404, 403),
    *row(
        "POST", "/members", {"email": "eve@example.com", "role": "owner"}, 201, 403, 403, 404, 403
    ),
    *row("PATCH", "/members/{member}", {"role": "admin"}, 200, 200, 403, 404, 403),
    *row("PATCH", "/members/{member}", {"role": "owner"}, 200, 403, 403, 404, 403),
    *row("PATCH", "/members/{admin}", {"role": "member"}, 200, 200, 403, 404, 403),
    *row("PATCH", "/members/{owner}", {"role": "member"}, 409, 403, 403, 404, 403),
    *row("DELETE", "/members/{member}", None, 204, 204, 204, 404, 403),
    *row("DELETE", "/members/{admin}", None, 204, 204, 403, 404, 403),
    *row("DELETE", "/members/{owner}", None, 409, 403, 403, 404, 403),
    *row("POST", "/private-tokens", KEY_BODY, 201, 201, 403, 404, 403),
    *row("GET", "/private-tokens", None, 200, 200, 200, 404, 200),
    *row("GET", "/private-tokens/{key}", None, 200, 200, 200, 404, 200),
    *row("PATCH", "/private-tokens/{key}", {"name": "new"}, 200, 200, 403, 404, 403),
    *row("POST", "/private-tokens/{key}/rotate", SUDO, 201, 201, 403, 404, 403),
    *row("DELETE", "/private-tokens/{key}", None, 204, 204, 403, 404, 403),
]


EVENTS = {
    ("PATCH", ""): "team.updated",
    ("DELETE", ""): "team.deleted",
    ("POST", "/members"): "team.member_added",
    ("PATCH", "/members/{}"): "team.member_role_changed",
    ("DELETE", "/members/{}"): "team.member_removed",
    ("POST", "/private-tokens"): "team.key_created",
    ("PATCH", "/private-tokens/{}"): "team.key_updated",
    ("POST", "/private-tokens/{}/rotate"): "team.key_rotated",
    ("DELETE", "/private-tokens/{}"): "team.key_deleted",
}


@pytest.mark.parametrize(("method", "path", "body", "role", "status"), TABLE)
def test_roles_table(app, client, world, method, path, body, role, status):
    template = re.sub(r"\{\w+\}", "{}", path)
    path = path.format(key=world.key["id"], **world.ids)
    before = snapshot(app)
    r = client.open(
        f"{TEAMS}/{world.team}{path}",
        method=method,
        json=body,
        headers=bearer(world.access[role]),
    )
    assert r.status_code == status, r.get_json()
    if status >= 400:
        code = {403: "permission_denied", 404: "not_found", 409: "conflict"}[status]
        assert error_of(r)["code"] == code
        assert snapshot(app) == before  # nothing written on a refusal, audit included
    elif method != "GET":  # every change is one team event, naming the acting user
        with app.app_context():
            new = db.session.scalars(
                select(AuditEvent).where(AuditEvent.id.not_in(before[0]))
            ).all()
            assert [e.type for e in new] == [EVENTS[(method, template)]]
            assert new[0].actor_id == world.ids[role] and new[0].detail["team_id"] == world.team


def test_team_starts_with_the_creators_scopes_never_admin(client, admin_token):
    r = client.post(TEAMS, json={"name": "Ops"}, headers=bearer(admin_token))
    assert r.status_code == 201
    body = r.get_json()
    assert set(body) == {"id", "name", "scopes", "created_at", "role"}
    assert body["role"] == "owner" and body["name"] == "Ops"
    assert body["scopes"] == ["read", "write", "introspect"]


def test_list_shows_only_the_callers_teams_and_all_for_service_admins(client, world):
    r = client.get(TEAMS, headers=bearer(world.access["outsider"]))
    assert r.status_code == 200 and r.get_json() == {"items": []}
    r = client.get(TEAMS, headers=bearer(world.access["member"]))
    assert [(t["id"], t["role"]) for t in r.get_json()["items"]] == [(world.team, "member")]
    r = client.get(f"{TEAMS}?all=true", headers=bearer(world.access["outsider"]))
    assert r.status_code == 403
    r = client.get(f"{TEAMS}?all=true", headers=bearer(world.access["service_admin"]))
    assert [(t["id"], t["role"]) for t in r.get_json()["items"]] == [(world.team, None)]


def test_team_key_claims_verify_introspection_and_gateway(app, client, world):
    token = world.key["token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == f"team:{world.team}" and claims["team_id"] == world.team
    r = client.get(VERIFY, headers=bearer(token))
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["owner_type"] == "team" and body["team_id"] == world.team
    assert body["sub"] == f"team:{world.team}" and body["token_type"] == "private"
    r = client.get("/api/v1/auth/check", headers=bearer(token))
    assert r.status_code == 200 and r.headers["X-Authsvc-Team"] == world.team
    assert r.headers["X-Authsvc-Subject"] == f"team:{world.team}"
    r = client.post(
        "/api/v1/auth/introspect",
        json={"token": token},
        headers=bearer(world.access["service_admin"]),
    )
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["owner_type"] == "team" and r.get_json()["team_id"] == world.team
    r = client.get(VERIFY, headers=bearer(world.access["member"]))
    assert r.get_json()["owner_type"] == "user" and "team_id" not in r.get_json()
    r = client.get("/api/v1/auth/check", headers=bearer(world.access["member"]))
    assert "X-Authsvc-Team" not in r.headers


def test_team_key_scopes_stay_within_the_teams(client, world):
    r = new_key(client, world.access["owner"], world.team, scopes=["introspect"])
    assert r.status_code == 403 and error_of(r)["code"] == "insufficient_scope"
    r = client.patch(
        f"{TEAMS}/{world.team}",
        json={"scopes": ["read", "write", "deploy"]},
        headers=bearer(world.access["service_admin"]),
    )
    assert r.status_code == 200 and r.get_json()["scopes"] == ["read", "write", "deploy"]
    r = new_key(client, world.access["admin"], world.team, scopes=["deploy"])
    assert r.status_code == 201 and r.get_json()["scopes"] == ["read", "deploy"]
    r = client.patch(
        f"{TEAMS}/{world.team}",
        json={"scopes": ["admin"]},
        headers=bearer(world.access["service_admin"]),
    )
    assert r.status_code == 400
    # narrowing the team narrows its live keys at once
    client.patch(
        f"{TEAMS}/{world.team}",
        json={"scopes": ["read"]},
        headers=bearer(world.access["service_admin"]),
    )
    r = client.get(VERIFY, headers=bearer(world.key["token"]))
    assert r.get_json()["scopes"] == ["read"]


def test_team_keys_cannot_manage_teams_or_keys(client, world):
    token = world.key["token"]
    for method, path in (
        ("GET", TEAMS),
        ("GET", f"{TEAMS}/{world.team}"),
        ("POST", f"{TEAMS}/{world.team}/private-tokens"),
        ("DELETE", f"{TEAMS}/{world.team}"),
        ("GET", "/api/v1/private-tokens"),
    ):
        r = client.open(path, method=method, headers=bearer(token))
        assert r.status_code == 403, (method, path)
        assert error_of(r)["code"] == "permission_denied"


def test_team_keys_are_not_personal_keys(client, world):
    r = client.get("/api/v1/private-tokens", headers=bearer(world.access["owner"]))
    assert r.get_json() == {"items": []}
    r = client.get(
        f"/api/v1/private-tokens/{world.key['id']}", headers=bearer(world.access["owner"])
    )
    assert r.status_code == 404


def test_key_survives_its_creator_leaving_and_being_deactivated(app, client, world):
    made = new_key(client, world.access["admin"], world.team).get_json()
    r = client.delete(
        f"{TEAMS}/{world.team}/members/{world.ids['admin']}", headers=bearer(world.access["admin"])
    )
    assert r.status_code == 204
    # the one who left no longer sees the team
    r = client.get(f"{TEAMS}/{world.team}", headers=bearer(world.access["admin"]))
    assert r.status_code == 404 and error_of(r) == envelope("not_found")
    assert client.get(VERIFY, headers=bearer(made["token"])).status_code == 200
    r = client.patch(
        f"/api/v1/users/{world.ids['admin']}",
        json={"is_active": False},
        headers=bearer(world.access["service_admin"]),
    )
    assert r.status_code == 200, r.get_json()
    assert client.get(VERIFY, headers=bearer(made["token"])).status_code == 200
    # also the owner's password change leaves team keys alone
    r = client.post(
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": "another-Quiet-harbour-42"},
        headers=bearer(world.access["owner"]),
    )
    assert r.status_code == 204
    assert client.get(VERIFY, headers=bearer(world.key["token"])).status_code == 200


def test_deleting_the_team_kills_every_key_on_every_host(app, client, world, make_app):
    second = new_key(client, world.access["admin"], world.team).get_json()
    other_host = make_app().test_client()
    for token in (world.key["token"], second["token"]):
        assert other_host.get(VERIFY, headers=bearer(token)).status_code == 200
    r = client.delete(f"{TEAMS}/{world.team}", headers=bearer(world.access["owner"]))
    assert r.status_code == 204
    for host in (client, other_host):
        for token in (world.key["token"], second["token"]):
            r = host.get(VERIFY, headers=bearer(token))
            assert r.status_code == 401 and error_of(r)["extra"]["reason"] == "revoked"
    with app.app_context():
        revoked = db.session.scalars(
            select(PrivateToken.revoked_at).where(PrivateToken.team_id == world.team)
        ).all()
        assert len(revoked) == 2 and all(revoked)
    r = client.get(f"{TEAMS}/{world.team}", headers=bearer(world.access["owner"]))
    assert r.status_code == 404


def test_a_removed_member_loses_access_at_once(client, world):
    r = client.delete(
        f"{TEAMS}/{world.team}/members/{world.ids['member']}", headers=bearer(world.access["admin"])
    )
    assert r.status_code == 204
    for path in ("", "/members", "/private-tokens"):
        r = client.get(f"{TEAMS}/{world.team}{path}", headers=bearer(world.access["member"]))
        assert r.status_code == 404


def test_escalation_attempts_are_refused(app, client, world):
    before = snapshot(app)
    me = world.ids
    for who, target, role in (
        ("member", "member", "admin"),
        ("member", "member", "owner"),
        ("admin", "admin", "owner"),
        ("admin", "owner", "member"),
    ):
        r = client.patch(
            f"{TEAMS}/{world.team}/members/{me[target]}",
            json={"role": role},
            headers=bearer(world.access[who]),
        )
        assert r.status_code == 403, (who, target, role)
    assert snapshot(app) == before


def test_last_owner_cannot_leave_but_can_hand_over(client, world):
    own = bearer(world.access["owner"])
    r = client.delete(f"{TEAMS}/{world.team}/members/{world.ids['owner']}", headers=own)
    assert r.status_code == 409
    r = client.patch(
        f"{TEAMS}/{world.team}/members/{world.ids['admin']}", json={"role": "owner"}, headers=own
    )
    assert r.status_code == 200
    r = client.delete(f"{TEAMS}/{world.team}/members/{world.ids['owner']}", headers=own)
    assert r.status_code == 204


def test_concurrent_mutual_demotions_keep_an_owner(app, client, world):
    own = bearer(world.access["owner"])
    r = client.patch(
        f"{TEAMS}/{world.team}/members/{world.ids['admin']}", json={"role": "owner"}, headers=own
    )
    assert r.status_code == 200
    for _ in range(3):
        barrier = threading.Barrier(2)
        results: list[int] = []

        def demote(
            actor: str, target: str, barrier: Any = barrier, results: list[int] = results
        ) -> None:
            c = app.test_client()
            barrier.wait()
            r = c.patch(
                f"{TEAMS}/{world.team}/members/{world.ids[target]}",
                json={"role": "member"},
                headers=bearer(world.access[actor]),
            )
            results.append(r.status_code)

        threads = [
            threading.Thread(target=demote, args=("owner", "admin")),
            threading.Thread(target=demote, args=("admin", "owner")),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with app.app_context():
            owners = db.session.scalars(
                select(TeamMember.user_id).where(
                    TeamMember.team_id == world.team, TeamMember.role == "owner"
                )
            ).all()
        assert len(owners) == 1, results
        assert sorted(results) in ([200, 403], [200, 409]), results
        # restore two owners for the next round
        (left,) = owners
        actor = "owner" if left == world.ids["owner"] else "admin"
        other = "admin" if actor == "owner" else "owner"
        r = client.patch(
            f"{TEAMS}/{world.team}/members/{world.ids[other]}",
            json={"role": "owner"},
            headers=bearer(world.access[actor]),
        )
        assert r.status_code == 200


def test_audit_events_name_the_acting_user(app, client, world):
    with app.app_context():
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.type.like("team.%")).order_by(AuditEvent.id)
        ).all()
        assert [e.type for e in events] == [
            "team.created",
            "team.member_added",
            "team.member_added",
            "team.key_created",
        ]
        assert {e.actor_id for e in events} == {world.ids["owner"]}
        assert all(e.detail["team_id"] == world.team for e in events)
        assert "token" not in events[-1].detail


def test_member_add_errors(client, world):
    own = bearer(world.access["owner"])
    r = add(client, world.access["owner"], world.team, "nobody@example.com", "member")
    assert r.status_code == 404 and error_of(r)["attr"] == "email"
    r = add(client, world.access["owner"], world.team, "mia@example.com", "member")
    assert r.status_code == 409
    r = add(client, world.access["owner"], world.team, "eve@example.com", "boss")
    assert r.status_code == 400
    r = client.get(f"{TEAMS}/{world.team}/members", headers=own)
    assert [(m["email"], m["role"]) for m in r.get_json()["items"]] == [
        ("olga@example.com", "owner"),
        ("adam@example.com", "admin"),
        ("mia@example.com", "member"),
    ]


def test_a_team_key_revoked_by_rfc7009_names_its_team(app, client, world):
    r = client.post("/api/v1/auth/revoke", json={"token": world.key["token"]})
    assert r.status_code == 200
    r = client.get(VERIFY, headers=bearer(world.key["token"]))
    assert r.status_code == 401 and error_of(r)["extra"]["reason"] == "revoked"
    with app.app_context():
        (event,) = db.session.scalars(
            select(AuditEvent).where(AuditEvent.type == "token.revoked")
        ).all()
        assert event.user_id is None and event.detail["team_id"] == world.team
