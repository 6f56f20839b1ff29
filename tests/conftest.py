"""Fixtures: an app per test over a migrated database, a client, users, and tokens.

SQLite by default. With AUTHSVC_TEST_DATABASE_URL set (PostgreSQL), the whole suite runs
against a fresh database created for this run and dropped after it.
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from authsvc import clock, create_app
from authsvc.extensions import db
from authsvc.services import Client
from authsvc.services import users as user_service

PASSWORD = "quartz-Meadow-91-lantern"
SECRET = "test-instance-secret-0123456789-abcdefghijklmnop"
FAST_HASH = {"AUTHSVC_ARGON2_MEMORY_KIB": 256, "AUTHSVC_ARGON2_TIME_COST": 1}
T0 = datetime(2026, 11, 22, 10, 0, 0, tzinfo=timezone.utc)


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = []
    pg = os.environ.get("AUTHSVC_TEST_DATABASE_URL")
    lines.append(f"authsvc database: {'PostgreSQL ' + make_url(pg).render_as_string() if pg else 'SQLite (AUTHSVC_TEST_DATABASE_URL unset: PostgreSQL tests skipped)'}")
    redis = os.environ.get("AUTHSVC_TEST_REDIS_URL")
    lines.append(f"authsvc redis: {redis or 'none (AUTHSVC_TEST_REDIS_URL unset: Redis tests skipped)'}")
    return lines


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database for this run: a SQLite file, or a fresh PostgreSQL database."""
    base = os.environ.get("AUTHSVC_TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'authsvc.sqlite3'}"
        return
    url = make_url(base).set(drivername="postgresql+psycopg")
    name = f"authsvc_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def config(database_url: str, tmp_path: Path) -> dict[str, Any]:
    """The test config; a test may change it before asking for `app`."""
    return {
        "TESTING": True,
        "AUTHSVC_DATABASE_URL": database_url,
        "AUTHSVC_SECRET_KEY": SECRET,
        "AUTHSVC_ISSUER": "http://authsvc.test",
        **FAST_HASH,
    }


@pytest.fixture
def app(config: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    monkeypatch.setenv("AUTHSVC_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app(config)
    yield app
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _real_clock() -> Iterator[None]:
    yield
    clock.unfreeze()


@pytest.fixture
def frozen() -> Iterator[datetime]:
    """Freeze the service clock at T0; move it with `clock.advance`."""
    clock.freeze(T0)
    yield T0
    clock.unfreeze()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@dataclass
class TestUser:
    id: str
    email: str
    password: str = PASSWORD


@pytest.fixture
def make_user(app: Flask) -> Callable[..., TestUser]:
    def make(email: str = "alice@example.com", password: str = PASSWORD, **kwargs: Any) -> TestUser:
        with app.app_context():
            user = user_service.create_user(email, password, client=Client(), **kwargs)
            return TestUser(user.id, user.email, password)

    return make


@pytest.fixture
def user(make_user: Callable[..., TestUser]) -> TestUser:
    return make_user()


@pytest.fixture
def admin(make_user: Callable[..., TestUser]) -> TestUser:
    return make_user("root@example.com", is_admin=True, scopes=["read", "write", "introspect"])


@pytest.fixture
def login(client: FlaskClient) -> Callable[..., dict[str, Any]]:
    """Log in through the API and return the token pair (asserting success)."""

    def do(who: TestUser, **extra: Any) -> dict[str, Any]:
        response = client.post("/api/v1/auth/login",
                               json={"email": who.email, "password": who.password, **extra})
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    return do


@pytest.fixture
def tokens(user: TestUser, login: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """A logged-in token pair for `user`."""
    return login(user)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def envelope(code: str, *, type: str = "client_error", attr: str | None = None,
             reason: str | None = None) -> dict[str, Any]:
    """The parts of an error body every test asserts (detail is free text)."""
    return {"type": type, "code": code, "attr": attr,
            "extra": {"reason": reason} if reason else None}


def error_of(response: Any) -> dict[str, Any]:
    body = response.get_json()
    assert set(body) == {"type", "errors"}, body
    assert len(body["errors"]) == 1, body
    (item,) = body["errors"]
    assert set(item) == {"code", "detail", "attr", "extra"} and item["detail"], item
    return {"type": body["type"], "code": item["code"], "attr": item["attr"], "extra": item["extra"]}
