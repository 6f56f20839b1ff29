"""The commands: init, create-user, prune, keys."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select

from authsvc.core import clock
from authsvc.extensions import db
from authsvc.models import LoginSession, RevokedToken, User
from tests.helpers import FAST_HASH, PASSWORD


def test_init_prints_how_to_create_the_first_user(runner):
    result = runner.invoke(args=["init"])
    assert result.exit_code == 0
    # issue 21 item 16: the command asks for the password; no literal one to copy
    assert "create-user you@example.com --admin\n" in result.output
    assert "echo" not in result.output and "passphrase" not in result.output
    assert "signing key:" in result.output


# `POST /users` refuses these (tests/http/test_admin.py); the command must too.
BAD_EMAILS = ["alice.example.com", "alice@", "@example.com", "al ice@example.com", "a@b@c.com"]


@pytest.mark.parametrize("email", BAD_EMAILS)
def test_create_user_refuses_an_email_post_users_refuses(app, runner, client, admin_token, email):
    r = client.post(
        "/api/v1/users",
        json={"email": email, "password": PASSWORD},
        headers={"Authorization": f"Bearer {admin_token}"},
    )
    assert r.status_code == 400 and r.get_json()["errors"][0]["attr"] == "email"
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(User))
    result = runner.invoke(args=["create-user", email, "--password-stdin"], input=PASSWORD)
    assert result.exit_code == 2, result.output
    assert "is not an email address this service accepts" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == before


def test_create_user_without_password_stdin_and_no_terminal_says_what_to_do(app, runner):
    result = runner.invoke(args=["create-user", "a@example.com"], input=PASSWORD)
    assert result.exit_code == 2 and "--password-stdin" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_create_user_asks_for_the_password_on_a_terminal_without_echoing_it(app, config, tmp_path):
    """A real terminal (a pty): the password is asked twice and never shown."""
    import os
    import pty
    import select as select_
    import sys
    import time

    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSVC_")}
    env.update({k: str(v) for k, v in config.items() if k.startswith("AUTHSVC_")})
    env["AUTHSVC_INSTANCE_PATH"] = str(tmp_path / "instance")
    pid, fd = pty.fork()
    if pid == 0:  # the child: the command on its own terminal
        os.execve(
            sys.executable,
            [
                sys.executable,
                "-m",
                "flask",
                "--app",
                "tests.http.test_cli:fast_app",
                "create-user",
                "tty@example.com",
            ],
            env,
        )
    seen = b""

    def read_until(marker: bytes) -> None:
        nonlocal seen
        deadline = time.monotonic() + 60
        while marker not in seen and time.monotonic() < deadline:
            ready, _, _ = select_.select([fd], [], [], 1)
            if ready:
                try:
                    seen += os.read(fd, 1024)
                except OSError:
                    return

    read_until(b"Password for tty@example.com")
    os.write(fd, PASSWORD.encode() + b"\n")
    read_until(b"Repeat")
    os.write(fd, PASSWORD.encode() + b"\n")
    read_until(b"created tty@example.com")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, seen
    assert b"created tty@example.com" in seen and PASSWORD.encode() not in seen
    with app.app_context():
        assert db.session.scalar(select(User.email)) == "tty@example.com"


def fast_app() -> Flask:
    """The pty test's app: settings from the environment, the test's fast hash."""
    from authsvc import create_app

    return create_app({"TESTING": True, **FAST_HASH})


def test_create_user_reads_the_password_from_stdin(app, runner):
    result = runner.invoke(
        args=[
            "create-user",
            "Admin@Example.com",
            "--admin",
            "--scopes",
            "read write introspect",
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    with app.app_context():
        user = db.session.scalar(select(User))
        assert user.email == "admin@example.com" and user.is_admin
        assert user.scopes == ["read", "write", "introspect"]
        assert PASSWORD not in user.password_hash


@pytest.mark.parametrize("password,message", [("short", "at least 12"), ("password1234", "common")])
def test_create_user_refuses_a_weak_password(app, runner, password, message):
    result = runner.invoke(
        args=["create-user", "a@example.com", "--password-stdin"], input=password
    )
    assert result.exit_code != 0 and message in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_create_user_twice_is_refused(runner, user):
    result = runner.invoke(args=["create-user", user.email, "--password-stdin"], input=PASSWORD)
    assert result.exit_code != 0 and "already exists" in result.output


def test_prune_deletes_only_what_expired(frozen, app, client, runner, user, login):
    old = login(user)
    client.post("/api/v1/auth/revoke", json={"token": old["access_token"]})
    clock.advance(timedelta(hours=2))
    fresh = login(user)
    client.post("/api/v1/auth/revoke", json={"token": fresh["access_token"]})
    result = runner.invoke(args=["prune"])
    assert result.exit_code == 0 and "revoked_tokens: 1 deleted" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(RevokedToken)) == 1
        assert db.session.scalar(select(func.count()).select_from(LoginSession)) == 2
    clock.freeze(
        frozen + timedelta(days=30, seconds=5)
    )  # past the older session's expiry, not its leeway
    assert "revoked_tokens: 1 deleted, sessions: 0 deleted" in runner.invoke(args=["prune"]).output
    clock.advance(timedelta(seconds=6))
    assert "sessions: 1 deleted" in runner.invoke(args=["prune"]).output
    clock.advance(timedelta(hours=2))
    assert "revoked_tokens: 0 deleted, sessions: 1 deleted" in runner.invoke(args=["prune"]).output
