"""Issue 22 through HTTP: per-key address allowlists, rate limits and `last_used_ip`."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import jwt
import pytest
from sqlalchemy import event, func, select

from authsvc.core import clock
from authsvc.extensions import db
from authsvc.models import AuditEvent, KeyUseCount, PrivateToken
from tests.helpers import PASSWORD, bearer, error_of

URL = "/api/v1/private-tokens"
VERIFY = "/api/v1/auth/verify"
CHECK = "/api/v1/auth/check"
INTROSPECT = "/api/v1/auth/introspect"
ALLOWED = {"REMOTE_ADDR": "203.0.113.7"}
ELSEWHERE = {"REMOTE_ADDR": "198.51.100.9"}


def create(client: Any, access: str, url: str = URL, **body: Any) -> dict[str, Any]:
    body = {"name": "ci", "current_password": PASSWORD, "expires_in_days": 30, **body}
    r = client.post(url, json=body, headers=bearer(access))
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def row(app: Any, token_id: str) -> PrivateToken:
    with app.app_context():
        found = db.session.get(PrivateToken, token_id)
        assert found is not None
        db.session.expunge(found)
        return found


def refusals(app: Any) -> list[AuditEvent]:
    with app.app_context():
        found = list(
            db.session.scalars(
                select(AuditEvent)
                .where(AuditEvent.type.in_(["private_token.refused", "team.key_refused"]))
                .order_by(AuditEvent.id)
            )
        )
        for e in found:
            db.session.expunge(e)
        return found


class Writes:
    """Every INSERT/UPDATE/DELETE that reaches the database while it is open."""

    def __init__(self, app: Any) -> None:
        with app.app_context():
            self.engine = db.engine
        self.seen: list[str] = []

    def _listen(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().split(" ", 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            self.seen.append(statement.split("(")[0].strip())

    def __enter__(self) -> list[str]:
        event.listen(self.engine, "before_cursor_execute", self._listen)
        return self.seen

    def __exit__(self, *exc: Any) -> None:
        event.remove(self.engine, "before_cursor_execute", self._listen)


# --- creation -------------------------------------------------------------------------------


def test_create_signs_the_allowlist_and_stores_the_limit(app, client, tokens):
    body = create(
        client,
        tokens["access_token"],
        allowed_ips=[
            "203.0.113.7",
            " 10.1.0.0/16",
            "2001:db8::/48",
            "2001:DB8:0:0::1",
            "10.1.0.0/16",
        ],
        rate_limit="1000 per hour",
    )
    canonical = ["203.0.113.7", "10.1.0.0/16", "2001:db8::/48", "2001:db8::1"]
    assert body["allowed_ips"] == canonical
    assert body["rate_limit"] == "1000/hour"
    assert body["last_used_ip"] is None
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert claims["allowed_ips"] == canonical
    listed = client.get(URL, headers=bearer(tokens["access_token"])).get_json()["items"]
    assert listed[0]["allowed_ips"] == canonical and listed[0]["rate_limit"] == "1000/hour"


def test_an_unrestricted_key_has_no_claim_and_no_counter(app, client, tokens):
    body = create(client, tokens["access_token"])
    assert body["allowed_ips"] is None and body["rate_limit"] is None
    assert "allowed_ips" not in jwt.decode(body["token"], options={"verify_signature": False})
    with Writes(app) as writes:
        r = client.get(VERIFY, headers={"X-API-Key": body["token"]}, environ_base=ELSEWHERE)
    assert r.status_code == 200 and "X-RateLimit-Remaining" not in r.headers
    assert len(writes) == 1 and writes[0].startswith("UPDATE private_tokens SET last_used_at")
    assert row(app, body["id"]).last_used_ip == "198.51.100.9"


BAD_INPUT = [
    ({"allowed_ips": "10.0.0.1"}, "allowed_ips", "invalid"),
    ({"allowed_ips": []}, "allowed_ips", "invalid"),
    ({"allowed_ips": [f"10.0.0.{i}" for i in range(51)]}, "allowed_ips", "too_long"),
    ({"allowed_ips": ["10.0.0.1", "not-an-ip"]}, "allowed_ips.1", "invalid"),
    ({"allowed_ips": ["0.0.0.0/0"]}, "allowed_ips.0", "invalid"),
    ({"allowed_ips": ["::/0"]}, "allowed_ips.0", "invalid"),
    ({"allowed_ips": ["10.0.0.0/7"]}, "allowed_ips.0", "invalid"),
    ({"allowed_ips": ["2001:db8::/31"]}, "allowed_ips.0", "invalid"),
    ({"allowed_ips": ["10.0.0.1/24"]}, "allowed_ips.0", "invalid"),  # host bits set
    ({"allowed_ips": ["10.0.0.0/33"]}, "allowed_ips.0", "invalid"),
    ({"allowed_ips": ["fe80::1%eth0"]}, "allowed_ips.0", "invalid"),
    ({"allowed_ips": ["::ffff:0:0/96"]}, "allowed_ips.0", "invalid"),
    ({"allowed_ips": [""]}, "allowed_ips.0", "blank"),
    ({"allowed_ips": [7]}, "allowed_ips.0", "invalid"),
    ({"allowed_ips": ["1" * 65]}, "allowed_ips.0", "too_long"),
    ({"rate_limit": "fast"}, "rate_limit", "invalid"),
    ({"rate_limit": "0/minute"}, "rate_limit", "invalid"),
    ({"rate_limit": "5/month"}, "rate_limit", "invalid"),
    ({"rate_limit": "5/2 days"}, "rate_limit", "invalid"),
    ({"rate_limit": "5/minute;100/hour"}, "rate_limit", "invalid"),
    ({"rate_limit": "2000000/hour"}, "rate_limit", "invalid"),
    ({"rate_limit": 5}, "rate_limit", "invalid"),
    ({"rate_limit": ""}, "rate_limit", "blank"),
    ({"rate_limit": "5/" + "m" * 70}, "rate_limit", "too_long"),
]


@pytest.mark.parametrize(("extra", "attr", "code"), BAD_INPUT)
def test_bad_restrictions_are_refused_and_nothing_is_written(
    app, client, tokens, extra, attr, code
):
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(AuditEvent))
    r = client.post(
        URL,
        json={"name": "ci", "current_password": PASSWORD, "expires_in_days": 30, **extra},
        headers=bearer(tokens["access_token"]),
    )
    assert r.status_code == 400, r.get_json()
    err = error_of(r)
    assert (err["code"], err["attr"]) == (code, attr)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PrivateToken)) == 0
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == before


@pytest.mark.parametrize(
    ("extra", "attr", "code"),
    [b for b in BAD_INPUT if b[1] == "rate_limit"]
    + [({"allowed_ips": ["10.0.0.1"]}, "allowed_ips", "read_only")],
)
def test_bad_patches_are_refused_and_nothing_changes(app, client, tokens, extra, attr, code):
    key = create(client, tokens["access_token"], rate_limit="10/minute")
    r = client.patch(f"{URL}/{key['id']}", json=extra, headers=bearer(tokens["access_token"]))
    assert r.status_code == 400
    err = error_of(r)
    assert (err["code"], err["attr"]) == (code, attr)
    assert row(app, key["id"]).rate_limit == "10/minute"


def test_patch_sets_and_lifts_the_limit_and_rotation_keeps_both(app, client, tokens):
    access = tokens["access_token"]
    key = create(client, access, allowed_ips=["203.0.113.0/24"])
    r = client.patch(f"{URL}/{key['id']}", json={"rate_limit": "2/second"}, headers=bearer(access))
    assert r.status_code == 200 and r.get_json()["rate_limit"] == "2/second"
    rotated = client.post(
        f"{URL}/{key['id']}/rotate", json={"current_password": PASSWORD}, headers=bearer(access)
    ).get_json()
    assert rotated["allowed_ips"] == ["203.0.113.0/24"] and rotated["rate_limit"] == "2/second"
    claims = jwt.decode(rotated["token"], options={"verify_signature": False})
    assert claims["allowed_ips"] == ["203.0.113.0/24"]
    r = client.patch(f"{URL}/{rotated['id']}", json={"rate_limit": None}, headers=bearer(access))
    assert r.status_code == 200 and r.get_json()["rate_limit"] is None


# --- allowlists -----------------------------------------------------------------------------


ADDRESSES = [
    (["203.0.113.7"], "203.0.113.7", True),
    (["203.0.113.7"], "203.0.113.8", False),
    (["10.0.0.0/24"], "10.0.0.0", True),
    (["10.0.0.0/24"], "10.0.0.255", True),
    (["10.0.0.0/24"], "10.0.1.0", False),
    (["10.0.0.0/24"], "9.255.255.255", False),
    (["10.0.0.0/24"], "::ffff:10.0.0.9", True),  # an IPv4 client on a dual-stack socket
    (["2001:db8:1::/64"], "2001:db8:1::", True),
    (["2001:db8:1::/64"], "2001:db8:1:0:ffff:ffff:ffff:ffff", True),
    (["2001:db8:1::/64"], "2001:db8:1:1::", False),
    (["2001:db8::1"], "2001:0db8:0000::1", True),
    (["2001:db8::1"], "2001:db8::2", False),
    (["10.0.0.0/8", "2001:db8::/32"], "2001:db8:ffff::1", True),
    (["10.0.0.0/8"], "2001:db8::1", False),  # another family never matches
]


@pytest.mark.parametrize(("allowed", "addr", "ok"), ADDRESSES)
def test_the_allowlist_at_verify(app, client, tokens, allowed, addr, ok):
    key = create(client, tokens["access_token"], allowed_ips=allowed)
    r = client.get(VERIFY, headers={"X-API-Key": key["token"]}, environ_base={"REMOTE_ADDR": addr})
    if ok:
        assert r.status_code == 200, r.get_json()
    else:
        assert r.status_code == 403
        assert error_of(r)["code"] == "permission_denied"
        assert error_of(r)["extra"]["reason"] == "ip_not_allowed"


def test_a_refused_use_writes_only_one_audit_row_a_minute(frozen, app, client, tokens, user):
    key = create(client, tokens["access_token"], allowed_ips=["203.0.113.7"], rate_limit="5/minute")
    headers = {"X-API-Key": key["token"]}
    with Writes(app) as writes:
        for _ in range(5):
            r = client.get(VERIFY, headers=headers, environ_base=ELSEWHERE)
            assert r.status_code == 403
            assert r.get_json()["errors"][0]["extra"] == {
                "reason": "ip_not_allowed",
                "ip": "198.51.100.9",
            }
    assert len(writes) == 2, writes
    assert writes[0].startswith("UPDATE private_tokens SET refused_at")
    assert writes[1].startswith("INSERT INTO audit_events")
    stored = row(app, key["id"])
    assert stored.last_used_at is None and stored.last_used_ip is None
    (refused,) = refusals(app)
    assert refused.ip == "198.51.100.9" and refused.user_id == user.id
    assert refused.detail == {"token_id": key["id"], "jti": stored.jti, "reason": "ip_not_allowed"}
    with app.app_context():  # a refused address spends no budget
        assert db.session.scalar(select(func.count()).select_from(KeyUseCount)) == 0
    clock.advance(timedelta(seconds=61))
    assert client.get(VERIFY, headers=headers, environ_base=ELSEWHERE).status_code == 403
    assert len(refusals(app)) == 2
    r = client.get(VERIFY, headers=headers, environ_base=ALLOWED)
    assert r.status_code == 200
    assert row(app, key["id"]).last_used_ip == "203.0.113.7"


@pytest.mark.parametrize("route", ["check", "own", "introspect"])
def test_every_route_that_sees_the_key_refuses_it(app, client, admin, login, route):
    admin_access = login(admin)["access_token"]
    key = create(client, admin_access, allowed_ips=["203.0.113.7"], scopes=["read"])
    use = {"X-API-Key": key["token"]}

    def go(environ: dict[str, str]) -> Any:
        if route == "check":
            return client.get(f"{CHECK}/orders", headers=use, environ_base=environ)
        if route == "own":
            return client.get("/api/v1/users/me", headers=use, environ_base=environ)
        return client.post(
            INTROSPECT,
            json={"token": key["token"], "client_ip": environ["REMOTE_ADDR"]},
            headers=bearer(admin_access),
        )

    assert go(ALLOWED).status_code == 200
    r = go(ELSEWHERE)
    assert r.status_code == 403
    err = error_of(r)
    assert err["code"] == "permission_denied" and err["extra"]["reason"] == "ip_not_allowed"
    assert err["extra"].get("introspected", False) is (route == "introspect")


def test_introspection_without_client_ip_checks_the_callers_address(app, client, admin, login):
    admin_access = login(admin)["access_token"]
    key = create(client, admin_access, allowed_ips=["203.0.113.7"])
    body = {"token": key["token"]}
    r = client.post(INTROSPECT, json=body, headers=bearer(admin_access), environ_base=ALLOWED)
    assert r.status_code == 200 and r.get_json()["active"] is True
    r = client.post(INTROSPECT, json=body, headers=bearer(admin_access), environ_base=ELSEWHERE)
    assert r.status_code == 403
    r = client.post(INTROSPECT, json={**body, "client_ip": "nope"}, headers=bearer(admin_access))
    assert r.status_code == 400 and error_of(r)["attr"] == "client_ip"


@pytest.mark.parametrize(
    ("proxies", "peer", "forwarded", "ok"),
    [
        (1, "192.0.2.1", "203.0.113.7", True),  # through one trusted proxy
        (1, "192.0.2.1", "198.51.100.9, 203.0.113.7", True),  # the client's own entry ignored
        (1, "192.0.2.1", "203.0.113.7, 198.51.100.9", False),  # spoofed first entry ignored
        (0, "198.51.100.9", "203.0.113.7", False),  # no trusted proxy: the header is ignored
        (0, "203.0.113.7", "198.51.100.9", True),
    ],
)
def test_the_forwarded_address_counts_only_through_trusted_proxies(
    configure, proxies, peer, forwarded, ok
):
    c = configure(AUTHSVC_TRUSTED_PROXIES=proxies)
    user = c.make_user()
    key = create(c.client, c.login(user)["access_token"], allowed_ips=["203.0.113.7"])
    r = c.client.get(
        CHECK,
        headers={"X-API-Key": key["token"], "X-Forwarded-For": forwarded},
        environ_base={"REMOTE_ADDR": peer},
    )
    assert r.status_code == (200 if ok else 403), r.get_data()


def test_team_keys_are_restricted_alike(app, client, tokens):
    access = tokens["access_token"]
    team = client.post("/api/v1/teams", json={"name": "ops"}, headers=bearer(access)).get_json()
    key = create(
        client,
        access,
        url=f"/api/v1/teams/{team['id']}/private-tokens",
        allowed_ips=["203.0.113.0/24"],
        rate_limit="1/minute",
    )
    use = {"X-API-Key": key["token"]}
    assert client.get(VERIFY, headers=use, environ_base=ELSEWHERE).status_code == 403
    (refused,) = refusals(app)
    assert refused.type == "team.key_refused" and refused.detail["reason"] == "ip_not_allowed"
    assert client.get(VERIFY, headers=use, environ_base=ALLOWED).status_code == 200
    assert client.get(VERIFY, headers=use, environ_base=ALLOWED).status_code == 429


# --- rate limits ----------------------------------------------------------------------------


def _limit_five(clients: list[Any], token: str) -> None:
    """Six uses spread over `clients`: five answered with the budget left, the sixth 429."""
    for i in range(5):
        r = clients[i % len(clients)].get(VERIFY, headers={"X-API-Key": token})
        assert r.status_code == 200, r.get_json()
        assert r.headers["X-RateLimit-Limit"] == "5"
        assert r.headers["X-RateLimit-Remaining"] == str(4 - i)
    r = clients[5 % len(clients)].get(f"{CHECK}/x", headers={"X-API-Key": token})
    assert r.status_code == 429
    err = error_of(r)
    assert err["code"] == "rate_limited"
    retry = err["extra"]["retry_after"]
    assert r.headers["Retry-After"] == str(retry) and 1 <= retry <= 60


def test_a_limit_of_five_a_minute_across_two_apps_then_reset(frozen, app, client, tokens, make_app):
    key = create(client, tokens["access_token"], rate_limit="5/minute")
    other = make_app().test_client()
    _limit_five([client, other], key["token"])
    with Writes(app) as writes:  # a refusal within the minute changes nothing
        assert client.get(VERIFY, headers={"X-API-Key": key["token"]}).status_code == 429
    assert writes == ["INSERT INTO key_use_counts"]  # the conditional increment, a no-op
    with app.app_context():
        assert db.session.scalars(select(KeyUseCount.count)).all() == [5]
    (limited,) = refusals(app)  # audited once, however often it is refused
    assert limited.detail["reason"] == "rate_limited"
    stored = row(app, key["id"])
    clock.advance(timedelta(seconds=60))
    r = other.get(VERIFY, headers={"X-API-Key": key["token"]})
    assert r.status_code == 200 and r.headers["X-RateLimit-Remaining"] == "4"
    with app.app_context():  # one row per key and window; the old window is gone
        assert db.session.scalar(select(func.count()).select_from(KeyUseCount)) == 1
    assert stored.last_used_at is not None


def test_a_limit_in_redis(frozen, redis_target, configure):
    c = configure(AUTHSVC_REDIS_URL=redis_target.url, AUTHSVC_REDIS_PREFIX=redis_target.prefix)
    user = c.make_user()
    key = create(c.client, c.login(user)["access_token"], rate_limit="5/minute")
    _limit_five([c.client], key["token"])
    with c.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(KeyUseCount)) == 0
    clock.advance(timedelta(seconds=60))
    assert c.client.get(VERIFY, headers={"X-API-Key": key["token"]}).status_code == 200


def test_introspection_counts_and_answers_429(frozen, app, client, admin, login):
    admin_access = login(admin)["access_token"]
    key = create(client, admin_access, rate_limit="1/minute")
    body = {"token": key["token"]}
    assert client.post(INTROSPECT, json=body, headers=bearer(admin_access)).status_code == 200
    r = client.post(INTROSPECT, json=body, headers=bearer(admin_access))
    assert r.status_code == 429 and r.headers["Retry-After"] == "60"
    assert error_of(r)["extra"] == {"retry_after": 60, "introspected": True}
