"""The envelope from every corner: Flask's own 404/405/413/415/500, bad JSON, outages."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from authsvc.extensions import db
from authsvc.models import LoginSession
from authsvc.services import probe
from tests.helpers import PASSWORD, envelope, error_of

LOGIN = "/api/v1/auth/login"


def test_unknown_route_is_404_envelope(client):
    r = client.get("/api/v1/nothing-here")
    assert r.status_code == 404 and error_of(r) == envelope("not_found")
    assert r.content_type == "application/json"


def test_wrong_method_is_405_envelope_with_allow(client):
    r = client.get(LOGIN)
    assert r.status_code == 405 and error_of(r) == envelope("method_not_allowed")
    assert "POST" in r.headers["Allow"]


def test_body_over_the_limit_is_413(app, client, user):
    r = client.post(
        LOGIN, data=b'{"email": "' + b"a" * (64 * 1024) + b'"}', content_type="application/json"
    )
    assert r.status_code == 413 and error_of(r) == envelope("too_large")


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
    ],
)
def test_non_json_body_is_415(app, client, user, content_type):
    r = client.post(
        LOGIN, data=f"email={user.email}&password={PASSWORD}", content_type=content_type
    )
    assert r.status_code == 415 and error_of(r) == envelope("unsupported_media_type")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LoginSession)) == 0


@pytest.mark.parametrize(
    "body",
    [b"{", b'{"email": }', b"\xff\xfe", b"[" * 5000 + b"]" * 5000, b'{"a": NaN, "b": Infinity'],
)
def test_malformed_json_is_parse_error(client, body):
    r = client.post(LOGIN, data=body, content_type="application/json")
    assert r.status_code == 400 and error_of(r) == envelope("parse_error")


@pytest.mark.parametrize("body", [b"[]", b'"text"', b"42", b"null"])
def test_json_that_is_not_an_object_is_400(client, body):
    r = client.post(LOGIN, data=body, content_type="application/json")
    assert r.status_code == 400
    assert r.get_json()["type"] == "validation_error"


def test_empty_body_means_missing_fields(client):
    r = client.post(LOGIN)
    assert r.status_code == 400
    assert {e["code"] for e in r.get_json()["errors"]} == {"required"}


def test_unknown_fields_are_ignored(client, user):
    r = client.post(LOGIN, json={"email": user.email, "password": PASSWORD, "admin": True})
    assert r.status_code == 200


@pytest.fixture
def crash_route(app):
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/api/v1/test-crash")
    def crash():
        with db.session.begin_nested():
            db.session.add(LoginSession(id="x" * 32, user_id="nobody"))
        raise RuntimeError("secret internal detail")

    return app


def test_unexpected_fault_is_500_and_says_nothing(crash_route, client):
    r = crash_route.test_client().get("/api/v1/test-crash")
    assert r.status_code == 500
    assert error_of(r) == envelope("server_error", type="server_error")
    assert b"secret internal detail" not in r.data and b"Traceback" not in r.data
    with crash_route.app_context():
        assert db.session.scalar(select(func.count()).select_from(LoginSession)) == 0


def test_storage_outage_is_503_never_success(app, client, user, monkeypatch):
    def down(*args, **kwargs):
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(db.session, "execute", down)
    with app.app_context():
        monkeypatch.setattr(db.session, "execute", down)
        monkeypatch.setattr(db.session, "scalar", down)
        monkeypatch.setattr(db.session, "scalars", down)
    # and the kept driver connections, where a login reads and writes
    monkeypatch.setattr(probe._Kept, "take", down)
    for response in (
        client.get("/api/v1/health"),
        client.post(LOGIN, json={"email": user.email, "password": PASSWORD}),
    ):
        assert response.status_code == 503
        assert error_of(response) == envelope("service_unavailable", type="server_error")
