"""The database schema on start: applied by Alembic, or checked and refused when behind.

A serving worker only compares `alembic_version` with `HEAD`; Alembic (and Flask-Migrate,
for the `flask db` commands) is loaded only when there is something to migrate or a
command runs, which keeps about 11 MB out of every worker.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from authsvc.config import ConfigError
from authsvc.extensions import db

HEAD = "0009"  # the newest revision in migrations/versions (tests/test_app.py checks it)
MIGRATIONS = str(Path(__file__).parent.parent / "migrations")
_PG_LOCK = 0x617574687376  # any constant shared by every authsvc host


def init_migrations(app: Flask) -> None:
    """Bind Flask-Migrate, for `flask --app authsvc db …` and for upgrades."""
    if "migrate" not in app.extensions:
        from flask_migrate import Migrate

        Migrate(app, db, directory=MIGRATIONS)


def current_revisions() -> set[str]:
    try:
        with db.engine.connect() as conn:
            return set(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    except DBAPIError:
        return set()


def ensure_current(*, auto_migrate: bool) -> None:
    """Bring the schema to `HEAD`, one host at a time on PostgreSQL."""
    if current_revisions() == {HEAD}:
        return
    if not auto_migrate:
        raise ConfigError(
            "The database schema is not current: run `flask --app authsvc db upgrade`."
        )
    from flask_migrate import upgrade

    init_migrations(current_app._get_current_object())  # type: ignore[attr-defined]
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK})
            try:
                if current_revisions() != {HEAD}:
                    upgrade(directory=MIGRATIONS)
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK})
                conn.commit()
    else:
        upgrade(directory=MIGRATIONS)
