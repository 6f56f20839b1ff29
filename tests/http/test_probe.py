"""The hot path's kept connections (services/probe.py): exact, and replaced when they break."""

from __future__ import annotations

from typing import Any

from flask import Flask

from authsvc.extensions import db
from authsvc.services import probe
from tests.helpers import bearer, envelope, error_of

VERIFY = "/api/v1/auth/verify"
LOGOUT = "/api/v1/auth/logout"
REFRESH = "/api/v1/auth/refresh"


def test_a_logout_on_another_host_is_refused_by_the_next_verify_here(
    app: Flask, make_app: Any, tokens: dict[str, Any]
) -> None:
    client = app.test_client()
    assert client.get(VERIFY, headers=bearer(tokens["access_token"])).status_code == 200
    other = make_app().test_client()  # its own engine and kept connections
    assert other.post(LOGOUT, headers=bearer(tokens["access_token"])).status_code == 204

    r = client.get(VERIFY, headers=bearer(tokens["access_token"]))

    assert r.status_code == 401
    assert error_of(r) == envelope("invalid_token", reason="revoked")


def test_a_refresh_on_another_host_makes_this_host_see_the_new_token(
    app: Flask, make_app: Any, tokens: dict[str, Any]
) -> None:
    client = app.test_client()
    other = make_app().test_client()
    rotated = other.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert rotated.status_code == 200

    r = client.post(REFRESH, json={"refresh_token": rotated.get_json()["refresh_token"]})

    assert r.status_code == 200


def test_a_broken_kept_connection_is_replaced(app: Flask, tokens: dict[str, Any]) -> None:
    client = app.test_client()
    assert client.get(VERIFY, headers=bearer(tokens["access_token"])).status_code == 200
    with app.app_context():
        kept = probe._kept(db.engine)
        assert kept.free, "the first verify left a connection kept"
        for fairy in kept.free:
            fairy.driver_connection.close()  # as a database restart would

    r = client.get(VERIFY, headers=bearer(tokens["access_token"]))

    assert r.status_code == 200 and r.get_json()["active"] is True


def test_write_alone_first_answers_the_row_its_write_made(app: Flask) -> None:
    """On PostgreSQL a SELECT over a data-modifying CTE in autocommit; on SQLite a `writing`
    transaction of its statement. Either way the row comes back typed and committed."""
    from sqlalchemy import bindparam, insert, literal, select

    from authsvc.core import clock
    from authsvc.models import RevokedToken

    table = RevokedToken.__table__
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            made = insert(table).values(
                jti=bindparam("jti"),
                revoked_at=bindparam("at"),
                expires_at=bindparam("at"),
                status_idx=bindparam("idx"),
            )
            stmt = select(made.returning(table.c.status_idx).cte("made").c.status_idx)
        else:
            stmt = select(literal(41).label("status_idx"))
        params = {"jti": "j" * 32, "at": clock.now(), "idx": 41}
        row = probe.write_alone_first(probe.Statement(stmt), params)
        assert row.status_idx == 41
        if db.engine.dialect.name == "postgresql":
            assert db.session.get(RevokedToken, "j" * 32) is not None
        db.session.remove()
