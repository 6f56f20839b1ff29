"""Tables. Times are stored as naive UTC and read back as aware UTC.

Users (with their TOTP state), sessions (each holding the state of its refresh-token
chain: no table of refresh tokens, since 0003), revoked jtis, private tokens, recovery
codes, signing keys and audit events.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.expression import false
from sqlalchemy.types import TypeDecorator

from authsvc.extensions import Model


class UTCDateTime(TypeDecorator[datetime]):
    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class ScopeList(TypeDecorator[list[str]]):
    """Scopes as `list[str]` in Python, stored as today: one space-separated string.

    A string bound as it is (the stored form, e.g. in a comparison) passes unchanged, so a
    `str` is never joined letter by letter.
    """

    impl = String
    cache_ok = True

    def process_bind_param(self, value: Sequence[str] | str | None, dialect: Dialect) -> str | None:
        if value is None or isinstance(value, str):
            return value
        return " ".join(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> list[str] | None:
        return None if value is None else value.split()


def new_id() -> str:
    return uuid.uuid4().hex


ADMIN_SCOPE = "admin"


def effective_scopes(scopes: Sequence[str], is_admin: bool) -> list[str]:
    """The scopes a user holds: the stored ones, with `admin` exactly while they are an admin.

    `is_admin` is the one source of `admin`: a stored `admin` of a non-admin grants nothing.
    """
    held = [s for s in scopes if s != ADMIN_SCOPE]
    return [*held, ADMIN_SCOPE] if is_admin else held


class User(Model):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    scopes: Mapped[list[str]] = mapped_column(ScopeList(1024), default=list)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    totp_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_pending_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)

    @property
    def effective_scopes(self) -> list[str]:
        return effective_scopes(self.scopes, self.is_admin)


class LoginSession(Model):
    """One login: the chain of refresh tokens of that login, of which only two jtis matter.

    `refresh_jti` is the session's current refresh token, with the `iat`/`exp` it was
    signed with (so its predecessor can be answered with it again, re-signed);
    `previous_refresh_jti` is the token it replaced at `rotated_at`. Any other refresh
    token of the session is spent. No token is stored, only its claims.
    """

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    user_agent: Mapped[str | None] = mapped_column(String(512))
    ip: Mapped[str | None] = mapped_column(String(64))
    refresh_jti: Mapped[str | None] = mapped_column(String(64))
    refresh_iat: Mapped[int | None] = mapped_column(BigInteger)
    refresh_exp: Mapped[int | None] = mapped_column(BigInteger)
    previous_refresh_jti: Mapped[str | None] = mapped_column(String(64))
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A replay of the predecessor is audited once per successor; reuse once per session.
    replay_recorded: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    reuse_recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # OAuth (issue 16): a session opened by a code exchange belongs to its client, keeps the
    # scopes and audience granted then; None means a first-party login (client "authsvc").
    client_id: Mapped[str | None] = mapped_column(String(64), index=True)
    scopes: Mapped[list[str] | None] = mapped_column(ScopeList(1024))
    audience: Mapped[str | None] = mapped_column(String(255))
    amr: Mapped[str | None] = mapped_column(String(32))  # "pwd" or "pwd otp": for id_tokens
    status_idx: Mapped[int | None] = mapped_column(BigInteger, index=True)  # 0006: status list


class RevokedToken(Model):
    """A single revoked jti (an access token); kept until its token would have expired."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status_idx: Mapped[int | None] = mapped_column(BigInteger, index=True)  # 0006: status list


class PrivateToken(Model):
    """A personal key (`user_id`) or, since 0007, a team key (`team_id`, `user_id` None).

    A team key belongs to the team: `created_by` only says who made it, so the key outlives
    that person's membership and account.
    """

    __tablename__ = "private_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    jti: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), index=True)
    team_id: Mapped[str | None] = mapped_column(ForeignKey("teams.id"), index=True)
    created_by: Mapped[str | None] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    scopes: Mapped[list[str]] = mapped_column(ScopeList(1024), default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status_idx: Mapped[int | None] = mapped_column(BigInteger, index=True)  # 0006: status list
    # 0009 (issue 22): the signed allowlist (space-separated networks, also the token's
    # `allowed_ips` claim), the rate limit (`limits` syntax, may change), the address of
    # the last use (written with `last_used_at`) and the last audited refusal.
    allowed_ips: Mapped[str | None] = mapped_column(Text)
    rate_limit: Mapped[str | None] = mapped_column(String(64))
    last_used_ip: Mapped[str | None] = mapped_column(String(64))
    refused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Team(Model):
    """A team (issue 19): its members share its keys. Deleted softly (`deleted_at`), so its
    revoked keys stay listed in the audit trail's terms and the hot path sees the deletion."""

    __tablename__ = "teams"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    scopes: Mapped[list[str]] = mapped_column(ScopeList(1024), default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str | None] = mapped_column(String(32))
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TeamMember(Model):
    """One user's role in one team: `owner`, `admin` or `member`."""

    __tablename__ = "team_members"

    team_id: Mapped[str] = mapped_column(ForeignKey("teams.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(16))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RecoveryCode(Model):
    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(255))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SigningKey(Model):
    """A key pair; the private half sealed with the instance secret (`crypto.seal`).

    Published from `created_at` until `publish_until`; signs from `activates_at` until
    `retired_at` (a successor's `activates_at`); `revoked_at` when it was revoked (leaked).
    """

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(16))
    private_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    publish_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    activates_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_signing_keys_alg_retired", "alg", "retired_at"),)


class StatusIndexCounter(Model):
    """The next free status-list index on SQLite (PostgreSQL uses `status_index_seq`)."""

    __tablename__ = "status_index_counter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    next_idx: Mapped[int] = mapped_column(BigInteger)


class StatusListVersion(Model):
    """A list's version, bumped by database triggers (0008) in every transaction that changes
    one of its statuses; the served list is cached per (list, version)."""

    __tablename__ = "status_list_versions"

    list_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger)


class AuditEvent(Model):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    type: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str | None] = mapped_column(String(32), index=True)
    actor_id: Mapped[str | None] = mapped_column(String(32))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class KeyUseCount(Model):
    """Uses of one private token in one fixed window (`use_counts.DatabaseUseCounter`):
    `window_start` is the service clock's Unix time. At most two rows per key."""

    __tablename__ = "key_use_counts"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True, index=True)
    count: Mapped[int] = mapped_column(Integer)


class LoginFailure(Model):
    """One entry of the failed-login log (`failure_log.DatabaseFailureLog`): a failure, or an
    attempt in progress (`pending`). `at` is the service clock's Unix time. At most the
    limit's worth of live rows per key (a reservation is refused beyond it); rows past
    the window are deleted on the key's next attempt, by a bounded sweep on every attempt,
    and by `flask prune`."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    key: Mapped[str] = mapped_column(String(200), index=True)
    member: Mapped[str] = mapped_column(String(32))
    at: Mapped[float] = mapped_column(Float(precision=53), index=True)
    pending: Mapped[bool] = mapped_column(Boolean)


class OAuthClient(Model):
    """A third-party app (issue 16). The secret is kept only as its keyed digest."""

    __tablename__ = "oauth_clients"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    secret_digest: Mapped[str | None] = mapped_column(String(64))
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    grant_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    token_endpoint_auth_method: Mapped[str] = mapped_column(String(32))
    scopes: Mapped[list[str]] = mapped_column(ScopeList(1024), default=list)
    audiences: Mapped[list[str]] = mapped_column(JSON, default=list)
    id_token_alg: Mapped[str] = mapped_column(String(16), default="RS256")
    dynamic: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    secret_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The index its client_credentials tokens share; a new one after each revocation.
    status_idx: Mapped[int | None] = mapped_column(BigInteger, index=True)  # 0006: status list

    @property
    def confidential(self) -> bool:
        return self.token_endpoint_auth_method != "none"


class AuthorizationCode(Model):
    """One authorization code, by its SHA-256; redeemed by a conditional UPDATE of `redeemed_at`."""

    __tablename__ = "oauth_codes"

    code_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("oauth_clients.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    scopes: Mapped[list[str]] = mapped_column(ScopeList(1024))
    code_challenge: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[str | None] = mapped_column(String(512))
    audience: Mapped[str | None] = mapped_column(String(255))
    auth_time: Mapped[datetime] = mapped_column(UTCDateTime)
    amr: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    redeemed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    session_id: Mapped[str | None] = mapped_column(String(32))  # the session its tokens belong to


class OAuthConsent(Model):
    """A user's remembered consent for one client: covers the same or fewer scopes."""

    __tablename__ = "oauth_consents"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("oauth_clients.id", ondelete="CASCADE"), primary_key=True
    )
    scopes: Mapped[list[str]] = mapped_column(ScopeList(1024))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime)
