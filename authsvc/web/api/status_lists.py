"""GET /api/v1/status-lists/<id>: the Token Status Lists (draft-ietf-oauth-status-list)."""

from __future__ import annotations

import re

import marshmallow as ma
from flask import Response, request

from authsvc.core import status_list
from authsvc.core.errors import BadRequest, NotFound
from authsvc.services import status_lists
from authsvc.web.api import Blueprint
from authsvc.web.api.schemas import Schema

bp = Blueprint(
    "status_lists",
    __name__,
    url_prefix="/api/v1/status-lists",
    description="Token Status Lists: revocations that offline verifiers see.",
)
_LIST_ID = re.compile(r"(0|[1-9][0-9]{0,11})")
_ENTITY_TAG = re.compile(r'\s*((?:W/)?"[\x21\x23-\x7e]*"|\*)\s*')
_MAX_IF_NONE_MATCH = 1024


def _if_none_match() -> tuple[str, ...]:
    """The entity tags of If-None-Match (RFC 9110 13.1.2), weak comparison. A header that is
    not a list of entity tags (or longer than 1 KiB) is bad input: `400` in the envelope, so
    a client that mangles the ETag it was given learns it instead of downloading the list on
    every poll. (Empty list elements are skipped, as RFC 9110 5.6.1 asks of recipients.)"""
    raw = request.headers.get("If-None-Match")
    if raw is None:
        return ()
    if len(raw) > _MAX_IF_NONE_MATCH:
        raise BadRequest("If-None-Match is longer than 1 KiB.", attr="If-None-Match")
    tags = []
    for part in raw.split(","):
        if not part.strip(" \t"):
            continue
        found = _ENTITY_TAG.fullmatch(part)
        if found is None:
            raise BadRequest("If-None-Match is not a list of entity tags.", attr="If-None-Match")
        tag = found.group(1)
        tags.append(tag if tag == "*" or tag.startswith("W/") else "W/" + tag)
    if not tags:
        raise BadRequest("If-None-Match is not a list of entity tags.", attr="If-None-Match")
    return tuple(tags)


class AggregationSchema(Schema):
    status_lists = ma.fields.List(ma.fields.String(), required=True)


@bp.route("", methods=["GET"])
@bp.response(200, AggregationSchema)
def aggregation() -> dict[str, list[str]]:
    """Status List Aggregation (the draft's section 9.3): the URI of every list, so that a
    verifier can fetch them all ahead of the first token."""
    return {"status_lists": status_lists.all_uris()}


@bp.route("/<list_id>", methods=["GET"])
@bp.doc(
    responses={
        "200": {
            "description": "A Status List Token (`typ: statuslist+jwt`), signed like every token.",
            "content": {status_list.MEDIA_TYPE: {"schema": {"type": "string"}}},
            "headers": {"ETag": {"schema": {"type": "string"}}},
        },
        "304": {"description": "Unchanged since the ETag sent in If-None-Match."},
    }
)
@bp.errors(400, 404)
def get_list(list_id: str) -> Response:
    """One status list: 2 bits per token (0 valid, 1 revoked, 2 suspended). No credentials
    needed: a list tells nothing but which anonymous indices are not valid."""
    if not _LIST_ID.fullmatch(list_id):
        raise NotFound()
    rendered = status_lists.render(int(list_id), _if_none_match())
    headers = {"ETag": rendered.etag, "Cache-Control": "no-cache"}
    if rendered.token is None:
        return Response(status=304, headers=headers)
    return Response(rendered.token, status=200, mimetype=status_list.MEDIA_TYPE, headers=headers)
