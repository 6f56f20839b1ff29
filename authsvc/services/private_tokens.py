"""Private tokens: long-lived API keys for scripts, CI and backends.

The token is shown once, in the answer to create or rotate; only its `jti` and metadata
are stored, so a database dump leaks no usable key. Its `exp` is fixed when it is minted
and nothing changes it later. The hot path (`auth.check_state`) reads the row by `jti`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, select, update

from authsvc.core import clock, restrictions, tokens
from authsvc.core.errors import (
    Conflict,
    InsufficientScope,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from authsvc.core.principal import Client, Principal
from authsvc.extensions import db, rowcount
from authsvc.models import PrivateToken, User, new_id
from authsvc.services import audit, status_lists, use_counts
from authsvc.services.authentication import TEAM_SUBJECT_PREFIX
from authsvc.services.reauth import require_recent_proof
from authsvc.services.runtime import keystore, settings
from authsvc.services.scopes import base_scopes, descriptions
from authsvc.services.transaction import transaction
from authsvc.services.users import get_me

ACTIVE, EXPIRED, REVOKED = "active", "expired", "revoked"
NAME_MAX, DESCRIPTION_MAX = 100, 1000


@dataclass(frozen=True)
class Holder:
    """Whose keys: a user's own (`team_id` None) or a team's. One set of rules for both.

    `scopes` bounds what its keys may carry (the caller's token scopes for personal keys,
    the team's scopes for team keys); `actor_id` is the user acting, for the audit trail.
    """

    user_id: str | None
    team_id: str | None
    scopes: tuple[str, ...]
    actor_id: str

    @classmethod
    def personal(cls, principal: Principal) -> Holder:
        return cls(principal.user_id, None, tuple(principal.scopes), principal.user_id)

    @property
    def subject(self) -> str:
        return f"{TEAM_SUBJECT_PREFIX}{self.team_id}" if self.team_id else str(self.user_id)

    def owns(self) -> Any:
        """The WHERE clause of this holder's rows (a personal list never shows team keys)."""
        if self.team_id is not None:
            return PrivateToken.team_id == self.team_id
        return and_(PrivateToken.user_id == self.user_id, PrivateToken.team_id.is_(None))

    def event(self, action: str) -> str:
        return f"team.key_{action}" if self.team_id else f"private_token.{action}"

    def audit(self, action: str, client: Client, **detail: Any) -> None:
        if self.team_id is None:
            actor = self.actor_id if self.actor_id != self.user_id else None  # an admin's act
            audit.record(
                self.event(action), client=client, user_id=self.user_id, actor_id=actor, **detail
            )
        else:
            audit.record(
                self.event(action),
                client=client,
                user_id=self.actor_id,
                actor_id=self.actor_id,
                team_id=self.team_id,
                **detail,
            )


@dataclass(frozen=True)
class TokenInfo:
    """What a client may see of a private token: everything but the token."""

    id: str
    name: str
    description: str | None
    scopes: list[str]
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    status: str
    rotated_to: str | None
    allowed_ips: list[str] | None
    rate_limit: str | None
    last_used_ip: str | None


@dataclass(frozen=True)
class MintedToken(TokenInfo):
    """The answer to create and rotate: the only place the token itself ever appears."""

    token: str


def status_of(row: PrivateToken, now: datetime) -> str:
    if row.revoked_at is not None:
        return REVOKED
    return EXPIRED if row.expires_at <= now else ACTIVE


def _info(row: PrivateToken, now: datetime, rotated_to: str | None = None) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        name=row.name,
        description=row.description,
        scopes=row.scopes,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        status=status_of(row, now),
        rotated_to=rotated_to,
        allowed_ips=row.allowed_ips.split() if row.allowed_ips else None,
        rate_limit=row.rate_limit,
        last_used_ip=row.last_used_ip,
    )


def _successors(holder: Holder, rows: Sequence[PrivateToken]) -> dict[str, str]:
    """Which of these revoked rows were rotated, and to which token."""
    revoked = [row.id for row in rows if row.revoked_at is not None]
    personal = holder.user_id if holder.team_id is None else None
    return audit.rotations(holder.event("rotated"), revoked, user_id=personal)


def _minted(row: PrivateToken, token: str, now: datetime) -> MintedToken:
    return MintedToken(**vars(_info(row, now)), token=token)


def _now() -> datetime:
    """Whole seconds, as `iat`/`exp` are: the row and the token then say the same times."""
    return clock.now().replace(microsecond=0)


def _max_lifetime() -> timedelta:
    return timedelta(days=settings().private_token_max_days)


def _expiry(now: datetime, expires_in_days: int | None, expires_at: datetime | None) -> datetime:
    """The fixed expiry from exactly one of the two fields (the schema saw to "exactly one")."""
    limit = {"max_days": settings().private_token_max_days}
    if expires_at is None:
        if expires_in_days is None or not 1 <= expires_in_days <= settings().private_token_max_days:
            raise ValidationFailed.one(
                "expires_in_days",
                "invalid",
                f"Must be a whole number of days from 1 to {settings().private_token_max_days}.",
                limit,
            )
        return now + timedelta(days=expires_in_days)
    exp = expires_at.astimezone(UTC).replace(microsecond=0)
    if exp <= now:
        raise ValidationFailed.one("expires_at", "invalid", "Must be in the future.")
    if exp > now + _max_lifetime():
        raise ValidationFailed.one(
            "expires_at",
            "invalid",
            f"Must be at most {settings().private_token_max_days} days from now.",
            limit,
        )
    return exp


def _check_scopes(holder: Holder, scopes: Sequence[str]) -> None:
    held = set(holder.scopes)
    missing = [s for s in scopes if s not in held]
    if missing:
        whose = "the team holds" if holder.team_id else "you hold"
        raise InsufficientScope(
            f"A private token can only carry scopes {whose}.", extra={"scopes": missing}
        )


def _check_totp(user_id: str) -> None:
    if not settings().require_totp_for_private_tokens:
        return
    if not db.session.scalar(select(User.totp_enabled).where(User.id == user_id)):
        raise PermissionDenied("Turn on two-factor authentication before creating private tokens.")


def mint(
    holder: Holder,
    name: str,
    description: str | None,
    scopes: list[str],
    now: datetime,
    expires_at: datetime,
    allowed_ips: Sequence[str] | None = None,
    rate_limit: str | None = None,
) -> tuple[PrivateToken, str]:
    """Sign and store a key; `allowed_ips` (already canonical) becomes a signed claim."""
    s = settings()
    status_idx = status_lists.allocate()
    token, claims = tokens.encode(
        "private",
        subject=holder.subject,
        scopes=scopes,
        key=keystore().signing_key(),
        issuer=s.issuer,
        audience=s.audience,
        now=now,
        expires_at=expires_at,
        extra={
            **status_lists.claim(status_idx),
            **({"team_id": holder.team_id} if holder.team_id else {}),
            **({restrictions.CLAIM: list(allowed_ips)} if allowed_ips else {}),
        },
    )
    row = PrivateToken(
        id=new_id(),
        status_idx=status_idx,
        jti=claims["jti"],
        user_id=holder.user_id,
        team_id=holder.team_id,
        created_by=holder.actor_id,
        name=name,
        description=description,
        scopes=list(scopes),
        created_at=now,
        expires_at=expires_at,
        last_used_at=None,
        revoked_at=None,
        allowed_ips=" ".join(allowed_ips) if allowed_ips else None,
        rate_limit=rate_limit,
    )
    db.session.add(row)
    return row, token


def _prove(
    principal: Principal, password: str | None, totp_code: str | None, client: Client, action: str
) -> None:
    require_recent_proof(get_me(principal), password, totp_code, client, action=action)


def _own(holder: Holder, token_id: str) -> PrivateToken:
    """The holder's token; anyone else's answers exactly as a missing one does."""
    row = db.session.scalar(select(PrivateToken).where(PrivateToken.id == token_id, holder.owns()))
    if row is None:
        raise NotFound()
    return row


def _revoke(row: PrivateToken, now: datetime) -> bool:
    """Revoke by a conditional UPDATE, so of two concurrent rotations or deletions one wins."""
    result = db.session.execute(
        update(PrivateToken)
        .where(PrivateToken.id == row.id, PrivateToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result) == 1


def _clean_description(description: str | None) -> str | None:
    return description if description and description.strip() else None


def create(
    principal: Principal,
    *,
    name: str,
    description: str | None,
    scopes: Sequence[str] | None,
    expires_in_days: int | None,
    expires_at: datetime | None,
    client: Client,
    current_password: str | None = None,
    totp_code: str | None = None,
    holder: Holder | None = None,
    allowed_ips: Sequence[str] | None = None,
    rate_limit: str | None = None,
) -> MintedToken:
    """Mint a token for the caller (or for `holder`, a team the caller may manage); every
    check runs before anything is signed or stored.

    Sudo mode: the body's checks first, then the proof (password, and code with 2FA on).
    """
    holder = holder or Holder.personal(principal)
    now = _now()
    _check_totp(principal.user_id)
    expiry = _expiry(now, expires_in_days, expires_at)
    asked = list(scopes or ())
    networks = None if allowed_ips is None else restrictions.parse_allowlist(allowed_ips)
    limit = None if rate_limit is None else use_counts.parse_limit(rate_limit)
    _check_scopes(holder, asked)
    chosen = list(dict.fromkeys([*base_scopes(holder.scopes), *asked]))
    _prove(principal, current_password, totp_code, client, holder.event("create"))
    with transaction():
        row, token = mint(
            holder,
            name.strip(),
            _clean_description(description),
            chosen,
            now,
            expiry,
            allowed_ips=networks,
            rate_limit=limit,
        )
        minted = _minted(row, token, now)
        holder.audit(
            "created",
            client,
            token_id=row.id,
            jti=row.jti,
            name=row.name,
            scopes=chosen,
            expires_at=expiry,
            **({"allowed_ips": networks} if networks else {}),
            **({"rate_limit": limit} if limit else {}),
        )
    return minted


@dataclass(frozen=True)
class KeyRules:
    """What a key form needs to know before it asks: the rules `create` will apply."""

    base_scopes: list[str]
    scope_descriptions: dict[str, str]
    max_days: int
    name_max_length: int
    description_max_length: int


def rules(principal: Principal) -> KeyRules:
    s = settings()
    return KeyRules(
        base_scopes=list(s.private_token_base_scopes),
        scope_descriptions=descriptions(principal.scopes),
        max_days=s.private_token_max_days,
        name_max_length=NAME_MAX,
        description_max_length=DESCRIPTION_MAX,
    )


def list_tokens(principal: Principal, holder: Holder | None = None) -> list[TokenInfo]:
    holder = holder or Holder.personal(principal)
    now = clock.now()
    rows = list(
        db.session.scalars(
            select(PrivateToken)
            .where(holder.owns())
            .order_by(PrivateToken.created_at.desc(), PrivateToken.id)
        )
    )
    successors = _successors(holder, rows)
    return [_info(row, now, successors.get(row.id)) for row in rows]


def get(principal: Principal, token_id: str, holder: Holder | None = None) -> TokenInfo:
    holder = holder or Holder.personal(principal)
    row = _own(holder, token_id)
    return _info(row, clock.now(), _successors(holder, [row]).get(row.id))


def update_token(
    principal: Principal,
    token_id: str,
    *,
    changes: dict[str, str | None],
    client: Client,
    holder: Holder | None = None,
) -> TokenInfo:
    """Rename, redescribe, or set the rate limit (null lifts it); the expiry, scopes and
    allowlist are part of the signed token and stay."""
    holder = holder or Holder.personal(principal)
    limit = changes.get("rate_limit")
    limit = None if limit is None else use_counts.parse_limit(limit)
    with transaction():
        row = _own(holder, token_id)
        changed = []
        name = changes.get("name")
        if name is not None and name.strip() != row.name:
            row.name = name.strip()
            changed.append("name")
        if "description" in changes:
            description = _clean_description(changes["description"])
            if description != row.description:
                row.description = description
                changed.append("description")
        if "rate_limit" in changes and limit != row.rate_limit:
            row.rate_limit = limit
            changed.append("rate_limit")
        info = _info(row, clock.now(), _successors(holder, [row]).get(row.id))
        if changed:
            extra = {"rate_limit": limit} if "rate_limit" in changed else {}
            holder.audit("updated", client, token_id=row.id, jti=row.jti, fields=changed, **extra)
    return info


def rotate(
    principal: Principal,
    token_id: str,
    client: Client,
    current_password: str | None = None,
    totp_code: str | None = None,
    holder: Holder | None = None,
) -> MintedToken:
    """A new token with the old one's name, scopes, restrictions and lifetime length; the
    old dies now.

    The length is capped at today's maximum, so a lowered `AUTHSVC_PRIVATE_TOKEN_MAX_DAYS`
    applies at the next rotation. A revoked token stays dead (409): create a new one.
    """
    holder = holder or Holder.personal(principal)
    row = _own(holder, token_id)
    if row.revoked_at is not None:
        raise Conflict("This token is revoked and cannot be rotated; create a new one.")
    now = _now()
    _check_totp(principal.user_id)
    scopes = list(row.scopes)
    _check_scopes(holder, scopes)
    _prove(principal, current_password, totp_code, client, holder.event("rotate"))
    length = min(row.expires_at - row.created_at, _max_lifetime())
    with transaction():
        if not _revoke(row, now):
            raise Conflict("This token was revoked meanwhile; create a new one.")
        new, token = mint(
            holder,
            row.name,
            row.description,
            scopes,
            now,
            now + length,
            allowed_ips=row.allowed_ips.split() if row.allowed_ips else None,
            rate_limit=row.rate_limit,
        )
        minted = _minted(new, token, now)
        holder.audit(
            "rotated",
            client,
            token_id=new.id,
            jti=new.jti,
            old_token_id=row.id,
            old_jti=row.jti,
            expires_at=new.expires_at,
        )
    return minted


def delete(
    principal: Principal, token_id: str, client: Client, holder: Holder | None = None
) -> None:
    """Revoke at once. The row stays (status `revoked`) for the list and the audit trail."""
    holder = holder or Holder.personal(principal)
    row = _own(holder, token_id)
    with transaction():
        if _revoke(row, clock.now()):  # else revoked already: nothing changed
            holder.audit("deleted", client, token_id=row.id, jti=row.jti)
