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
