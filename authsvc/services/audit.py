"""Audit events: added to the caller's transaction so an event exists iff its change does; read by admins."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import CTE, Insert, bindparam, insert, select

from authsvc.core import clock
from authsvc.core.errors import ValidationFailed
from authsvc.core.principal import Client, Principal
from authsvc.extensions import db
from authsvc.models import AuditEvent
from authsvc.services import metrics, probe


def record(
    event_type: str,
    *,
    client: Client | None,
    user_id: str | None = None,
    actor_id: str | None = None,
    **detail: Any,
) -> None:
    """Add one event; the caller commits. Never pass a secret, code or token in `detail`.

    Times in `detail` are passed as datetimes and stored as the contract writes them
    (RFC 3339 UTC with `Z`, whole seconds), like every time in a body.
    """
    client = client or Client()
    metrics.observe_event(event_type)
    db.session.add(
        AuditEvent(
            at=clock.now(),
            type=event_type,
            user_id=user_id,
            actor_id=actor_id,
            ip=client.ip,
            user_agent=client.user_agent,
            detail=_plain(detail),
        )
    )


_EVENT_COLUMNS = ("at", "type", "user_id", "actor_id", "ip", "user_agent", "detail")
INSERT = probe.Statement(
    insert(AuditEvent.__table__).values(
        at=bindparam("a_at"),
        type=bindparam("a_type"),
        user_id=bindparam("a_user_id"),
        actor_id=bindparam("a_actor_id"),
        ip=bindparam("a_ip"),
        user_agent=bindparam("a_user_agent"),
        detail=bindparam("a_detail"),
    )
)


def insert_for_each(source: CTE) -> Insert:
    """`INSERT`'s event once per row of `source`, in the same statement: with `source` a
    data-modifying CTE (PostgreSQL's `WITH changed AS (UPDATE ... RETURNING ...)`), a change
    and its event are written together or not at all, in one round trip
    (`probe.write_alone`). Takes `insert_params`; its row count is how many events were written."""
    table = AuditEvent.__table__
    values = select(*(bindparam(f"a_{name}", type_=table.c[name].type) for name in _EVENT_COLUMNS))
    return insert(table).from_select(_EVENT_COLUMNS, values.select_from(source))


def insert_params(
    event_type: str,
    *,
    client: Client | None,
    user_id: str | None = None,
    actor_id: str | None = None,
    **detail: Any,
) -> dict[str, Any]:
    """`record`'s event as parameters of `INSERT`, for a write run by `probe.writing`
    (the refresh path); `counted` once it is committed."""
    client = client or Client()
    return {
        "a_at": clock.now(),
        "a_type": event_type,
        "a_user_id": user_id,
        "a_actor_id": actor_id,
        "a_ip": client.ip,
        "a_user_agent": client.user_agent,
        "a_detail": _plain(detail),
    }


def counted(params: dict[str, Any]) -> None:
    metrics.observe_event(params["a_type"])


def _plain(value: Any) -> Any:
    """`value` with every datetime written as RFC 3339 UTC with `Z` (JSON has no time type)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def rotations(event_type: str, old_ids: list[str], user_id: str | None = None) -> dict[str, str]:
    """{old token id: its successor's id} from the rotate events, which record both ids in
    the transaction of the rotation: the link needs no column of its own."""
    if not old_ids:
        return {}
    stmt = select(AuditEvent.detail).where(
        AuditEvent.type == event_type,
        AuditEvent.detail["old_token_id"].as_string().in_(old_ids),
    )
    if user_id is not None:
        stmt = stmt.where(AuditEvent.user_id == user_id)
    found: dict[str, str] = {}
    for detail in db.session.scalars(stmt):
        old, new = detail.get("old_token_id"), detail.get("token_id")
        if isinstance(old, str) and isinstance(new, str):
            found[old] = new
    return found


@dataclass(frozen=True)
class Page:
    items: list[AuditEvent]
    next: str | None


MAX_LIMIT = 200
_MAX_ID = 2**63 - 1  # the largest id a BIGINT holds: a cursor past it names no event


def list_events(
    principal: Principal,
    *,
    user_id: str | None = None,
    type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    """Newest first (by id, the order events were written), `limit` at most `MAX_LIMIT`.

    `next` is an opaque cursor for the following page, None on the last one.
    """
    from authsvc.services.users import require_admin  # users imports audit

    require_admin(principal)
    limit = min(limit, MAX_LIMIT)
    stmt = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit + 1)
    if cursor is not None:
        stmt = stmt.where(AuditEvent.id < _read_cursor(cursor))
    if user_id is not None:
        stmt = stmt.where(AuditEvent.user_id == user_id)
    if type is not None:
        stmt = stmt.where(AuditEvent.type == type)
    if since is not None:
        stmt = stmt.where(AuditEvent.at >= since)
    if until is not None:
        stmt = stmt.where(AuditEvent.at < until)
    rows = list(db.session.scalars(stmt))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, _write_cursor(rows[-1].id) if more else None)


def _write_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"a{last_id}".encode()).decode().rstrip("=")


def _read_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        digits = raw[1:]
        if (
            not raw.startswith("a")
            or not (digits.isascii() and digits.isdigit())
            or int(digits) > _MAX_ID
        ):
            raise ValueError(raw)
        return int(digits)
    except (ValueError, UnicodeDecodeError):
        raise ValidationFailed.one(
            "cursor", "invalid", "This cursor is not one this service gave."
        ) from None
