"""The commands: init, create-user, prune, keys."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from authsvc.core import clock
from authsvc.extensions import db
from authsvc.models import LoginSession, RevokedToken, User
from tests.helpers import PASSWORD


def test_init_prints_how_to_create_the_first_user(runner):
    result = runner.invoke(args=["init"])
    assert result.exit_code == 0
    assert "create-user you@example.com --admin --password-stdin" in result.output
    assert "signing key:" in result.output


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
