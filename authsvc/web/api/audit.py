"""/api/v1/audit-events: the audit log, newest first, for admins."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from authsvc.services import audit
from authsvc.web.api import Blueprint
from authsvc.web.api import fields as f
from authsvc.web.api.schemas import Schema
from authsvc.web.api.users import admin_only
from authsvc.web.credentials import current_principal

bp = Blueprint(
    "audit",
    __name__,
    url_prefix="/api/v1/audit-events",
    description="Who did what, when and from where; admins only.",
)


class AuditQuerySchema(Schema):
    user_id = f.Str(max_length=64)
    type = f.Str(max_length=64)
    since = f.DateTime(metadata={"description": "RFC 3339 with an offset; events at or after it."})
    until = f.DateTime(metadata={"description": "RFC 3339 with an offset; events before it."})
    limit = ma.fields.Integer(
        load_default=50,
        validate=ma.validate.Range(min=1, error="invalid"),
        error_messages={"invalid": "invalid", "null": "null"},
        metadata={
            "description": f"1 or more; more than {audit.MAX_LIMIT} counts as {audit.MAX_LIMIT}."
        },
    )
    cursor = f.Str(max_length=64, metadata={"description": "The `next` of the previous page."})


class AuditEventSchema(Schema):
    id = ma.fields.String(required=True)
    at = f.Timestamp(required=True)
    type = ma.fields.String(required=True)
    user_id = ma.fields.String(allow_none=True, required=True)
    ip = ma.fields.String(allow_none=True, required=True)
    user_agent = ma.fields.String(allow_none=True, required=True)
    detail = ma.fields.Method(
        "detail_with_actor",
        required=True,
        metadata={
            "type": "object",
            "description": "What happened; `actor_id` names the admin when it was not the user themself.",
        },
    )

    def detail_with_actor(self, event: Any) -> dict[str, Any]:
        return (
            {**event.detail, "actor_id": event.actor_id} if event.actor_id else dict(event.detail)
        )


class AuditPageSchema(Schema):
    items = ma.fields.List(ma.fields.Nested(AuditEventSchema), required=True)
    next = ma.fields.String(allow_none=True, required=True)


@bp.route("", methods=["GET"])
@bp.authenticated()
@admin_only
@bp.arguments(AuditQuerySchema, location="query", as_kwargs=True)
@bp.response(200, AuditPageSchema)
@bp.errors(403)
def list_events(**query: Any) -> audit.Page:
    """Every login, refresh, revocation, password, TOTP, private-token and user change."""
    return audit.list_events(current_principal(), **query)
