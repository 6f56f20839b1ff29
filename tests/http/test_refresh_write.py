"""The rotation's write (sessions._rotate): on PostgreSQL one statement, the compare-and-swap and
its audit event together (WITH rotated AS (UPDATE ...) INSERT ...); on SQLite one BEGIN
IMMEDIATE transaction of the two. Either way both are written or neither, and the pair is
signed with the key that signs now, read with the session's state."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from authsvc.extensions import db
from authsvc.models import AuditEvent, LoginSession
from tests.helpers import refusing_events

REFRESH = "/api/v1/auth/refresh"


def chain(app: Flask) -> list[tuple[Any, ...]]:
    with app.app_context():
        rows = db.session.execute(
            select(
                LoginSession.id,
                LoginSession.refresh_jti,
                LoginSession.previous_refresh_jti,
                LoginSession.rotated_at,
            ).order_by(LoginSession.id)
        ).all()
        db.session.remove()
    return [tuple(row) for row in rows]


def refreshed_events(app: Flask) -> int:
    with app.app_context():
        count = len(
            db.session.scalars(
                select(AuditEvent.id).where(AuditEvent.type == "token.refreshed")
            ).all()
        )
        db.session.remove()
    return count


def test_a_refused_audit_event_undoes_the_rotation(app: Flask, tokens: dict[str, Any]) -> None:
    before = chain(app)
    with refusing_events(app, "token.refreshed"), pytest.raises(IntegrityError):
        app.test_client().post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert chain(app) == before, "the swap was kept without its audit event"
    assert refreshed_events(app) == 0

    r = app.test_client().post(REFRESH, json={"refresh_token": tokens["refresh_token"]})

    assert r.status_code == 200, r.get_json()
    assert refreshed_events(app) == 1
    assert chain(app) != before


def test_a_rotation_writes_one_event_and_moves_the_chain_once(
    app: Flask, tokens: dict[str, Any]
) -> None:
    client = app.test_client()
    ((_, jti, _, _),) = chain(app)
    r = client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 200
    new = jwt.decode(r.get_json()["refresh_token"], options={"verify_signature": False})
    ((_, current, previous, rotated_at),) = chain(app)
    assert (current, previous) == (new["jti"], jti) and rotated_at is not None
    assert refreshed_events(app) == 1


def test_the_pair_is_signed_by_the_key_that_signs_now(
    app: Flask, runner: Any, tokens: dict[str, Any]
) -> None:
    """The kid read with the session's state (not by a query of its own) follows a rotation."""
    client = app.test_client()

    def kids(pair: dict[str, Any]) -> set[str]:
        return {
            jwt.get_unverified_header(pair[k])["kid"] for k in ("access_token", "refresh_token")
        }

    first = client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]}).get_json()
    (old_kid,) = kids(first)
    assert runner.invoke(args=["keys", "rotate", "--now"]).exit_code == 0

    second = client.post(REFRESH, json={"refresh_token": first["refresh_token"]}).get_json()
    replay = client.post(REFRESH, json={"refresh_token": first["refresh_token"]}).get_json()

    (new_kid,) = kids(second)
    assert new_kid != old_kid
    assert kids(replay) == {new_kid}  # the same successor, signed again by the key of now


def test_a_key_revoked_on_another_host_refuses_its_refresh_tokens_here(
    app: Flask, make_app: Any, tokens: dict[str, Any]
) -> None:
    """The key is taken as this process opened it; its state is read with the session's."""
    client = app.test_client()
    first = client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]}).get_json()
    kid = jwt.get_unverified_header(first["refresh_token"])["kid"]  # opened and cached here
    other = make_app()
    assert other.test_cli_runner().invoke(args=["keys", "revoke", "--", kid]).exit_code == 0
    before, events = chain(app), refreshed_events(app)

    r = client.post(REFRESH, json={"refresh_token": first["refresh_token"]})

    assert r.status_code == 401
    assert r.get_json()["errors"][0]["extra"]["reason"] == "unknown_key"
    assert chain(app) == before and refreshed_events(app) == events
