"""Faults: storage failing mid-request, and a server killed with SIGKILL under load.

Storage that fails answers `503 service_unavailable` in the envelope, never a success,
and hands out no token whose session was not stored. The failures are real, not mocks:
on SQLite a second app opens the same database file read-only (`mode=ro`), so reads
work and the first write of the request fails; on PostgreSQL the app's own backend is
terminated with `pg_terminate_backend` at the moment the request commits (or runs a
chosen statement). The machine's PostgreSQL service is never stopped.

The crash test kills gunicorn's master and workers with SIGKILL while a load of logins,
refreshes and revocations runs, restarts it on the same database, and checks that every
change that was answered with a success before the kill is still in force.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.client import HTTPException
from pathlib import Path
from typing import Any

import jwt
import pytest
from flask import Flask
from sqlalchemy import create_engine, event, func, select, text

from authsvc.extensions import db
from authsvc.models import LoginSession, PrivateToken, RevokedToken
from tests.helpers import PASSWORD, Server, TestUser, bearer, envelope, error_of, http

LOGIN, REFRESH, REVOKE = "/api/v1/auth/login", "/api/v1/auth/refresh", "/api/v1/auth/revoke"
PRIVATE_TOKENS, HEALTH, VERIFY = "/api/v1/private-tokens", "/api/v1/health", "/api/v1/auth/verify"
UNAVAILABLE = envelope("service_unavailable", type="server_error")


def on_postgresql(app: Flask) -> bool:
    with app.app_context():
        return db.engine.dialect.name == "postgresql"


def stored(app: Flask) -> dict[str, int]:
    with app.app_context():
        counts = {
            model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
            for model in (LoginSession, RevokedToken, PrivateToken)
        }
        counts["live sessions"] = db.session.scalar(
            select(func.count()).select_from(LoginSession).where(LoginSession.revoked_at.is_(None))
        )
        # every session's refresh chain: a rotation or a replay claim changes it
        counts["refresh chains"] = sorted(
            map(
                tuple,
                db.session.execute(  # type: ignore[assignment]
                    select(
                        LoginSession.id,
                        LoginSession.refresh_jti,
                        LoginSession.previous_refresh_jti,
                        LoginSession.replay_recorded,
                        LoginSession.reuse_recorded_at,
                    )
                ).all(),
            )
        )
        db.session.remove()
    return counts


# --- breaking storage for real -------------------------------------------------------------


@contextmanager
def terminated_at(app: Flask, moment: Callable[[str], bool]) -> Iterator[list[str]]:
    """PostgreSQL: while inside, terminate the app's backend when `moment(statement)` holds.

    `statement` is the SQL about to run, or "COMMIT" when the transaction is about to
    commit. The backend is killed from another connection with pg_terminate_backend,
    as an operator or a failover would, so the app's statement meets a dead server.
    """
    with app.app_context():
        engine = db.engine
    admin = create_engine(engine.url, isolation_level="AUTOCOMMIT")
    killed: list[str] = []

    def kill(conn: Any, statement: str) -> None:
        if moment(statement) and not killed:
            pid = conn.connection.dbapi_connection.info.backend_pid
            with admin.connect() as other:
                assert other.execute(
                    text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}
                ).scalar()
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:  # the kill is asynchronous: wait until it took
                with admin.connect() as other:
                    if not other.execute(
                        text("SELECT 1 FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
                    ).first():
                        break
                time.sleep(0.01)
            killed.append(statement)

    def before_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        kill(conn, statement)

    def before_commit(conn: Any) -> None:
        kill(conn, "COMMIT")

    event.listen(engine, "before_cursor_execute", before_execute)
    event.listen(engine, "commit", before_commit)
    try:
        yield killed
    finally:
        event.remove(engine, "before_cursor_execute", before_execute)
        event.remove(engine, "commit", before_commit)
        admin.dispose()


@contextmanager
def connections_refused(app: Flask) -> Iterator[list[int]]:
    """PostgreSQL: while inside, the app's database refuses new connections and every
    backend it had is terminated, as a server gone away would be; the pids terminated."""
    with app.app_context():
        url = db.engine.url
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as other:
        other.execute(text(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS false'))
        pids = list(
            other.execute(
                text("SELECT pid FROM pg_stat_activity WHERE datname = :name"),
                {"name": url.database},
            ).scalars()
        )
        terminate(other, pids)
    try:
        yield pids
    finally:
        with admin.connect() as other:
            other.execute(text(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS true'))
        admin.dispose()


def read_only_twin(app: Flask, make_app: Callable[..., Flask]) -> Flask:
    """Another app (another host) on the same database, whose every write is refused: the
    SQLite file opened read-only, or PostgreSQL sessions with read-only transactions."""
    with app.app_context():
        url = db.engine.url
    if url.get_backend_name() == "postgresql":
        ro = url.update_query_dict({"options": "-c default_transaction_read_only=on"})
        return make_app(AUTHSVC_DATABASE_URL=ro.render_as_string(hide_password=False))
    return make_app(AUTHSVC_DATABASE_URL=f"sqlite:///file:{url.database}?mode=ro&uri=true")


def unreachable_twin(app: Flask, make_app: Callable[..., Flask], tmp_path: Path) -> Flask:
    """SQLite: an app on a copy of the database whose volume then goes away."""
    volume = tmp_path / "volume"
    volume.mkdir()
    with app.app_context():
        source = sqlite3.connect(db.engine.url.database)
    copy = sqlite3.connect(volume / "authsvc.sqlite3")
    source.backup(copy)
    source.close()
    copy.close()
    twin = make_app(
        AUTHSVC_DATABASE_URL=f"sqlite:///file:{volume / 'authsvc.sqlite3'}?mode=ro&uri=true"
    )
    with twin.app_context():
        db.engine.dispose()
    shutil.rmtree(volume)  # no connection can be opened from now on
    return twin


@dataclass
class Broken:
    """An app whose storage fails mid-request, and what did fail."""

    app: Flask
    failures: list[str] = field(default_factory=list)


@contextmanager
def failing_writes(app: Flask, make_app: Callable[..., Flask]) -> Iterator[Broken]:
    """An app over `app`'s database whose first write of each request fails for real.

    SQLite: the read-only twin. PostgreSQL: the backend is terminated as the request
    commits.
    """
    if not on_postgresql(app):
        twin = read_only_twin(app, make_app)
        yield Broken(twin, ["read-only"])
        return
    with terminated_at(app, lambda statement: statement == "COMMIT") as killed:
        yield Broken(app, killed)


def assert_unavailable(r: Any) -> None:
    assert r.status_code == 503, (r.status_code, r.get_json())
    assert error_of(r) == UNAVAILABLE
    assert "token" not in r.get_data(as_text=True)


def lose_kept_connections(app: Flask) -> list[int]:
    """PostgreSQL: terminate the backends of the driver connections `services.probe` keeps
    (the writes of a login and a refresh run on them, out of reach of the engine events
    `terminated_at` listens to), as a failover would; their pids."""
    from authsvc.services import probe

    with app.app_context():
        engine = db.engine
    admin = create_engine(engine.url, isolation_level="AUTOCOMMIT")
    pids = [f.driver_connection.info.backend_pid for f in probe._kept(engine).free]
    try:
        with admin.connect() as other:
            terminate(other, pids)
    finally:
        admin.dispose()
    return pids


def terminate(other: Any, pids: list[int]) -> None:
    """Terminate the backends `pids` from the connection `other`; wait (bounded) until gone."""
    for pid in pids:
        other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    deadline = time.monotonic() + 5
    while (
        time.monotonic() < deadline
        and other.execute(
            text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:pids)"), {"pids": pids}
        ).scalar()
    ):
        time.sleep(0.01)


# --- storage failing mid-request -------------------------------------------------------------


def test_login_fails_whole_and_hands_out_no_token(app, make_app, user, monkeypatch):
    """SQLite: storage that refuses writes. PostgreSQL: the session and its event are one
    statement on a kept connection (sessions._open_recorded), whose backend is terminated
    after the password check; not retried, so 503 and nothing written."""
    before = stored(app)
    if on_postgresql(app):
        from authsvc.services import sessions

        real_new_session, killed = sessions.new_session, []

        def new_session_then_lose_the_connections(*args: Any, **kwargs: Any) -> Any:
            row = real_new_session(*args, **kwargs)
            killed.extend(lose_kept_connections(app))
            return row

        monkeypatch.setattr(sessions, "new_session", new_session_then_lose_the_connections)
        r = app.test_client().post(LOGIN, json={"email": user.email, "password": PASSWORD})
        monkeypatch.undo()
        assert killed, "no kept connection was there to lose"
    else:
        with failing_writes(app, make_app) as broken:
            r = broken.app.test_client().post(
                LOGIN, json={"email": user.email, "password": PASSWORD}
            )
        assert broken.failures, "the storage did not fail"
    assert_unavailable(r)
    assert stored(app) == before
    assert (
        app.test_client().post(LOGIN, json={"email": user.email, "password": PASSWORD}).status_code
        == 200
    )


def test_refresh_fails_whole_and_the_old_refresh_token_still_works(app, make_app, tokens):
    # The rotation is written on a driver connection (services/probe.py), out of reach of the
    # engine events `terminated_at` listens to: storage that refuses writes stands in for it.
    before = stored(app)
    broken = read_only_twin(app, make_app)
    r = broken.test_client().post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert_unavailable(r)
    assert stored(app) == before
    r = app.test_client().post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 200, r.get_json()


def test_refresh_whose_connection_dies_before_the_rotation_is_503_and_writes_nothing(
    app, make_app, tokens, monkeypatch
):
    """PostgreSQL: the swap and its audit event are one statement on a kept connection
    (sessions._rotate); its backend is terminated between the state read and that statement.
    The statement is not retried (a reply lost after the commit looks the same), so the
    answer is 503, nothing is written, and the old refresh token still rotates."""
    if not on_postgresql(app):
        pytest.skip("SQLite has no connection to lose: the read-only twin test covers it")
    from authsvc.services import sessions

    real_mint = sessions.mint
    killed: list[int] = []

    def mint_then_lose_the_connections(*args: Any, **kwargs: Any) -> Any:
        pair = real_mint(*args, **kwargs)  # after the state read, before the write
        killed.extend(lose_kept_connections(app))
        return pair

    before = stored(app)
    monkeypatch.setattr(sessions, "mint", mint_then_lose_the_connections)
    try:
        r = app.test_client().post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    finally:
        monkeypatch.undo()
    assert killed, "no kept connection was there to lose"
    assert_unavailable(r)
    assert stored(app) == before
    r = app.test_client().post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 200, r.get_json()


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_revoke_that_was_not_stored_is_not_answered_as_done(app, make_app, tokens, kind):
    before = stored(app)
    with failing_writes(app, make_app) as broken:
        r = broken.app.test_client().post(REVOKE, json={"token": tokens[kind]})
    assert broken.failures
    assert_unavailable(r)  # a client told 200 would throw away a token that still works
    assert stored(app) == before
    client = app.test_client()
    assert client.get(VERIFY, headers=bearer(tokens["access_token"])).status_code == 200
    assert client.post(REVOKE, json={"token": tokens[kind]}).status_code == 200
    r = client.get(VERIFY, headers=bearer(tokens["access_token"]))
    assert r.status_code == 401 and error_of(r) == envelope("invalid_token", reason="revoked")


def test_private_token_create_fails_whole_and_shows_no_token(app, make_app, tokens):
    client = app.test_client()
    assert client.get(VERIFY, headers=bearer(tokens["access_token"])).status_code == 200
    before = stored(app)
    with failing_writes(app, make_app) as broken:
        r = broken.app.test_client().post(
            PRIVATE_TOKENS,
            headers=bearer(tokens["access_token"]),
            json={"name": "ci", "expires_in_days": 30, "current_password": PASSWORD},
        )
    assert broken.failures
    assert_unavailable(r)
    assert stored(app) == before
    assert client.get(PRIVATE_TOKENS, headers=bearer(tokens["access_token"])).get_json() == {
        "items": []
    }


def test_health_is_503_when_storage_cannot_be_reached(app, make_app, tmp_path):
    if on_postgresql(app):
        with terminated_at(
            app, lambda statement: statement.strip().upper() == "SELECT 1"
        ) as killed:
            r = app.test_client().get(HEALTH)
        assert killed
    else:
        twin = unreachable_twin(app, make_app, tmp_path)
        r = twin.test_client().get(HEALTH)
    assert r.status_code == 503 and error_of(r) == UNAVAILABLE
    assert app.test_client().get(HEALTH).status_code == 200


def test_storage_down_at_login_is_503_for_the_right_password_too(app, make_app, user, tmp_path):
    """Storage that cannot be reached at all: nothing succeeds, nothing says why."""
    if on_postgresql(app):
        with connections_refused(app) as killed:
            r = app.test_client().post(LOGIN, json={"email": user.email, "password": PASSWORD})
        assert killed
    else:
        twin = unreachable_twin(app, make_app, tmp_path)
        r = twin.test_client().post(LOGIN, json={"email": user.email, "password": PASSWORD})
    assert_unavailable(r)
    assert b"OperationalError" not in r.data and b"sqlite" not in r.data.lower()


# --- SIGKILL under load ----------------------------------------------------------------------


@dataclass
class Known:
    """What the load was told before the kill: only answered successes count."""

    sessions: dict[int, dict[str, str]] = field(default_factory=dict)  # n -> latest pair
    revoked_access: list[str] = field(default_factory=list)
    revoked_sessions: list[str] = field(default_factory=list)  # their last refresh token
    in_flight: int | None = None  # the session whose request got no answer
    successes: int = 0
    unexpected: AssertionError | None = None  # an answer that was not a success


LOAD_MIX = [
    "login",
    "refresh",
    "refresh",
    "revoke access",
    "login",
    "refresh",
    "revoke access",
    "revoke session",
]


def run_load(
    url: str,
    users: list[TestUser],
    known: Known,
    enough: threading.Event,
    stop: threading.Event,
    *,
    max_requests: int = 2000,
    seconds: float = 60,
) -> None:
    """Logins, refreshes and revocations in turn, until the server dies or a bound is hit."""
    deadline = time.monotonic() + seconds
    for step in range(max_requests):
        if stop.is_set() or time.monotonic() > deadline:
            return
        n = len(known.sessions)
        live = [
            k
            for k in known.sessions
            if known.sessions[k]["refresh_token"] not in known.revoked_sessions
        ]
        kind = LOAD_MIX[step % len(LOAD_MIX)]
        try:
            if kind == "login" or not live:
                known.in_flight = n
                who = users[n % len(users)]
                status, body = http(
                    "POST", url + LOGIN, {"email": who.email, "password": who.password}
                )
                assert status == 200, body
                known.sessions[n] = body
            else:
                k = live[step % len(live)]
                pair = known.sessions[k]
                known.in_flight = k
                if kind == "refresh":
                    status, body = http(
                        "POST", url + REFRESH, {"refresh_token": pair["refresh_token"]}
                    )
                    assert status == 200, body
                    known.sessions[k] = body
                elif kind == "revoke access":
                    status, body = http("POST", url + REVOKE, {"token": pair["access_token"]})
                    assert status == 200, body
                    known.revoked_access.append(pair["access_token"])
                else:
                    status, body = http("POST", url + REVOKE, {"token": pair["refresh_token"]})
                    assert status == 200, body
                    known.revoked_sessions.append(pair["refresh_token"])
        except (OSError, HTTPException, ValueError):  # killed: this request got no answer
            return
        except AssertionError as error:
            known.unexpected = error
            return
        known.in_flight = None
        known.successes += 1
        if known.successes >= 40:
            enough.set()


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def kill_hard(server: Server) -> None:
    """SIGKILL gunicorn's workers and master at once: no shutdown hook, no flush, no goodbye."""
    master = server.process.pid
    for pid in [*children(master), master]:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    server.process.wait(timeout=10)


@pytest.mark.slow
def test_sigkill_under_load_loses_nothing_that_was_answered(make_user, serve):
    users = [make_user(f"load{i}@example.com") for i in range(3)]
    env = {"AUTHSVC_ADDRESS_RATE": "1000000 per minute", "AUTHSVC_LOGIN_FAILURES": "1000000"}
    server = serve(workers=2, **env)
    status, jwks_before = http("GET", server.url + "/.well-known/jwks.json")
    assert status == 200 and jwks_before["keys"]

    known, enough, stop = Known(), threading.Event(), threading.Event()
    load = threading.Thread(
        target=run_load, args=(server.url, users, known, enough, stop), name="load", daemon=True
    )
    load.start()
    assert enough.wait(timeout=60), f"the load did not get going: {known.successes} answers"
    kill_hard(server)
    stop.set()
    load.join(timeout=40)
    assert not load.is_alive() and known.unexpected is None, known.unexpected
    assert known.revoked_access and known.revoked_sessions and known.sessions

    server = serve(workers=2, **env)
    status, jwks_after = http("GET", server.url + "/.well-known/jwks.json")
    assert status == 200 and jwks_after == jwks_before

    for token in known.revoked_access:
        status, body = http("GET", server.url + VERIFY, headers=bearer(token))
        assert status == 401 and body["errors"][0]["extra"]["reason"] == "revoked", body
    for token in known.revoked_sessions:
        status, body = http("POST", server.url + REFRESH, {"refresh_token": token})
        assert status == 401 and body["errors"][0]["extra"]["reason"] == "revoked", body
    checked = 0
    for n, pair in known.sessions.items():
        if n == known.in_flight or pair["refresh_token"] in known.revoked_sessions:
            continue  # a request without an answer may or may not have been stored
        if pair["access_token"] not in known.revoked_access:
            status, body = http("GET", server.url + VERIFY, headers=bearer(pair["access_token"]))
            assert status == 200, body
            assert jwt.decode(pair["access_token"], options={"verify_signature": False})["sid"]
        status, body = http("POST", server.url + REFRESH, {"refresh_token": pair["refresh_token"]})
        assert status == 200, (n, body)
        checked += 1
    assert checked
