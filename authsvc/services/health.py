"""Health: the service is healthy only while its storage answers."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from authsvc.core.errors import ServiceUnavailable
from authsvc.extensions import db


def check() -> None:
    try:
        db.session.execute(text("SELECT 1"))
    except DBAPIError as exc:
        db.session.rollback()
        raise ServiceUnavailable("Storage is unreachable.") from exc
