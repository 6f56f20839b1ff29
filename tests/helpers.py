"""What tests share that is not a fixture: constants, request helpers, small value types.

Fixtures live in `conftest.py`; everything a test imports by name lives here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, func, inspect, select, text

from authsvc.extensions import db


def count_rows(app: Flask, model: Any, *where: Any) -> int:
    """How many rows of `model` (matching `where`) are stored: what a refusal must not change."""
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


@contextmanager
def refusing_events(app: Flask, event_type: str) -> Iterator[None]:
    """The database refuses audit rows of `event_type` (and nothing else) while inside."""
    with app.app_context():
        postgres = db.engine.dialect.name == "postgresql"
        with db.engine.begin() as conn:
            if postgres:
                conn.execute(
                    text(
                        "ALTER TABLE audit_events ADD CONSTRAINT refused_event "
                        f"CHECK (type <> '{event_type}') NOT VALID"
                    )
                )
            else:
                conn.execute(
                    text(
                        "CREATE TRIGGER refused_event BEFORE INSERT ON audit_events "
                        f"WHEN NEW.type = '{event_type}' "
                        "BEGIN SELECT RAISE(ABORT, 'refused event'); END"
                    )
                )
    try:
        yield
    finally:
        with app.app_context(), db.engine.begin() as conn:
            if postgres:
                conn.execute(text("ALTER TABLE audit_events DROP CONSTRAINT refused_event"))
            else:
                conn.execute(text("DROP TRIGGER refused_event"))


PASSWORD = "quartz-Meadow-91-lantern"


SECRET = "test-instance-secret-0123456789-abcdefghijklmnop"


FAST_HASH = {"AUTHSVC_ARGON2_MEMORY_KIB": 256, "AUTHSVC_ARGON2_TIME_COST": 1}


T0 = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)


def empty_tables(url: str) -> None:
    """Delete every row the schema has, before a test's app starts: a test that built its own
    app over the shared database (a setting's test, say) may have left a key or a user."""
    engine = create_engine(url)
    try:
        present = set(inspect(engine).get_table_names())
        with engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                if table.name in present:
                    conn.execute(table.delete())
    finally:
        engine.dispose()


def empty_database(app: Flask) -> None:
    """Delete every row (children first) and close the app's pool: the next test starts clean."""
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
        db.engine.dispose()


@dataclass
class TestUser:
    __test__ = False
    id: str
    email: str
    password: str = PASSWORD


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def envelope(
    code: str, *, type: str = "client_error", attr: str | None = None, reason: str | None = None
) -> dict[str, Any]:
    """The parts of an error body every test asserts (detail is free text)."""
    return {
        "type": type,
        "code": code,
        "attr": attr,
        "extra": {"reason": reason} if reason else None,
    }


def error_of(response: Any) -> dict[str, Any]:
    body = response.get_json()
    assert set(body) == {"type", "errors"}, body
    assert len(body["errors"]) == 1, body
    (item,) = body["errors"]
    assert set(item) == {"code", "detail", "attr", "extra"} and item["detail"], item
    return {
        "type": body["type"],
        "code": item["code"],
        "attr": item["attr"],
        "extra": item["extra"],
    }


@dataclass
class TotpState:
    secret: str
    recovery_codes: list[str]
    access_token: str


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str
    env: dict[str, str]
    process: Any


def server_env(database_url: str, instance: Path, **env: str) -> dict[str, str]:
    """The environment of an authsvc process over the test database: this process's own
    minus its AUTHSVC_* settings, plus the secret and issuer every server of a test shares."""
    out = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSVC_")}
    out.update(
        {
            "AUTHSVC_DATABASE_URL": database_url,
            "AUTHSVC_SECRET_KEY": SECRET,
            "AUTHSVC_ISSUER": "http://authsvc.test",
            "AUTHSVC_INSTANCE_PATH": str(instance),
            **env,
        }
    )
    return out


def launch(command: list[str], *, port: int, cwd: Path, env: dict[str, str], log: Path) -> Server:
    """Start a server process and wait (30 s at most) until its /api/v1/health answers; a
    process that dies first raises with the tail of its log."""
    with open(log, "wb") as out:  # the process keeps its own copy of the descriptor
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", env, process)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(log.read_text()[-3000:])
        try:
            with urllib.request.urlopen(server.url + "/api/v1/health", timeout=1):
                return server
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{command[2]} did not start on port {port}")


def stop(servers: list[Server]) -> None:
    """SIGINT to all (gunicorn's quick shutdown, werkzeug's Ctrl-C), then wait or kill."""
    for server in servers:
        server.process.send_signal(signal.SIGINT)
    for server in servers:
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()


def http(
    method: str, url: str, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any] | None]:
    """A tiny JSON client for tests against real servers (stdlib only)."""
    import json
    import urllib.error
    import urllib.request

    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={
            **({"Content-Type": "application/json"} if data is not None else {}),
            **(headers or {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, json.loads(raw) if raw else None


@dataclass
class RedisTarget:
    url: str
    prefix: str


@dataclass
class Configured:
    app: Flask
    client: FlaskClient
    make_user: Callable[..., TestUser]
    login: Callable[..., dict[str, Any]]


CHROMIUM = os.environ.get("AUTHSVC_CHROMIUM", "/usr/bin/chromium")


@dataclass
class BrowserTab:
    page: Any
    url: str
    problems: list[str]

    def go(self, path: str) -> None:
        self.page.goto(self.url + path)


class FakeTime:
    """The verifier's clocks, moved by tests: wall time and monotonic time, both offset."""

    def __init__(self) -> None:
        self.offset = 0.0

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    def now(self) -> datetime:
        from datetime import timedelta

        return datetime.now(UTC) + timedelta(seconds=self.offset)

    def monotonic(self) -> float:
        import time

        return time.monotonic() + self.offset


@dataclass
class ResourceServer:
    url: str
    time: FakeTime
    app: Flask


@dataclass
class HostileTarget:
    """An app with open registration and raised limits, an admin (scopes `read write
    introspect`) and a plain user: what fuzzing and hostile tables aim at."""

    app: Flask
    client: FlaskClient
    admin: TestUser
    user: TestUser
    login: Callable[..., dict[str, Any]]


@dataclass
class HostileWorld:
    """Live credentials of every kind on a `HostileTarget`, and ids for routes that take one."""

    target: HostileTarget
    access: str  # the admin's (scopes read write introspect)
    refresh: str  # the admin's, of the same session
    private: str  # the admin's private token
    private_id: str
    user_id: str

    @property
    def client(self) -> FlaskClient:
        return self.target.client

    def path(self, template: str) -> str:
        return template.format(
            token_id=self.private_id,
            user_id=self.user_id,
            session_id="0" * 32,
            path="orders/42",
            team_id="0" * 32,  # no such team: refusals come before the lookup
            key_id="0" * 32,
        )
