"""The authenticated path: verify a token, then check its state once.

`verify` + `check_state` is what every protected route runs (through
`authsvc.web.credentials.authenticate`), so it stays lean: one signature
check, then one SQL statement that answers "user active? session or private token
alive? jti revoked?" by primary-key probes, no ORM object loaded. It writes only to
move `last_used_at`, at most once per `AUTHSVC_LAST_USED_RESOLUTION` per token.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, bindparam, exists, or_, select, update

from authsvc.core import clock, tokens
from authsvc.core.oauth import IDENTITY_SCOPES
from authsvc.core.principal import Principal
from authsvc.extensions import db
from authsvc.models import (
    LoginSession,
    OAuthClient,
    PrivateToken,
    RevokedToken,
    Team,
    User,
    effective_scopes,
)
from authsvc.services import audiences
from authsvc.services.runtime import keystore, settings
from authsvc.services.transaction import transaction


def verify(token: object, kinds: Collection[str]) -> tokens.Verified:
    """Signature, header and claims of `token`, checked against this service's settings.

    The audience is the default one or, for access tokens an OAuth client asked for with
    RFC 8707 `resource`, one of the registered clients' audiences: authsvc issued them, so
    it verifies and introspects them too.
    """
    s = settings()
    return tokens.decode(
        token,
        kinds=kinds,
        keys=keystore().verification_key,
        algorithm=s.signing_alg,
        issuer=s.issuer,
        audience=lambda aud: aud == s.audience or audiences.known(aud),
        now=clock.now(),
        leeway=s.leeway,
        # Refresh tokens signed before they carried aud = issuer: accepted here (to rotate
        # once, or be revoked) until the last of them expires, AUTHSVC_REFRESH_TTL after
        # the upgrade. Never by authsvc.verifier.
        refresh_audiences=(s.audience,),
    )


def _state_query(kind: str) -> Any:
    """The one statement of the hot path for `kind`, built once with bound parameters."""
    users = User.__table__
    stmt = select(users.c.email, users.c.is_active, users.c.is_admin, users.c.scopes)
    if kind == "private":
        holder = PrivateToken.__table__
        on = and_(holder.c.jti == bindparam("jti"), holder.c.user_id == users.c.id)
    else:
        holder = LoginSession.__table__
        on = and_(holder.c.id == bindparam("sid"), holder.c.user_id == users.c.id)
    stmt = (
        stmt.add_columns(holder.c.id.label("holder_id"), holder.c.revoked_at, holder.c.last_used_at)
        .select_from(users.outerjoin(holder, on))
        .where(users.c.id == bindparam("sub"))
    )
    if kind == "access":
        revoked = RevokedToken.__table__
        stmt = stmt.add_columns(
            exists().where(revoked.c.jti == bindparam("jti")).label("jti_revoked")
        )
    return stmt


_STATE_QUERIES = {kind: _state_query(kind) for kind in ("access", "private")}


_CLIENT_STATE = select(
    OAuthClient.__table__.c.scopes,
    exists().where(RevokedToken.__table__.c.jti == bindparam("jti")).label("jti_revoked"),
).where(OAuthClient.__table__.c.id == bindparam("sub"))


_TEAM_KEY_STATE = (
    select(
        PrivateToken.__table__.c.id.label("holder_id"),
        PrivateToken.__table__.c.revoked_at,
        PrivateToken.__table__.c.last_used_at,
        Team.__table__.c.scopes,
        Team.__table__.c.deleted_at,
    )
    .select_from(
        PrivateToken.__table__.join(
            Team.__table__, Team.__table__.c.id == PrivateToken.__table__.c.team_id
        )
    )
    .where(
        PrivateToken.__table__.c.jti == bindparam("jti"),
        PrivateToken.__table__.c.team_id == bindparam("team_id"),
    )
)
TEAM_SUBJECT_PREFIX = "team:"


def team_of(v: tokens.Verified) -> str | None:
    """The team of a team key (`sub` "team:<id>" and the same `team_id`), else None."""
    team = v.claims.get("team_id")
    if v.kind != "private" or not isinstance(team, str) or not team:
        return None
    return team if v.sub == f"{TEAM_SUBJECT_PREFIX}{team}" else None


def _check_team_state(v: tokens.Verified, team_id: str) -> Principal:
    """A team key lives while its row is unrevoked and its team undeleted; no user is read,
    so it outlives its creator's membership and account. Its scopes narrow with the team's."""
    with db.engine.connect() as conn:
        row = conn.execute(_TEAM_KEY_STATE, {"jti": v.jti, "team_id": team_id}).first()
    if row is None or row.revoked_at is not None or row.deleted_at is not None:
        raise tokens.Revoked()
    _touch(v.kind, row.holder_id, row.last_used_at)
    allowed = set(row.scopes)
    return Principal(
        user_id=v.sub,
        email="",
        is_admin=False,
        kind=v.kind,
        jti=v.jti,
        session_id=None,
        scopes=tuple(s for s in v.scopes if s in allowed),
        issued_at=datetime.fromtimestamp(v.claims["iat"], UTC),
        expires_at=datetime.fromtimestamp(v.claims["exp"], UTC),
        claims=v.claims,
        team_id=team_id,
    )


def is_client_token(v: tokens.Verified) -> bool:
    """An OAuth client's own token (client_credentials grant): its subject is the client."""
    return v.kind == "access" and v.claims.get("client_id") == v.sub


def _check_client_state(v: tokens.Verified) -> Principal:
    """A client's own token lives while the client exists and its jti is not revoked."""
    with db.engine.connect() as conn:
        row = conn.execute(_CLIENT_STATE, {"sub": v.sub, "jti": v.jti}).first()
    if row is None or row.jti_revoked:
        raise tokens.Revoked()
    allowed = set(row.scopes)
    return Principal(
        user_id=v.sub,
        email="",
        is_admin=False,
        kind=v.kind,
        jti=v.jti,
        session_id=None,
        scopes=tuple(s for s in v.scopes if s in allowed),
        issued_at=datetime.fromtimestamp(v.claims["iat"], UTC),
        expires_at=datetime.fromtimestamp(v.claims["exp"], UTC),
        claims=v.claims,
    )


def check_state(v: tokens.Verified) -> Principal:
    """Refuse a token whose user is inactive or whose session, private token or jti is revoked."""
    if is_client_token(v):
        return _check_client_state(v)
    team = team_of(v)
    if team is not None:
        return _check_team_state(v, team)
    params = (
        {"sub": v.sub, "jti": v.jti}
        if v.kind == "private"
        else {"sub": v.sub, "sid": v.sid, "jti": v.jti}
    )
    with db.engine.connect() as conn:  # Core, not the ORM session: nothing to track or flush
        row = conn.execute(_STATE_QUERIES[v.kind], params).first()
    if row is None or not row.is_active:
        raise tokens.InactiveUser()
    if row.holder_id is None or row.revoked_at is not None:
        raise tokens.Revoked()
    if v.kind == "access" and row.jti_revoked:
        raise tokens.Revoked()
    _touch(v.kind, row.holder_id, row.last_used_at)
    user_scopes = (
        set(effective_scopes(row.scopes, row.is_admin)) | IDENTITY_SCOPES
    )  # a demotion drops `admin` now
    return Principal(
        user_id=v.sub,
        email=row.email,
        is_admin=row.is_admin,
        kind=v.kind,
        jti=v.jti,
        session_id=v.sid,
        scopes=tuple(s for s in v.scopes if s in user_scopes),
        issued_at=datetime.fromtimestamp(v.claims["iat"], UTC),
        expires_at=datetime.fromtimestamp(v.claims["exp"], UTC),
        claims=v.claims,
    )


def _touch(kind: str, holder_id: str, last_used_at: datetime | None) -> None:
    now = clock.now()
    # SQLite hands back naive datetimes from Core selects; they are UTC.
    if last_used_at is not None and last_used_at.tzinfo is None:
        last_used_at = last_used_at.replace(tzinfo=UTC)
    cutoff = now - settings().last_used_resolution
    if last_used_at is not None and last_used_at > cutoff:
        return
    model = PrivateToken if kind == "private" else LoginSession
    with transaction():
        db.session.execute(
            update(model)
            .where(model.id == holder_id)
            .where(or_(model.last_used_at.is_(None), model.last_used_at <= cutoff))
            .values(last_used_at=now)
        )
