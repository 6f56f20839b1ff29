"""The database schema on start: applied by Alembic, or checked and refused when behind."""
from __future__ import annotations

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from flask_migrate import upgrade
from sqlalchemy import text

from authsvc.config import ConfigError
from authsvc.extensions import db

_PG_LOCK = 0x617574687376  # any constant shared by every authsvc host


def _heads() -> tuple[set[str], set[str]]:
    script = ScriptDirectory.from_config(current_app.extensions["migrate"].migrate.get_config())
    with db.engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    return current, set(script.get_heads())


def ensure_current(*, auto_migrate: bool) -> None:
    """Bring the schema to the newest revision, one host at a time on PostgreSQL."""
    current, heads = _heads()
    if current == heads:
        return
    if not auto_migrate:
        raise ConfigError("The database schema is not current: run `flask --app authsvc db upgrade`.")
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK})
            try:
                upgrade(directory=current_app.extensions["migrate"].directory)
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK})
                conn.commit()
    else:
        upgrade(directory=current_app.extensions["migrate"].directory)
