"""Audit events, added to the caller's transaction so an event exists iff its change does."""
from __future__ import annotations

from typing import Any

from authsvc import clock
from authsvc.extensions import db
from authsvc.models import AuditEvent
from authsvc.services import Client


def record(event_type: str, *, client: Client | None, user_id: str | None = None,
           actor_id: str | None = None, **detail: Any) -> None:
    """Add one event; the caller commits. Never pass a secret, code or token in `detail`."""
    client = client or Client()
    db.session.add(AuditEvent(
        at=clock.now(), type=event_type, user_id=user_id, actor_id=actor_id,
        ip=client.ip, user_agent=(client.user_agent or "")[:512] or None, detail=detail,
    ))
