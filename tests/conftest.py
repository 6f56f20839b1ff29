"""Fixtures: an app per test over a migrated database, a client, users, and tokens.

SQLite by default. With AUTHSVC_TEST_DATABASE_URL set (PostgreSQL), the whole suite runs
against a fresh database created for this run and dropped after it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from authsvc import create_app
from authsvc.core import clock
from authsvc.core.principal import Client
from authsvc.extensions import db
from authsvc.services import users as user_service
from tests.helpers import (
    CHROMIUM,
    FAST_HASH,
    PASSWORD,
    SECRET,
    T0,
    BrowserTab,
    Configured,
    FakeTime,
    HostileTarget,
    HostileWorld,
    RedisTarget,
    ResourceServer,
    Server,
    TestUser,
    TotpState,
    bearer,
    empty_database,
    empty_tables,
    free_port,
    launch,
    server_env,
    stop,
)


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = []
    pg = os.environ.get("AUTHSVC_TEST_DATABASE_URL")
    lines.append(
        f"authsvc database: {'PostgreSQL ' + make_url(pg).render_as_string() if pg else 'SQLite (AUTHSVC_TEST_DATABASE_URL unset: PostgreSQL tests skipped)'}"
    )
    redis = os.environ.get("AUTHSVC_TEST_REDIS_URL")
    lines.append(
        f"authsvc redis: {redis or 'none (AUTHSVC_TEST_REDIS_URL unset: Redis tests skipped)'}"
    )
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
def refresh_window() -> int | None:
    """AUTHSVC_REFRESH_REUSE_WINDOW for the test (None: the default, 10 s).

    Tests of strict single use parametrize it: `@pytest.mark.parametrize("refresh_window", [0])`.
    """
    return None


@pytest.fixture
def config(database_url: str, tmp_path: Path, refresh_window: int | None) -> dict[str, Any]:
    """The test config; a test may change it before asking for `app`."""
    return {
        "TESTING": True,
        "AUTHSVC_DATABASE_URL": database_url,
        "AUTHSVC_SECRET_KEY": SECRET,
        "AUTHSVC_ISSUER": "http://authsvc.test",
        **FAST_HASH,
        **({} if refresh_window is None else {"AUTHSVC_REFRESH_REUSE_WINDOW": refresh_window}),
    }


@pytest.fixture
def app(config: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    monkeypatch.setenv("AUTHSVC_INSTANCE_PATH", str(tmp_path / "instance"))
    empty_tables(config["AUTHSVC_DATABASE_URL"])
    app = create_app(config)
    yield app
    empty_database(app)


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
        response = client.post(
            "/api/v1/auth/login", json={"email": who.email, "password": who.password, **extra}
        )
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    return do


@pytest.fixture
def tokens(user: TestUser, login: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """A logged-in token pair for `user`."""
    return login(user)


# --- two-factor login (issue 5) ---


@pytest.fixture
def enable_totp(
    client: FlaskClient, login: Callable[..., dict[str, Any]]
) -> Callable[[TestUser], TotpState]:
    """Turn TOTP on for a user through the API, at the service clock's current time."""
    import pyotp

    def enable(who: TestUser) -> TotpState:
        access = login(who)["access_token"]
        r = client.post(
            "/api/v1/auth/totp/setup",
            headers=bearer(access),
            json={"current_password": who.password},
        )
        assert r.status_code == 200, r.get_json()
        secret = r.get_json()["secret"]
        r = client.post(
            "/api/v1/auth/totp/enable",
            headers=bearer(access),
            json={
                "current_password": who.password,
                "totp_code": pyotp.TOTP(secret).at(clock.now()),
            },
        )
        assert r.status_code == 200, r.get_json()
        return TotpState(secret, r.get_json()["recovery_codes"], access)

    return enable


@pytest.fixture
def totp_user(
    frozen: datetime, user: TestUser, enable_totp: Callable[[TestUser], TotpState]
) -> TotpState:
    """`user` with TOTP on, enabled five minutes before T0; the clock is left at T0."""
    from datetime import timedelta

    clock.freeze(frozen - timedelta(minutes=5))
    state = enable_totp(user)
    clock.freeze(frozen)
    return state


# --- real processes on loopback ports (issues 7, 8) ---


@pytest.fixture
def serve(database_url: str, tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start authsvc under gunicorn on a free loopback port, over the test database.

    Every server of one test shares the database, the instance secret and the issuer,
    as hosts behind one load balancer do. Waits (bounded) until /api/v1/health answers.
    """
    import sys

    started: list[Server] = []
    root = Path(__file__).resolve().parent.parent

    def start(workers: int = 1, **env: str) -> Server:
        port = free_port()
        environment = server_env(
            database_url,
            tmp_path / f"instance-{port}",
            AUTHSVC_BIND=f"127.0.0.1:{port}",
            WEB_CONCURRENCY=str(workers),
            PROMETHEUS_MULTIPROC_DIR=str(tmp_path / f"metrics-{port}"),
            **env,
        )
        os.makedirs(environment["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(root / "gunicorn.conf.py"),
            "wsgi:app",
        ]
        server = launch(
            command, port=port, cwd=root, env=environment, log=tmp_path / f"server-{port}.log"
        )
        started.append(server)
        return server

    yield start
    stop(started)


# --- accounts, audit log and abuse limits (issue 6) ---


@pytest.fixture
def admin_token(admin: TestUser, login: Callable[..., dict[str, Any]]) -> str:
    """An access token of `admin`."""
    return login(admin)["access_token"]


@pytest.fixture
def redis_target() -> Iterator[RedisTarget]:
    """The real Redis at AUTHSVC_TEST_REDIS_URL and a key prefix of this test's own.

    Skips when the variable is unset; deletes only keys holding that prefix afterwards.
    """
    url = os.environ.get("AUTHSVC_TEST_REDIS_URL")
    if not url:
        pytest.skip(
            "AUTHSVC_TEST_REDIS_URL is unset: the Redis-backed limit tests need a real "
            "Redis (.ci/run sets it to redis://127.0.0.1:6379/15)"
        )
    import redis

    target = RedisTarget(url, f"authsvc-test-{uuid.uuid4().hex}:")
    conn = redis.Redis.from_url(url)
    yield target
    for key in conn.scan_iter(match=f"*{target.prefix}*"):
        conn.delete(key)
    conn.close()


@pytest.fixture
def make_app(app: Flask, config: dict[str, Any]) -> Iterator[Callable[..., Flask]]:
    """More apps over `app`'s database and instance folder (as more workers or hosts would be)."""
    made: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        extra = create_app({**config, **overrides})
        made.append(extra)
        return extra

    yield make
    for extra in made:
        with extra.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def configure(config: dict[str, Any], request: pytest.FixtureRequest) -> Callable[..., Configured]:
    """`configure(AUTHSVC_X=...)` sets config, then builds `app` and what hangs off it.

    For settings that must be in place before the app starts: do not also request `app`,
    `client` or a user fixture in the test's arguments (they would build the app first).
    """

    def build(**overrides: Any) -> Configured:
        config.update(overrides)
        return Configured(
            *(request.getfixturevalue(name) for name in ("app", "client", "make_user", "login"))
        )

    return build


# --- web console in a real browser (issue 9) ---

# Debian's Chromium on a machine with no outside network: no first-run, sync or updater traffic.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """`app` served by werkzeug on a free loopback port, in a thread: what a browser talks to."""
    import threading

    from werkzeug.serving import WSGIRequestHandler, make_server

    class QuietHandler(WSGIRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            """The app's own access log already records every request."""

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="console-live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (never a downloaded browser); one per worker."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} not found: apt-get install chromium")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright not installed: pip install -e '.[test]'"
    )
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def tab(chromium: Any, live_server: str) -> Iterator[BrowserTab]:
    """A fresh browser context (no cookies) with clipboard access, on the live server.

    Uncaught script errors and Content-Security-Policy violations are collected and fail
    the test at teardown: the console must run under its policy without complaint.
    """
    context = chromium.new_context(base_url=live_server, viewport={"width": 1280, "height": 800})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server)
    context.set_default_timeout(10_000)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda msg: (
            problems.append(f"console: {msg.text}")
            if "Content Security Policy" in msg.text
            else None
        ),
    )
    yield BrowserTab(page, live_server, problems)
    context.close()
    assert not problems, problems


# --- verification for other services (issue 7) ---


@pytest.fixture
def resource_server() -> Iterator[Callable[..., ResourceServer]]:
    """`examples/resource_server.py` served by werkzeug on a free loopback port, in a thread.

    `start(authsvc_url, introspect_token, issuer=...)`; its verifier reads the clocks of
    the returned `time`, so a test moves past an expiry or a cache lifetime without sleeping.
    """
    import threading

    from werkzeug.serving import WSGIRequestHandler, make_server

    from examples import resource_server as example

    class QuietHandler(WSGIRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:
            """Tests read statuses, not access lines."""

    running: list[tuple[Any, threading.Thread]] = []

    def start(authsvc_url: str, introspect_token: str, **options: Any) -> ResourceServer:
        fake = FakeTime()
        rs_app = example.create_app(
            authsvc_url,
            introspect_token=introspect_token,
            now=fake.now,
            monotonic=fake.monotonic,
            **options,
        )
        server = make_server("127.0.0.1", 0, rs_app, threaded=True, request_handler=QuietHandler)
        thread = threading.Thread(target=server.serve_forever, name="resource-server", daemon=True)
        thread.start()
        running.append((server, thread))
        return ResourceServer(f"http://127.0.0.1:{server.server_port}", fake, rs_app)

    yield start
    for server, thread in running:
        server.shutdown()
        thread.join(timeout=10)


# --- hostile input and faults (issue 10) ---

# Limits raised so that thousands of fuzzed logins from one address are answered, not
# throttled; the limits themselves are tested in test_limits.py.
UNTHROTTLED = {"AUTHSVC_ADDRESS_RATE": "1000000 per minute", "AUTHSVC_LOGIN_FAILURES": 1000000}


@pytest.fixture
def hostile_target(configure: Callable[..., Configured]) -> HostileTarget:
    built = configure(AUTHSVC_OPEN_REGISTRATION=True, **UNTHROTTLED)
    admin = built.make_user(
        "root@example.com", is_admin=True, scopes=["read", "write", "introspect"]
    )
    return HostileTarget(built.app, built.client, admin, built.make_user(), built.login)


@pytest.fixture(scope="module")
def hostile_world(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HostileWorld]:
    """A `HostileTarget` and its credentials, one per test module.

    For tables of requests that must write nothing: hundreds of rows share one app, and
    each row checks that the database is as it found it.
    """
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUTHSVC_INSTANCE_PATH", str(tmp_path_factory.mktemp("hostile") / "instance"))
        app = create_app(
            {
                "TESTING": True,
                "AUTHSVC_DATABASE_URL": database_url,
                "AUTHSVC_SECRET_KEY": SECRET,
                "AUTHSVC_ISSUER": "http://authsvc.test",
                "AUTHSVC_OPEN_REGISTRATION": True,
                **FAST_HASH,
                **UNTHROTTLED,
            }
        )
    with app.app_context():
        admin = user_service.create_user(
            "root@example.com",
            PASSWORD,
            client=Client(),
            is_admin=True,
            scopes=["read", "write", "introspect"],
        )
        user = user_service.create_user("alice@example.com", PASSWORD, client=Client())
        admin_user, plain_user = TestUser(admin.id, admin.email), TestUser(user.id, user.email)
    client = app.test_client()

    def login(who: TestUser, **extra: Any) -> dict[str, Any]:
        r = client.post(
            "/api/v1/auth/login", json={"email": who.email, "password": who.password, **extra}
        )
        assert r.status_code == 200, r.get_json()
        return r.get_json()

    pair = login(admin_user)
    r = client.post(
        "/api/v1/private-tokens",
        headers=bearer(pair["access_token"]),
        json={"name": "ci", "expires_in_days": 30, "current_password": PASSWORD},
    )
    assert r.status_code == 201, r.get_json()
    yield HostileWorld(
        HostileTarget(app, client, admin_user, plain_user, login),
        pair["access_token"],
        pair["refresh_token"],
        r.get_json()["token"],
        r.get_json()["id"],
        plain_user.id,
    )
    empty_database(app)
