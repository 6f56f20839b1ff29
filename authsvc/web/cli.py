"""Commands: create-user, prune, keys list/rotate/revoke."""

from __future__ import annotations

import os
import sys
from datetime import datetime

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy.engine import make_url

from authsvc.core import clock
from authsvc.core.errors import ApiError
from authsvc.core.principal import Client
from authsvc.services import sessions, users
from authsvc.services.runtime import keystore, settings

_CLI = Client(ip=None, user_agent="authsvc-cli")


@click.command("create-user")
@with_appcontext
@click.argument("email")
@click.option("--admin", is_flag=True, help="Make the user an administrator.")
@click.option(
    "--scopes", default=None, help="Space-separated scopes (default: AUTHSVC_DEFAULT_SCOPES)."
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input; without it, it is asked for (hidden).",
)
def create_user_command(email: str, admin: bool, scopes: str | None, password_stdin: bool) -> None:
    """Create a user. The password is asked for, never taken from the command line."""
    email = _checked_email(email)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = click.prompt(
            f"Password for {email}", hide_input=True, confirmation_prompt=True, err=True
        )
    else:
        raise click.UsageError(
            "no terminal to ask for the password: pipe it in with --password-stdin"
        )
    try:
        user = users.create_user(
            email,
            password,
            client=_CLI,
            is_admin=admin,
            scopes=scopes.split() if scopes is not None else None,
        )
    except ApiError as exc:
        raise click.ClickException("; ".join(item.detail for item in exc.items())) from exc
    click.echo(f"created {user.email} (id {user.id}{', admin' if admin else ''})")


def _checked_email(email: str) -> str:
    """The rule of `POST /users` (its field itself), checked before a password is asked for."""
    from marshmallow import ValidationError

    from authsvc.web.api.fields import Email

    try:
        return str(Email().deserialize(email))
    except ValidationError:
        raise click.BadParameter(
            f"{email!r} is not an email address this service accepts", param_hint="EMAIL"
        ) from None


def served_url() -> str:
    """Where this server is reached: what `make run` serves, else the issuer."""
    from authsvc.config import served_issuer

    return served_issuer(os.environ.get("AUTHSVC_SERVED_URL", "")) or settings().issuer


@click.command("init")
@with_appcontext
def init_command() -> None:
    """Set up the instance (done by starting the app), say where the console is, which
    issuer is in force, and how to create the first user."""
    app = current_app
    key = keystore().signing_key()
    count = users.count_users()
    base = served_url()
    click.echo(f"instance folder: {app.instance_path}")
    click.echo(f"database:        {make_url(settings().database_url or '').render_as_string()}")
    click.echo(f"signing key:     {key.kid} ({key.alg})")
    click.echo(f"issuer:          {settings().issuer} (from {app.config.get('ISSUER_FROM')})")
    click.echo(f"users:           {count}")
    click.echo(f"console:         {base}/console/")
    if base != settings().issuer:
        click.echo(
            f"\nTokens name {settings().issuer} as their issuer, but this server is reached at "
            f"{base}: verifiers checking `iss` will refuse them. Set AUTHSVC_ISSUER "
            "(docs/configuration.md)."
        )
    if count == 0:
        click.echo(
            "\nCreate the first user (an administrator); the password is asked for:\n"
            "  .venv/bin/flask --app authsvc create-user you@example.com --admin\n"
            f"then sign in at {base}/console/"
        )


@click.command("prune")
@with_appcontext
def prune_command() -> None:
    """Delete revoked jtis and sessions whose tokens have all expired."""
    counts = sessions.prune()
    click.echo(", ".join(f"{name}: {count} deleted" for name, count in counts.items()))


keys_group = AppGroup("keys", help="Signing keys.")


def _stamp(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@keys_group.command("list")
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="Also show keys no longer published and keys of another algorithm.",
)
def keys_list(everything: bool) -> None:
    """Show the signing keys, newest first: kid, algorithm, created, state, published until."""
    click.echo(f"{'KID':<44}  {'ALG':<6}  {'CREATED':<20}  {'STATE':<9}  PUBLISHED UNTIL")
    for info in keystore().listing(everything=everything):
        until = (
            "-"
            if info.state == "unused"
            else ("until rotated" if info.publish_until is None else _stamp(info.publish_until))
        )
        click.echo(
            f"{info.kid:<44}  {info.alg:<6}  {_stamp(info.created_at):<20}  "
            f"{info.state:<9}  {until}"
        )


@keys_group.command("rotate")
@click.option(
    "--now",
    "at_once",
    is_flag=True,
    help="Sign with the new key at once, without waiting AUTHSVC_KEY_PUBLISH_DELAY.",
)
def keys_rotate(at_once: bool) -> None:
    """Publish a new signing key; it signs after AUTHSVC_KEY_PUBLISH_DELAY (or --now)."""
    key, retired, activation = keystore().rotate(_CLI, now=at_once)
    if at_once or activation <= clock.now():
        click.echo(f"new signing key {key.kid} ({key.alg})")
        for kid in retired:
            click.echo(
                f"retired {kid}: it signs no more and stays published until its last token expires"
            )
        return
    click.echo(f"new key {key.kid} ({key.alg}): published now, signs from {_stamp(activation)}")
    for kid in retired:
        click.echo(
            f"retiring {kid}: it signs until {_stamp(activation)} and stays published "
            "until its last token expires"
        )


@keys_group.command("revoke")
@click.argument("kid")
def keys_revoke(kid: str) -> None:
    """Revoke a key that leaked: unpublished at once, every token it signed refused."""
    try:
        changed, replacement = keystore().revoke(kid, _CLI)
    except LookupError:
        raise click.ClickException(f"no signing key {kid!r} (see `keys list --all`)") from None
    if not changed:
        click.echo(f"{kid} was already revoked")
        return
    click.echo(f"revoked {kid}: unpublished; every token it signed is refused (unknown_key)")
    if replacement is not None:
        click.echo(f"new signing key {replacement.kid} ({replacement.alg}), signing now")


def init_app(app: Flask) -> None:
    app.cli.add_command(init_command)
    app.cli.add_command(create_user_command)
    app.cli.add_command(prune_command)
    app.cli.add_command(keys_group)
