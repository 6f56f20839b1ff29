"""The authenticated path: verify a token, then check its state once.

`authenticate` (`verify` + `check_state`) is what every protected route runs (through
`authsvc.web.credentials.authenticate`), so it stays lean: one signature
check, then one SQL statement that answers "signing key still published? user active?
session or private token alive? jti revoked?" by primary-key probes, no ORM object loaded. It writes only to
move `last_used_at`, at most once per `AUTHSVC_LAST_USED_RESOLUTION` per token.

A private token's restrictions (issue 22) ride on the same statement: its allowlist is a
signed claim (no storage needed), its rate limit a column of the row already read. Only a
key that has a limit costs one more round trip, to its use counter; a refused use writes
nothing but one audit row per key per minute.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, exists, or_, select, update

from authsvc.core import clock, restrictions, tokens
from authsvc.core.errors import ApiError, PermissionDenied, RateLimited
from authsvc.core.oauth import IDENTITY_SCOPES
from authsvc.core.principal import Budget, Client, Principal
from authsvc.extensions import db, rowcount
from authsvc.models import (
    LoginSession,
    OAuthClient,
    PrivateToken,
    RevokedToken,
    Team,
    User,
    effective_scopes,
)
from authsvc.services import audiences, audit, probe, use_counts
from authsvc.services.keystore import published_column
from authsvc.services.runtime import keystore, settings, use_counter
from authsvc.services.transaction import transaction

REFUSAL_AUDIT_EVERY = timedelta(seconds=60)
RATE_LIMITED = "rate_limited"


def verify(token: object, kinds: Collection[str]) -> tokens.Verified:
    """Signature, header and claims of `token`, checked against this service's settings.

    The audience is the default one or, for access tokens an OAuth client asked for with
    RFC 8707 `resource`, one of the registered clients' audiences: authsvc issued them, so
    it verifies and introspects them too.
    """
    return _decode(token, kinds, keystore().verification_key)


def _decode(
    token: object, kinds: Collection[str], keys: Callable[[str], tokens.Key | None]
) -> tokens.Verified:
    s = settings()
    return tokens.decode(
        token,
        kinds=kinds,
        keys=keys,
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


def verify_opened(token: object, kinds: Collection[str]) -> tokens.Verified:
    """`verify` with the key as this process opened it (`KeyStore.opened_key`), its state not
    read: for a caller whose own statement selects `published_column()` and refuses with
    `unknown_key` when it is false (the refresh path reads it with the session's state). A
    refusal of a token whose key is gone says `unknown_key`, as `verify` would first."""
    opened: list[str] = []

    def key_of(kid: str) -> tokens.Key | None:
        key = keystore().opened_key(kid)
        if key is not None:
            opened.append(kid)
        return key

    try:
        return _decode(token, kinds, key_of)
    except tokens.InvalidToken as refusal:
        if opened and keystore().verification_key(opened[0]) is None:
            raise tokens.UnknownKey() from refusal
        raise


def authenticate(token: object, kinds: Collection[str], client: Client) -> Principal:
    """The principal a bearer `token` of one of `kinds` stands for, or the refusal.

    The signature is checked with the key as this process opened it; whether the key is
    still published is read by `check_state`'s one statement, with the token's state, so
    the hot path makes one query, not two, and a key revoked anywhere is refused here by
    the next request all the same.
    """
    v = verify_opened(token, tokens.ALL_KINDS)
    if v.kind not in kinds:
        if keystore().verification_key(_kid(v)) is None:
            raise tokens.UnknownKey()  # as `verify` would have said, before the kind
        if v.kind == "private":
            raise PermissionDenied(
                "Private tokens cannot be used for this action; use an access token."
            )
        raise tokens.WrongType()
    return check_state(v, client)


def _kid(v: tokens.Verified) -> str:
    kid: str = v.header["kid"]  # a well-formed string: `decode` checked it
    return kid


def key_params(v: tokens.Verified) -> dict[str, Any]:
    """The parameters of `published_column()` for the key that signed `v`, read now."""
    return {"kid": _kid(v), "key_label": keystore().label, "now": clock.now()}


def unless_key_gone(v: tokens.Verified, refusal: tokens.InvalidToken) -> tokens.InvalidToken:
    """`refusal` for a token whose state row is missing, or `unknown_key` when its signing
    key is gone too (a probe of its own, on this refusal path only), as `verify` would say."""
    return tokens.UnknownKey() if keystore().verification_key(_kid(v)) is None else refusal


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
        stmt.add_columns(
            holder.c.id.label("holder_id"),
            holder.c.revoked_at,
            holder.c.last_used_at,
            published_column(),
        )
        .select_from(users.outerjoin(holder, on))
        .where(users.c.id == bindparam("sub"))
    )
    if kind == "private":
        stmt = stmt.add_columns(holder.c.rate_limit, holder.c.refused_at)
    if kind == "access":
        revoked = RevokedToken.__table__
        stmt = stmt.add_columns(
            exists().where(revoked.c.jti == bindparam("jti")).label("jti_revoked")
        )
    return stmt


_STATE_QUERIES = {kind: probe.Statement(_state_query(kind)) for kind in ("access", "private")}


_CLIENT_STATE = probe.Statement(
    select(
        OAuthClient.__table__.c.scopes,
        exists().where(RevokedToken.__table__.c.jti == bindparam("jti")).label("jti_revoked"),
        published_column(),
    ).where(OAuthClient.__table__.c.id == bindparam("sub"))
)


_TEAM_KEY_STATE = probe.Statement(
    select(
        PrivateToken.__table__.c.id.label("holder_id"),
        PrivateToken.__table__.c.revoked_at,
        PrivateToken.__table__.c.last_used_at,
        PrivateToken.__table__.c.rate_limit,
        PrivateToken.__table__.c.refused_at,
        Team.__table__.c.scopes,
        Team.__table__.c.deleted_at,
        published_column(),
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


def _aware(at: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes from Core selects; they are UTC.
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


def _restrict(v: tokens.Verified, row: Any, client: Client, team_id: str | None) -> Budget | None:
    """Apply a key's allowlist and rate limit to this use; refuse with 403 or 429.

    The allowlist is checked first, so a use from a refused address never spends budget.
    """
    try:
        restrictions.check(v.claims, client.ip)
        if row.rate_limit is None:
            return None
        limit = use_counts.limit_of(row.rate_limit)
        outcome = use_counts.count(
            use_counter(), f"key:{row.holder_id}", limit, clock.now().timestamp()
        )
        if outcome.exceeded:
            raise RateLimited(
                outcome.reset_after, "This key is over its rate limit; try again later."
            )
        return Budget(outcome.limit, outcome.remaining, outcome.reset_after)
    except ApiError as error:
        _audit_refusal(v, row, client, team_id, error)
        raise


def _audit_refusal(
    v: tokens.Verified, row: Any, client: Client, team_id: str | None, error: ApiError
) -> None:
    """One audit row per key per minute at most, by a compare-and-swap on `refused_at`: a
    thief hammering a stolen key from elsewhere costs a read per request, not a write."""
    now = clock.now()
    cutoff = now - REFUSAL_AUDIT_EVERY
    last = _aware(row.refused_at)
    if last is not None and last > cutoff:
        return
    with transaction():  # ends before the refusal is raised, so the audit row stays
        result = db.session.execute(
            update(PrivateToken)
            .where(PrivateToken.id == row.holder_id)
            .where(or_(PrivateToken.refused_at.is_(None), PrivateToken.refused_at <= cutoff))
            .values(refused_at=now)
            .execution_options(synchronize_session=False)
        )
        if rowcount(result) == 1:
            reason = RATE_LIMITED if isinstance(error, RateLimited) else restrictions.REASON
            detail: dict[str, Any] = {"token_id": row.holder_id, "jti": v.jti, "reason": reason}
            if team_id is None:
                audit.record("private_token.refused", client=client, user_id=v.sub, **detail)
            else:
                audit.record("team.key_refused", client=client, team_id=team_id, **detail)


def _check_team_state(v: tokens.Verified, team_id: str, client: Client) -> Principal:
    """A team key lives while its row is unrevoked and its team undeleted; no user is read,
    so it outlives its creator's membership and account. Its scopes narrow with the team's."""
    row = probe.first(_TEAM_KEY_STATE, {"jti": v.jti, "team_id": team_id, **key_params(v)})
    if row is None:
        raise unless_key_gone(v, tokens.Revoked())
    if not row.key_published:
        raise tokens.UnknownKey()
    if row.revoked_at is not None or row.deleted_at is not None:
        raise tokens.Revoked()
    budget = _restrict(v, row, client, team_id)
    _touch(v.kind, row.holder_id, row.last_used_at, client.ip)
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
        budget=budget,
    )


def is_client_token(v: tokens.Verified) -> bool:
    """An OAuth client's own token (client_credentials grant): its subject is the client."""
    return v.kind == "access" and v.claims.get("client_id") == v.sub


def _check_client_state(v: tokens.Verified) -> Principal:
    """A client's own token lives while the client exists and its jti is not revoked."""
    row = probe.first(_CLIENT_STATE, {"sub": v.sub, "jti": v.jti, **key_params(v)})
    if row is None:
        raise unless_key_gone(v, tokens.Revoked())
    if not row.key_published:
        raise tokens.UnknownKey()
    if row.jti_revoked:
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


def check_state(v: tokens.Verified, client: Client | None = None) -> Principal:
    """Refuse a token whose signing key is no longer published, whose user is inactive or
    whose session, private token or jti is revoked, and a private token's use that its
    restrictions refuse (`client`: who uses it)."""
    client = client or Client()
    if is_client_token(v):
        return _check_client_state(v)
    team = team_of(v)
    if team is not None:
        return _check_team_state(v, team, client)
    params = (
        {"sub": v.sub, "jti": v.jti}
        if v.kind == "private"
        else {"sub": v.sub, "sid": v.sid, "jti": v.jti}
    )
    row = probe.first(_STATE_QUERIES[v.kind], {**params, **key_params(v)})  # no ORM
    if row is None:
        raise unless_key_gone(v, tokens.InactiveUser())
    if not row.key_published:
        raise tokens.UnknownKey()
    if not row.is_active:
        raise tokens.InactiveUser()
    if row.holder_id is None or row.revoked_at is not None:
        raise tokens.Revoked()
    if v.kind == "access" and row.jti_revoked:
        raise tokens.Revoked()
    budget = _restrict(v, row, client, None) if v.kind == "private" else None
    _touch(v.kind, row.holder_id, row.last_used_at, client.ip if v.kind == "private" else None)
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
        budget=budget,
    )


def _touch(kind: str, holder_id: str, last_used_at: datetime | None, ip: str | None = None) -> None:
    """Move `last_used_at` (and a private token's `last_used_ip`) at most once per resolution."""
    now = clock.now()
    last_used_at = _aware(last_used_at)
    cutoff = now - settings().last_used_resolution
    if last_used_at is not None and last_used_at > cutoff:
        return
    if kind == "private":
        values: dict[str, Any] = {"last_used_at": now, "last_used_ip": ip}
        model: Any = PrivateToken
    else:
        values, model = {"last_used_at": now}, LoginSession
    with transaction():
        db.session.execute(
            update(model)
            .where(model.id == holder_id)
            .where(or_(model.last_used_at.is_(None), model.last_used_at <= cutoff))
            .values(**values)
        )
