"""Teams (issue 19): members with roles, and private tokens that belong to the team.

Every use case first finds the caller's membership (a team the caller is not in, or a
deleted one, answers exactly as a missing one: 404), then checks the role (403), then
writes, in one transaction. Roles: `owner` (everything, owners and deletion included),
`admin` (members other than owners, team keys), `member` (reads the team, its members and
its keys' metadata). A service administrator (`users.require_admin`) reads every team and
sets a team's scopes; that is the only way scopes widen.

Team keys are personal private tokens' rules with the team as holder
(`private_tokens.Holder`): the same code, bodies and checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from authsvc.core import clock
from authsvc.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from authsvc.core.principal import Client, Principal
from authsvc.extensions import db
from authsvc.models import ADMIN_SCOPE, PrivateToken, Team, TeamMember, User, new_id
from authsvc.services import audit, private_tokens
from authsvc.services.transaction import transaction
from authsvc.services.users import require_admin

OWNER, ADMIN, MEMBER = "owner", "admin", "member"
ROLES = (OWNER, ADMIN, MEMBER)
MANAGERS = frozenset({OWNER, ADMIN})


@dataclass(frozen=True)
class TeamInfo:
    id: str
    name: str
    scopes: list[str]
    created_at: datetime
    role: str | None  # None: a service admin looking at a team they are not in


@dataclass(frozen=True)
class MemberInfo:
    user_id: str
    email: str
    role: str
    added_at: datetime


def _info(team: Team, role: str | None) -> TeamInfo:
    return TeamInfo(team.id, team.name, team.scopes, team.created_at, role)


def _is_service_admin(principal: Principal) -> bool:
    return principal.is_admin and ADMIN_SCOPE in principal.scopes


def _team(team_id: str) -> Team:
    team = db.session.get(Team, team_id)
    if team is None or team.deleted_at is not None:
        raise NotFound()
    return team


def _role(principal: Principal, team_id: str) -> str | None:
    return db.session.scalar(
        select(TeamMember.role).where(
            TeamMember.team_id == team_id, TeamMember.user_id == principal.user_id
        )
    )


def _membership(principal: Principal, team_id: str) -> tuple[Team, str | None]:
    """The team and the caller's role in it; 404 for a team the caller is not in.

    A service admin sees every team (role None): what their role does not allow is 403.
    """
    team = _team(team_id)
    role = _role(principal, team_id)
    if role is None and not _is_service_admin(principal):
        raise NotFound()
    return team, role


def _require(role: str | None, allowed: frozenset[str], what: str) -> None:
    if role not in allowed:
        raise PermissionDenied(f"Your role in this team does not allow you to {what}.")


def _owners_locked(team_id: str) -> list[str]:
    """The team's owners, this transaction's changes included, their rows locked.

    As `users._active_admins`: taken before an owner is demoted or removed and counted again
    after, so two owners demoting each other at once cannot both pass (PostgreSQL: the
    second waits for the first's row locks; SQLite: the recount runs in the write transaction).
    """
    return list(
        db.session.scalars(
            select(TeamMember.user_id)
            .where(TeamMember.team_id == team_id, TeamMember.role == OWNER)
            .with_for_update()
        )
    )


def _check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise ValidationFailed.one("name", "blank", "Must not be blank.")
    return name


def _rowcount(statement: Any) -> int:
    """Rows an UPDATE or DELETE matched: how a conditional write tells who won."""
    return cast("CursorResult[Any]", db.session.execute(statement)).rowcount


# --- teams ---


def create_team(principal: Principal, name: str, client: Client) -> TeamInfo:
    """The caller becomes its owner; its scopes are the caller's, never `admin`."""
    now = clock.now()
    user = db.session.get(User, principal.user_id)
    if user is None:
        raise NotFound()
    scopes = [s for s in user.effective_scopes if s != ADMIN_SCOPE]
    with transaction():
        team = Team(
            id=new_id(),
            name=_check_name(name),
            scopes=scopes,
            created_at=now,
            created_by=principal.user_id,
            deleted_at=None,
        )
        db.session.add(team)
        db.session.flush()
        db.session.add(
            TeamMember(team_id=team.id, user_id=principal.user_id, role=OWNER, added_at=now)
        )
        audit.record(
            "team.created",
            client=client,
            user_id=principal.user_id,
            actor_id=principal.user_id,
            team_id=team.id,
            name=team.name,
            scopes=scopes,
        )
        info = _info(team, OWNER)
    return info


def list_teams(principal: Principal, *, all_teams: bool = False) -> list[TeamInfo]:
    """The caller's teams; with `all_teams`, every team (service admins only)."""
    if all_teams:
        require_admin(principal)
    roles: dict[str, str] = dict(
        db.session.execute(
            select(TeamMember.team_id, TeamMember.role).where(
                TeamMember.user_id == principal.user_id
            )
        ).all()
    )
    query = select(Team).where(Team.deleted_at.is_(None))
    if not all_teams:
        query = query.where(Team.id.in_(list(roles)))
    teams = db.session.scalars(query.order_by(Team.created_at, Team.id))
    return [_info(team, roles.get(team.id)) for team in teams]


def get_team(principal: Principal, team_id: str) -> TeamInfo:
    team, role = _membership(principal, team_id)
    return _info(team, role)


def update_team(
    principal: Principal, team_id: str, changes: dict[str, Any], client: Client
) -> TeamInfo:
    """`name`: owners. `scopes`: service admins only (the one way a team's scopes widen)."""
    with transaction():
        team, role = _membership(principal, team_id)
        diff: dict[str, Any] = {}
        if "scopes" in changes:
            if not _is_service_admin(principal):
                raise PermissionDenied("Only service administrators may change a team's scopes.")
            scopes = list(dict.fromkeys(changes["scopes"]))
            if ADMIN_SCOPE in scopes:
                raise ValidationFailed.one(
                    "scopes", "invalid", "A team never holds the scope admin."
                )
            if scopes != team.scopes:
                diff["scopes"] = scopes
        if changes.get("name") is not None:
            _require(role, frozenset({OWNER}), "rename it")
            name = _check_name(changes["name"])
            if name != team.name:
                diff["name"] = name
        if not diff:
            return _info(team, role)
        if "scopes" in diff:
            team.scopes = diff["scopes"]
        if "name" in diff:
            team.name = diff["name"]
        audit.record(
            "team.updated",
            client=client,
            user_id=principal.user_id,
            actor_id=principal.user_id,
            team_id=team.id,
            **diff,
        )
        info = _info(team, role)
    return info


def delete_team(principal: Principal, team_id: str, client: Client) -> None:
    """Owners only. Every team key is revoked in the same transaction; the hot path also
    refuses a key whose team is deleted, so no host accepts one after the commit."""
    with transaction():
        team, role = _membership(principal, team_id)
        _require(role, frozenset({OWNER}), "delete it")
        now = clock.now()
        deleted = _rowcount(
            update(Team)
            .where(Team.id == team.id, Team.deleted_at.is_(None))
            .values(deleted_at=now)
            .execution_options(synchronize_session=False)
        )
        if deleted != 1:  # deleted meanwhile
            raise NotFound()
        revoked = _rowcount(
            update(PrivateToken)
            .where(PrivateToken.team_id == team.id, PrivateToken.revoked_at.is_(None))
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )
        db.session.execute(delete(TeamMember).where(TeamMember.team_id == team.id))
        audit.record(
            "team.deleted",
            client=client,
            user_id=principal.user_id,
            actor_id=principal.user_id,
            team_id=team.id,
            name=team.name,
            keys_revoked=revoked,
        )


# --- members ---


def _member_info(member: TeamMember, email: str) -> MemberInfo:
    return MemberInfo(member.user_id, email, member.role, member.added_at)


def list_members(principal: Principal, team_id: str) -> list[MemberInfo]:
    _membership(principal, team_id)
    rows = db.session.execute(
        select(TeamMember, User.email)
        .join(User, User.id == TeamMember.user_id)
        .where(TeamMember.team_id == team_id)
        .order_by(TeamMember.added_at, User.email)
    )
    return [_member_info(member, email) for member, email in rows]


def _may_assign(role: str | None, target_role: str | None, new_role: str | None) -> bool:
    """Owners do anything; admins touch only non-owners and never make owners."""
    if role == OWNER:
        return True
    if role == ADMIN:
        return OWNER not in (target_role, new_role)
    return False


def add_member(
    principal: Principal, team_id: str, email: str, role: str, client: Client
) -> MemberInfo:
    """An existing, active user, by email; already a member is 409."""
    try:
        with transaction():
            return _add_member(principal, team_id, email, role, client)
    except IntegrityError as exc:  # added concurrently
        raise Conflict("This user is already a member of the team.", attr="email") from exc


def _add_member(
    principal: Principal, team_id: str, email: str, role: str, client: Client
) -> MemberInfo:
    team, caller_role = _membership(principal, team_id)
    if not _may_assign(caller_role, None, role):
        _require(None, frozenset(), "add members with this role")
    user = db.session.scalar(
        select(User).where(func.lower(User.email) == email.lower(), User.is_active.is_(True))
    )
    if user is None:
        raise NotFound("No active user has this email.", attr="email")
    if _role_of(team.id, user.id) is not None:
        raise Conflict("This user is already a member of the team.", attr="email")
    member = TeamMember(team_id=team.id, user_id=user.id, role=role, added_at=clock.now())
    db.session.add(member)
    audit.record(
        "team.member_added",
        client=client,
        user_id=principal.user_id,
        actor_id=principal.user_id,
        team_id=team.id,
        member_id=user.id,
        role=role,
    )
    return _member_info(member, user.email)


def _role_of(team_id: str, user_id: str) -> str | None:
    return db.session.scalar(
        select(TeamMember.role).where(TeamMember.team_id == team_id, TeamMember.user_id == user_id)
    )


def _target(team_id: str, user_id: str) -> TeamMember:
    member = db.session.get(TeamMember, (team_id, user_id))
    if member is None:
        raise NotFound()
    return member


def change_role(
    principal: Principal, team_id: str, user_id: str, role: str, client: Client
) -> MemberInfo:
    """An owner demoted keeps the team's owner count above zero (409 otherwise)."""
    with transaction():
        team, caller_role = _membership(principal, team_id)
        _require(caller_role, MANAGERS, "change roles")
        member = _target(team.id, user_id)
        if not _may_assign(caller_role, member.role, role):
            _require(None, frozenset(), "change this member's role")
        old = member.role
        if old == role:
            info = _member_info(member, _email(user_id))
            return info
        demoting = old == OWNER
        if demoting:
            _owners_locked(team.id)
        member.role = role
        if demoting and not _owners_locked(team.id):
            raise Conflict("A team always keeps an owner; make another owner first.")
        audit.record(
            "team.member_role_changed",
            client=client,
            user_id=principal.user_id,
            actor_id=principal.user_id,
            team_id=team.id,
            member_id=user_id,
            old_role=old,
            role=role,
        )
        info = _member_info(member, _email(user_id))
    return info


def _email(user_id: str) -> str:
    return db.session.scalar(select(User.email).where(User.id == user_id)) or ""


def remove_member(principal: Principal, team_id: str, user_id: str, client: Client) -> None:
    """Managers remove others (admins: not owners); anyone may leave. The last owner stays (409)."""
    with transaction():
        team, caller_role = _membership(principal, team_id)
        leaving = user_id == principal.user_id
        member = _target(team.id, user_id)
        if not leaving:
            _require(caller_role, MANAGERS, "remove members")
            if not _may_assign(caller_role, member.role, None):
                _require(None, frozenset(), "remove an owner")
        demoting = member.role == OWNER
        if demoting:
            _owners_locked(team.id)
        removed = _rowcount(
            delete(TeamMember)
            .where(TeamMember.team_id == team.id, TeamMember.user_id == user_id)
            .execution_options(synchronize_session=False)
        )
        if removed != 1:
            raise NotFound()
        if demoting and not _owners_locked(team.id):
            raise Conflict("A team always keeps an owner; make another owner first.")
        audit.record(
            "team.member_removed",
            client=client,
            user_id=principal.user_id,
            actor_id=principal.user_id,
            team_id=team.id,
            member_id=user_id,
            role=member.role,
            left=leaving,
        )


# --- team keys: personal keys' code, with the team as holder ---


def _holder(principal: Principal, team_id: str, *, manage: bool) -> private_tokens.Holder:
    team, role = _membership(principal, team_id)
    if manage:
        _require(role, MANAGERS, "manage the team's keys")
    return private_tokens.Holder(None, team.id, tuple(team.scopes), principal.user_id)


def create_key(
    principal: Principal, team_id: str, *, client: Client, **body: Any
) -> private_tokens.MintedToken:
    holder = _holder(principal, team_id, manage=True)
    return private_tokens.create(principal, client=client, holder=holder, **body)


def list_keys(principal: Principal, team_id: str) -> list[private_tokens.TokenInfo]:
    return private_tokens.list_tokens(principal, _holder(principal, team_id, manage=False))


def get_key(principal: Principal, team_id: str, key_id: str) -> private_tokens.TokenInfo:
    return private_tokens.get(principal, key_id, _holder(principal, team_id, manage=False))


def update_key(
    principal: Principal,
    team_id: str,
    key_id: str,
    changes: dict[str, str | None],
    client: Client,
) -> private_tokens.TokenInfo:
    holder = _holder(principal, team_id, manage=True)
    return private_tokens.update_token(
        principal, key_id, changes=changes, client=client, holder=holder
    )


def rotate_key(
    principal: Principal,
    team_id: str,
    key_id: str,
    client: Client,
    current_password: str | None,
    totp_code: str | None,
) -> private_tokens.MintedToken:
    holder = _holder(principal, team_id, manage=True)
    return private_tokens.rotate(
        principal, key_id, client, current_password, totp_code, holder=holder
    )


def delete_key(principal: Principal, team_id: str, key_id: str, client: Client) -> None:
    holder = _holder(principal, team_id, manage=True)
    private_tokens.delete(principal, key_id, client, holder)
