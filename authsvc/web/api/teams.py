"""/api/v1/teams: teams, their members and roles, and the team's private tokens.

Access tokens only, like personal key management: a private token (a team key included)
must not manage teams, members or keys. Team keys take the bodies of personal private
tokens (`private_tokens.CreateSchema`, ...), so both kinds of key obey the same rules.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from authsvc.core.tokens import ACCESS_ONLY
from authsvc.services import private_tokens as tokens_service
from authsvc.services import teams
from authsvc.web.api import Blueprint, client
from authsvc.web.api import fields as f
from authsvc.web.api.private_tokens import (
    CreatedSchema,
    CreateSchema,
    PrivateTokenListSchema,
    PrivateTokenSchema,
    UpdateSchema,
)
from authsvc.web.api.schemas import Schema, SudoSchema
from authsvc.web.credentials import current_principal

bp = Blueprint(
    "teams",
    __name__,
    url_prefix="/api/v1/teams",
    description="Teams: members with roles (owner, admin, member) and team-owned keys.",
)

ROLE = {"enum": list(teams.ROLES)}


class TeamCreateSchema(Schema):
    name = f.Str(required=True, max_length=100)


class TeamUpdateSchema(Schema):
    name = f.Str(max_length=100, metadata={"description": "Owners only."})
    scopes = f.Scopes(
        allow_none=False,
        metadata={"description": "Service administrators only (admin and the scope admin)."},
    )
    id = f.ReadOnly()
    created_at = f.ReadOnly()
    role = f.ReadOnly()


class TeamListQuerySchema(Schema):
    all = ma.fields.String(
        load_default="false",
        validate=ma.validate.OneOf(["true", "false"], error="invalid"),
        metadata={
            "enum": ["true", "false"],
            "description": "`true`: every team, not only the caller's (service administrators).",
        },
    )


class TeamSchema(Schema):
    id = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    scopes = ma.fields.List(ma.fields.String(), required=True)
    created_at = f.Timestamp(required=True)
    role = ma.fields.String(
        required=True,
        allow_none=True,
        metadata={**ROLE, "description": "The caller's role; null for a service admin not in it."},
    )


class TeamListSchema(Schema):
    items = ma.fields.List(ma.fields.Nested(TeamSchema), required=True)


class MemberAddSchema(Schema):
    email = f.Email(required=True)
    role = f.Str(
        load_default=teams.MEMBER,
        validate=ma.validate.OneOf(teams.ROLES, error="invalid"),
        metadata=ROLE,
    )


class MemberUpdateSchema(Schema):
    role = f.Str(
        required=True, validate=ma.validate.OneOf(teams.ROLES, error="invalid"), metadata=ROLE
    )


class MemberSchema(Schema):
    user_id = ma.fields.String(required=True)
    email = ma.fields.String(required=True)
    role = ma.fields.String(required=True, metadata=ROLE)
    added_at = f.Timestamp(required=True)


class MemberListSchema(Schema):
    items = ma.fields.List(ma.fields.Nested(MemberSchema), required=True)


@bp.route("", methods=["POST"])
@bp.authenticated(ACCESS_ONLY)
@bp.arguments(TeamCreateSchema)
@bp.response(201, TeamSchema)
@bp.errors(400, 415)
def create(body: dict[str, Any]) -> teams.TeamInfo:
    """Create a team; you are its owner and its scopes are yours (never `admin`)."""
    return teams.create_team(current_principal(), body["name"], client())


@bp.route("", methods=["GET"])
@bp.authenticated(ACCESS_ONLY)
@bp.arguments(TeamListQuerySchema, location="query")
@bp.response(200, TeamListSchema)
def list_teams(query: dict[str, Any]) -> dict[str, Any]:
    """Your teams with your role in each; `?all=true`: every team (service administrators)."""
    return {"items": teams.list_teams(current_principal(), all_teams=query["all"] == "true")}


@bp.route("/<team_id>", methods=["GET"])
@bp.authenticated(ACCESS_ONLY)
@bp.response(200, TeamSchema)
@bp.errors(404)
def get(team_id: str) -> teams.TeamInfo:
    """One of your teams (a team you are not in is 404)."""
    return teams.get_team(current_principal(), team_id)


@bp.route("/<team_id>", methods=["PATCH"])
@bp.authenticated(ACCESS_ONLY)
@bp.arguments(TeamUpdateSchema)
@bp.response(200, TeamSchema)
@bp.errors(400, 404, 415)
def update(body: dict[str, Any], team_id: str) -> teams.TeamInfo:
    """Rename (owners); set the scopes (service administrators: the only way they widen)."""
    return teams.update_team(current_principal(), team_id, body, client())


@bp.route("/<team_id>", methods=["DELETE"])
@bp.authenticated(ACCESS_ONLY)
@bp.response(204)
@bp.errors(404)
def delete(team_id: str) -> None:
    """Delete the team (owners); every team key is revoked at once."""
    teams.delete_team(current_principal(), team_id, client())


@bp.route("/<team_id>/members", methods=["GET"])
@bp.authenticated(ACCESS_ONLY)
@bp.response(200, MemberListSchema)
@bp.errors(404)
def list_members(team_id: str) -> dict[str, Any]:
    """The team's members and their roles."""
    return {"items": teams.list_members(current_principal(), team_id)}


@bp.route("/<team_id>/members", methods=["POST"])
@bp.authenticated(ACCESS_ONLY)
@bp.arguments(MemberAddSchema)
@bp.response(201, MemberSchema)
@bp.errors(400, 404, 409, 415)
def add_member(body: dict[str, Any], team_id: str) -> teams.MemberInfo:
    """Add an existing user by email (owners: any role; admins: admin or member)."""
    return teams.add_member(current_principal(), team_id, body["email"], body["role"], client())


@bp.route("/<team_id>/members/<user_id>", methods=["PATCH"])
@bp.authenticated(ACCESS_ONLY)
@bp.arguments(MemberUpdateSchema)
@bp.response(200, MemberSchema)
@bp.errors(400, 404, 409, 415)
def change_role(body: dict[str, Any], team_id: str, user_id: str) -> teams.MemberInfo:
    """Change a member's role; the team always keeps an owner (409)."""
    return teams.change_role(current_principal(), team_id, user_id, body["role"], client())


@bp.route("/<team_id>/members/<user_id>", methods=["DELETE"])
@bp.authenticated(ACCESS_ONLY)
@bp.response(204)
@bp.errors(404, 409)
def remove_member(team_id: str, user_id: str) -> None:
    """Remove a member, or leave (your own id); the team always keeps an owner (409)."""
    teams.remove_member(current_principal(), team_id, user_id, client())


@bp.route("/<team_id>/private-tokens", methods=["POST"])
@bp.authenticated(ACCESS_ONLY)
@bp.arguments(CreateSchema)
@bp.response(201, CreatedSchema)
@bp.errors(400, 404, 415, 429)
def create_key(body: dict[str, Any], team_id: str) -> tokens_service.MintedToken:
    """Mint a team key (owners, admins; sudo mode); scopes within the team's; shown once."""
    return teams.create_key(current_principal(), team_id, client=client(), **body)


@bp.route("/<team_id>/private-tokens", methods=["GET"])
@bp.authenticated(ACCESS_ONLY)
@bp.response(200, PrivateTokenListSchema)
@bp.errors(404)
def list_keys(team_id: str) -> dict[str, Any]:
    """The team's keys, newest first (metadata only)."""
    return {"items": teams.list_keys(current_principal(), team_id)}


@bp.route("/<team_id>/private-tokens/<key_id>", methods=["GET"])
@bp.authenticated(ACCESS_ONLY)
@bp.response(200, PrivateTokenSchema)
@bp.errors(404)
def get_key(team_id: str, key_id: str) -> tokens_service.TokenInfo:
    """One team key's metadata."""
    return teams.get_key(current_principal(), team_id, key_id)


@bp.route("/<team_id>/private-tokens/<key_id>", methods=["PATCH"])
@bp.authenticated(ACCESS_ONLY)
@bp.arguments(UpdateSchema)
@bp.response(200, PrivateTokenSchema)
@bp.errors(400, 404, 415)
def update_key(body: dict[str, Any], team_id: str, key_id: str) -> tokens_service.TokenInfo:
    """Rename or redescribe a team key (owners, admins)."""
    return teams.update_key(current_principal(), team_id, key_id, body, client())


@bp.route("/<team_id>/private-tokens/<key_id>/rotate", methods=["POST"])
@bp.authenticated(ACCESS_ONLY)
@bp.arguments(SudoSchema)
@bp.response(201, CreatedSchema)
@bp.errors(400, 404, 409, 415, 429)
def rotate_key(body: dict[str, Any], team_id: str, key_id: str) -> tokens_service.MintedToken:
    """A new team key with the same name, scopes and lifetime; the old one dies now (sudo mode)."""
    return teams.rotate_key(
        current_principal(),
        team_id,
        key_id,
        client(),
        body["current_password"],
        body["totp_code"],
    )


@bp.route("/<team_id>/private-tokens/<key_id>", methods=["DELETE"])
@bp.authenticated(ACCESS_ONLY)
@bp.response(204)
@bp.errors(404)
def delete_key(team_id: str, key_id: str) -> None:
    """Revoke a team key at once (owners, admins)."""
    teams.delete_key(current_principal(), team_id, key_id, client())
