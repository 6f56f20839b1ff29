"""Health: the service is healthy only while its storage answers."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from authsvc.core.errors import ServiceUnavailable
from authsvc.extensions import db
from authsvc.services.transaction import transaction


def check() -> None:
    try:
        with transaction():
            db.session.execute(text("SELECT 1"))
    except DBAPIError as exc:
        raise ServiceUnavailable("Storage is unreachable.") from exc
