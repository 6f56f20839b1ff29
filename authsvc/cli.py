"""Commands: create-user, prune, keys list/rotate."""
from __future__ import annotations

import sys

import click
from flask import Flask, current_app
from sqlalchemy.engine import make_url
from flask.cli import AppGroup

from authsvc.errors import ApiError
from authsvc.runtime import keystore
from authsvc.services import Client, sessions, users

_CLI = Client(ip=None, user_agent="authsvc-cli")


@click.command("create-user")
@click.argument("email")
@click.option("--admin", is_flag=True, help="Make the user an administrator.")
@click.option("--scopes", default=None, help='Space-separated scopes (default: AUTHSVC_DEFAULT_SCOPES).')
@click.option("--password-stdin", is_flag=True, required=True,
              help="Read the password from standard input (never from the command line).")
def create_user_command(email: str, admin: bool, scopes: str | None, password_stdin: bool) -> None:
    """Create a user, reading the password from standard input."""
    password = sys.stdin.readline().rstrip("\r\n")
    try:
        user = users.create_user(email, password, client=_CLI, is_admin=admin,
                                 scopes=scopes.split() if scopes is not None else None)
    except ApiError as exc:
        raise click.ClickException("; ".join(item.detail for item in exc.items())) from exc
    click.echo(f"created {user.email} (id {user.id}{', admin' if admin else ''})")


@click.command("init")
def init_command() -> None:
    """Set up the instance (done by starting the app) and say how to create the first user."""
    app = current_app
    key = keystore().signing_key()
    count = users.count_users()
    click.echo(f"instance folder: {app.instance_path}")
    click.echo(f"database:        {make_url(app.config['AUTHSVC_DATABASE_URL']).render_as_string()}")
    click.echo(f"signing key:     {key.kid} ({key.alg})")
    click.echo(f"users:           {count}")
    if count == 0:
        click.echo("\nCreate the first user (an administrator) with:\n"
                   "  echo 'a-long-unguessable-passphrase' | "
                   ".venv/bin/flask --app authsvc create-user you@example.com --admin --password-stdin\n"
                   "then log in:\n"
                   "  curl -s http://127.0.0.1:5000/api/v1/auth/login -H 'Content-Type: application/json' \\\n"
                   "       -d '{\"email\": \"you@example.com\", \"password\": \"a-long-unguessable-passphrase\"}'")


@click.command("prune")
def prune_command() -> None:
    """Delete revoked jtis and refresh tokens whose tokens have expired."""
    counts = sessions.prune()
    click.echo(", ".join(f"{name}: {count} deleted" for name, count in counts.items()))


keys_group = AppGroup("keys", help="Signing keys.")


@keys_group.command("list")
def keys_list() -> None:
    """Show the published keys, newest first."""
    for row in keystore().published():
        state = "current" if row.retired_at is None else f"retired, published until {row.publish_until:%Y-%m-%dT%H:%M:%SZ}"
        click.echo(f"{row.kid}  {row.alg}  created {row.created_at:%Y-%m-%dT%H:%M:%SZ}  {state}")


@keys_group.command("rotate")
def keys_rotate() -> None:
    """Make a new signing key; the old one keeps verifying until its last token has expired."""
    key, retired = keystore().rotate()
    click.echo(f"new current key {key.kid}; retired {', '.join(retired) or 'none'}")


def init_app(app: Flask) -> None:
    app.cli.add_command(init_command)
    app.cli.add_command(create_user_command)
    app.cli.add_command(prune_command)
    app.cli.add_command(keys_group)
