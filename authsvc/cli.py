"""Commands: create-user, prune, keys list/rotate."""
from __future__ import annotations

import sys

import click
from flask import Flask
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
    app.cli.add_command(create_user_command)
    app.cli.add_command(prune_command)
    app.cli.add_command(keys_group)
