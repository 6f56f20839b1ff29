"""Login, refresh with rotation, logout, the session list and revocation by token.

A session is one login: every refresh token it ever issued belongs to it, and every
access token names it (`sid`), so revoking the session row revokes them all at once.
The row also holds the refresh chain's state (current jti with its iat/exp, previous jti,
rotated_at), so rotation, replay within the window and reuse are all decided by it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

from sqlalchemy import Sequence, bindparam, delete, false, func, insert, select, update

from authsvc.core import clock, emails, passwords, tokens
from authsvc.core.errors import InvalidCredentials, InvalidTotp, MfaRequired, NotFound
from authsvc.core.oauth import FIRST_PARTY_CLIENT, IDENTITY_SCOPES, format_scope
from authsvc.core.principal import Client, Principal
from authsvc.extensions import db, rowcount
from authsvc.models import LoginSession, PrivateToken, RevokedToken, User, effective_scopes, new_id
from authsvc.services import audit, lockout, probe, status_lists
from authsvc.services.authentication import (
    is_client_token,
    key_params,
    team_of,
    unless_key_gone,
    verify,
    verify_opened,
)
from authsvc.services.keystore import current_kid, published_column
from authsvc.services.runtime import keystore, settings
from authsvc.services.transaction import transaction
from authsvc.services.two_factor import codes as two_factor


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "bearer"
    scope: str = ""  # what the pair grants (the OAuth token answer says it; /auth/* do not)


def normalize_email(email: str) -> str:
    """NFKC, trimmed, lower-cased (`emails.canonical`): what every email is compared as."""
    return emails.canonical(email)


def _sign_refresh(
    session_id: str,
    user_id: str,
    scopes: list[str],
    *,
    iat: int,
    exp: int,
    jti: str | None = None,
    client_id: str | None = None,
    status_idx: int | None = None,
    key: tokens.Key | None = None,
) -> tuple[str, dict[str, Any]]:
    """A refresh token of a session: aud is the issuer (`tokens.audience_for`). `key`: the
    signing key already read for the access token beside it (one read per pair)."""
    s = settings()
    return tokens.encode(
        "refresh",
        subject=user_id,
        scopes=scopes,
        key=key or keystore().signing_key(),
        issuer=s.issuer,
        audience=tokens.audience_for("refresh", issuer=s.issuer, audience=s.audience),
        now=datetime.fromtimestamp(iat, UTC),
        expires_at=datetime.fromtimestamp(exp, UTC),
        jti=jti,
        session_id=session_id,
        extra={"client_id": client_id or FIRST_PARTY_CLIENT, **status_lists.claim(status_idx)},
    )


def _sign_access(
    session_id: str,
    user_id: str,
    scopes: list[str],
    now: datetime,
    *,
    client_id: str | None = None,
    audience: str | None = None,
    status_idx: int | None = None,
    key: tokens.Key | None = None,
) -> str:
    """An access token of a session (RFC 9068): it names the session's client (first-party
    logins: "authsvc"), and its `aud` is the session's granted audience (RFC 8707) or the default."""
    s = settings()
    access, _ = tokens.encode(
        "access",
        subject=user_id,
        scopes=scopes,
        key=key or keystore().signing_key(),
        issuer=s.issuer,
        audience=audience or s.audience,
        now=now,
        expires_at=now + s.access_ttl,
        session_id=session_id,
        extra={"client_id": client_id or FIRST_PARTY_CLIENT, **status_lists.claim(status_idx)},
    )
    return access


def mint(
    session_id: str,
    user_id: str,
    scopes: list[str],
    now: datetime,
    *,
    client_id: str | None = None,
    audience: str | None = None,
    status_idx: int | None = None,
    key: tokens.Key | None = None,
    refresh_jti: str | None = None,
) -> tuple[TokenPair, dict[str, Any]]:
    """Sign an access and a new refresh token of a session: CPU only, nothing written yet.

    Both carry the session's status-list index (`status_idx`, docs/status-lists.md), and are
    signed with the same key, read once (on PostgreSQL each read is a round trip): `key`,
    or the one `signing_key()` reads. Returns the pair and the refresh token's claims (what
    the session row keeps of it); `refresh_jti`: the one a new session's row already keeps.
    """
    key = key or keystore().signing_key()
    access = _sign_access(
        session_id,
        user_id,
        scopes,
        now,
        client_id=client_id,
        audience=audience,
        status_idx=status_idx,
        key=key,
    )
    iat, exp = _refresh_times(now)
    refresh, claims = _sign_refresh(
        session_id,
        user_id,
        scopes,
        iat=iat,
        exp=exp,
        jti=refresh_jti,
        client_id=client_id,
        status_idx=status_idx,
        key=key,
    )
    return TokenPair(
        access, refresh, int(settings().access_ttl.total_seconds()), scope=format_scope(scopes)
    ), claims


def _refresh_times(now: datetime) -> tuple[int, int]:
    """A new refresh token's iat and exp (a session expires with its current one)."""
    return int(now.timestamp()), int((now + settings().refresh_ttl).timestamp())


def session_scopes(granted: list[str] | None, user_scopes: list[str]) -> list[str]:
    """A session's scopes now: the user's (effective) ones, or for an OAuth session the granted
    ones that are still the user's."""
    if granted is None:
        return user_scopes
    return [scope for scope in granted if scope in user_scopes or scope in IDENTITY_SCOPES]


def login(email: str, password: str, totp_code: str | None, client: Client) -> TokenPair:
    """Log in, unless this email has had too many failures lately (`services.lockout`)."""
    with lockout.attempt(normalize_email(email), client):
        return _login(email, password, totp_code, client)


_sessions = LoginSession.__table__
_users = User.__table__
_OPEN = probe.Statement(
    insert(_sessions).values(
        id=bindparam("s_id"),
        status_idx=bindparam("s_status_idx"),
        user_id=bindparam("s_user_id"),
        created_at=bindparam("s_created_at"),
        last_used_at=bindparam("s_last_used_at"),
        expires_at=bindparam("s_expires_at"),
        ip=bindparam("s_ip"),
        user_agent=bindparam("s_user_agent"),
        client_id=bindparam("s_client_id"),
        scopes=bindparam("s_scopes"),
        audience=bindparam("s_audience"),
        amr=bindparam("s_amr"),
        refresh_jti=bindparam("s_refresh_jti"),
        refresh_iat=bindparam("s_refresh_iat"),
        refresh_exp=bindparam("s_refresh_exp"),
        replay_recorded=False,  # the ORM's default, which a compiled statement does not apply
    )
)
# PostgreSQL: the status index, the row and its login event in one statement (`_open_recorded`).
_OPENED = (
    _OPEN.stmt.values(status_idx=Sequence("status_index_seq").next_value())
    .returning(_sessions.c.status_idx)
    .cte("opened")
)
_OPEN_RECORDED = probe.Statement(
    select(_OPENED.c.status_idx).add_cte(audit.insert_for_each(_OPENED).cte("recorded"))
)
_LOGIN_USER = probe.Statement(
    select(
        _users.c.id,
        _users.c.password_hash,
        _users.c.scopes,
        _users.c.is_admin,
        _users.c.is_active,
        _users.c.totp_enabled,
        # the key to sign the pair with, read with the user (one round trip, not two)
        current_kid().label("signing_kid"),
    ).where(_users.c.email == bindparam("email"))
)


def _login(email: str, password: str, totp_code: str | None, client: Client) -> TokenPair:
    """Check the password (the same argon2id work for unknown emails), then the second factor.

    A login that changes nothing of the user is read and written off the ORM session (the
    `probe`, as a refresh is): its CPU beyond argon2id was mostly the ORM's bookkeeping.
    """
    s = settings()
    now = clock.now()
    found = probe.first(
        _LOGIN_USER, {"email": normalize_email(email), **keystore().signing_params()}
    )
    password_ok = passwords.verify(found.password_hash if found else None, password, s.hash_params)
    if found is None or not password_ok or not found.is_active:
        with transaction():
            audit.record(
                "login.failed",
                client=client,
                user_id=found.id if found else None,
                reason="inactive" if password_ok else "credentials",
            )
        raise InvalidCredentials()
    if found.totp_enabled or passwords.needs_rehash(found.password_hash, s.hash_params):
        return _login_in_session(found.id, password, totp_code, client, now, found.signing_kid)
    key = keystore().signing_key_named(found.signing_kid)
    session_id = new_id()
    row = new_session(session_id, found.id, now, client, amr="pwd")
    event = audit.insert_params(
        "login.succeeded", client=client, user_id=found.id, session_id=session_id
    )
    status_idx = _open_recorded(row, event)
    audit.counted(event)
    # Signed after the commit, as the tokens carry the index the write took; signing reads
    # nothing and writes nothing.
    return first_pair(row, effective_scopes(found.scopes, found.is_admin), status_idx, key)


def _login_in_session(
    user_id: str,
    password: str,
    totp_code: str | None,
    client: Client,
    now: datetime,
    signing_kid: str | None,
) -> TokenPair:
    """A login that writes the user's row too, in the ORM transaction of its session: a TOTP
    code is spent, or the password's hash is made again with the current parameters."""
    s = settings()
    key = keystore().signing_key_named(signing_kid)  # may make the first key: before the code
    user = db.session.get_one(User, user_id)  # users are deactivated, never deleted
    try:
        two_factor.check_login(user, totp_code, client)
    except (MfaRequired, InvalidTotp) as exc:
        db.session.rollback()  # a code spent by this login is unspent again
        with transaction():
            audit.record(
                "login.failed",
                client=client,
                user_id=user_id,
                reason="mfa_required" if isinstance(exc, MfaRequired) else "totp",
            )
        raise
    with transaction():
        if passwords.needs_rehash(user.password_hash, s.hash_params):
            user.password_hash = passwords.hash_password(password, s.hash_params)
        session_id = new_id()
        amr = "pwd otp" if user.totp_enabled else "pwd"
        pair = open_session(
            new_session(session_id, user.id, now, client, amr=amr),
            user.effective_scopes,
            key,
        )
        audit.record("login.succeeded", client=client, user_id=user.id, session_id=session_id)
    return pair


def _open_recorded(row: dict[str, Any], event: dict[str, Any]) -> int:
    """A new session's row (`new_session`) and its audit event, as one transaction of
    statements only (as `_rotate` writes); answers the session's status index, taken in it.
    PostgreSQL: one statement in autocommit, one round trip (`WITH opened AS (INSERT ...
    nextval(...) RETURNING status_idx), recorded AS (INSERT ...) SELECT status_idx FROM
    opened`); SQLite: `BEGIN IMMEDIATE`, the counter row, both INSERTs, COMMIT. Both rows
    are written or neither; an index whose rows are not written is never handed out again."""
    if db.engine.dialect.name == "postgresql":
        return int(probe.write_alone_first(_OPEN_RECORDED, {**row, **event}).status_idx)
    with probe.writing() as write:
        status_idx = status_lists.allocate_in(write)
        write.run(_OPEN, {**row, "s_status_idx": status_idx})
        write.run(audit.INSERT, event)
    return status_idx


def new_session(
    session_id: str,
    user_id: str,
    now: datetime,
    client: Client,
    *,
    amr: str | None,
    oauth_client_id: str | None = None,
    granted: list[str] | None = None,
    audience: str | None = None,
    refreshable: bool = True,
) -> dict[str, Any]:
    """A new session's row as `_OPEN`'s parameters, but its status index (`s_status_idx`,
    taken by the write): CPU only. The one place a session is made, for a password login
    (`_open_recorded`) and an OAuth code exchange (`open_session`) alike.

    The row chooses its first refresh token's jti, iat and exp, so it can be written before
    the pair is signed (`first_pair`): the write needs the status index the tokens carry,
    and holds its lock for its statements only. `granted` is what an OAuth consent allowed
    (None: the user's own scopes, read at every refresh); without `refreshable` the row
    keeps no refresh token, since none is handed out.
    """
    iat, exp = _refresh_times(now)
    return {
        "s_id": session_id,
        "s_user_id": user_id,
        "s_created_at": now,
        "s_last_used_at": now,
        "s_expires_at": now + settings().refresh_ttl,
        "s_ip": client.ip,
        "s_user_agent": client.user_agent,
        "s_client_id": oauth_client_id,
        "s_scopes": granted,
        "s_audience": audience,
        "s_amr": amr,
        "s_refresh_jti": tokens.new_jti() if refreshable else None,
        "s_refresh_iat": iat if refreshable else None,
        "s_refresh_exp": exp if refreshable else None,
    }


def first_pair(
    row: dict[str, Any], scopes: list[str], status_idx: int, key: tokens.Key | None = None
) -> TokenPair:
    """The first pair of the session `row` (`new_session`), signed as of its creation: its
    refresh token is the one the row keeps."""
    pair, _ = mint(
        row["s_id"],
        row["s_user_id"],
        scopes,
        row["s_created_at"],
        client_id=row["s_client_id"],
        audience=row["s_audience"],
        status_idx=status_idx,
        key=key,
        refresh_jti=row["s_refresh_jti"],
    )
    return pair


def open_session(
    row: dict[str, Any], scopes: list[str], key: tokens.Key | None = None
) -> TokenPair:
    """The session `row` (`new_session`) written in the caller's ORM transaction, its status
    index taken there, and its first pair."""
    status_idx = status_lists.allocate()
    db.session.execute(_OPEN.stmt, {**row, "s_status_idx": status_idx})
    return first_pair(row, scopes, status_idx, key)


_REFRESH_STATE = (
    select(
        _sessions.c.revoked_at,
        _sessions.c.refresh_jti,
        _sessions.c.refresh_iat,
        _sessions.c.refresh_exp,
        _sessions.c.previous_refresh_jti,
        _sessions.c.rotated_at,
        _sessions.c.replay_recorded,
        _sessions.c.reuse_recorded_at,
        _sessions.c.client_id,
        _sessions.c.scopes.label("granted"),
        _sessions.c.audience,
        _sessions.c.status_idx,
        User.is_active,
        User.is_admin,
        User.scopes,
        # the key to sign the new pair with, and whether the presented token's key is still
        # published, read with the state (one round trip, not three)
        current_kid().label("signing_kid"),
        published_column(),
    )
    .join(User, User.id == _sessions.c.user_id)
    .where(_sessions.c.id == bindparam("sid"), _sessions.c.user_id == bindparam("sub"))
)
# Rotation: a compare-and-swap on the current jti. Of concurrent rotations of one token, in
# any number of processes or hosts, exactly one matches; a revocation committed first
# (revoked_at set) makes it match nothing. Also the session's one write per refresh.
_ROTATE = (
    update(_sessions)
    .where(
        _sessions.c.id == bindparam("b_sid"),
        _sessions.c.refresh_jti == bindparam("b_jti"),
        _sessions.c.revoked_at.is_(None),
    )
    .values(
        refresh_jti=bindparam("b_new_jti"),
        refresh_iat=bindparam("b_iat"),
        refresh_exp=bindparam("b_exp"),
        previous_refresh_jti=bindparam("b_jti"),
        rotated_at=bindparam("b_now"),
        replay_recorded=False,
        last_used_at=bindparam("b_now"),
        expires_at=bindparam("b_expires_at"),
        ip=func.coalesce(bindparam("b_ip"), _sessions.c.ip),
    )
)
# The first replay of a successor's predecessor claims the audit event; later ones find it taken.
_CLAIM_REPLAY = (
    update(_sessions)
    .where(
        _sessions.c.id == bindparam("b_sid"),
        _sessions.c.refresh_jti == bindparam("b_jti"),
        _sessions.c.replay_recorded == false(),
    )
    .values(replay_recorded=True)
)
# Reuse: revoke the session (if still open) and claim its one reuse event.
_CLAIM_REUSE = (
    update(_sessions)
    .where(_sessions.c.id == bindparam("b_sid"), _sessions.c.reuse_recorded_at.is_(None))
    .values(
        reuse_recorded_at=bindparam("b_now"),
        revoked_at=func.coalesce(_sessions.c.revoked_at, bindparam("b_now")),
    )
)
_REFRESH_STATE_PROBE = probe.Statement(_REFRESH_STATE)
_ROTATE_PROBE = probe.Statement(_ROTATE)
# PostgreSQL: the swap and its audit event in one statement (`_rotate`).
_ROTATE_RECORDED = probe.Statement(
    audit.insert_for_each(_ROTATE.returning(_sessions.c.id).cte("rotated"))
)
_ATTEMPTS = 3  # a failed swap re-reads: the token is then the predecessor, or the session is closed


def refresh(refresh_token: str, client: Client, *, client_id: str | None = None) -> TokenPair:
    """POST /auth/refresh, the console's cookie refresh and the OAuth refresh_token grant:
    verify, then `refresh_session`. The token's key is taken as this process opened it; whether it is still published is
    read with the session's state (`_try_refresh`), as the verify path does."""
    return refresh_session(verify_opened(refresh_token, {"refresh"}), client, client_id=client_id)


def refresh_session(
    v: tokens.Verified, client: Client, *, client_id: str | None = None
) -> TokenPair:
    """Rotate the refresh token `v` of its session, or answer a retry, or detect reuse.

    `v` is a verified refresh token (signature, typ, claims, time): the JSON API and the
    console verify a refresh JWT; an OAuth `refresh_token` grant verifies its own and
    calls this, so one set of rules holds for all of them. `client_id` is the OAuth client
    presenting the token (None: first party); a refresh token of another client's session is
    refused (`wrong_type`) before anything is written.

    - `v` is the session's current token: swap in a new one (compare-and-swap on the
      current jti; the new pair is signed before the write, so the write lock is held
      only for one UPDATE and one audit INSERT).
    - `v` is its immediate predecessor and the rotation is less than
      AUTHSVC_REFRESH_REUSE_WINDOW old: the same successor (same jti, iat, exp), signed
      again, and a fresh access token. No write, but once per successor for the audit.
    - any other token of the session: reuse; the session is revoked.

    A session closed by logout, revocation or a password change refuses every token
    (`revoked`, or `reused` for a spent one); a deactivated user's `inactive_user`.
    Every token of the pair names the session, and every use reads the session and the
    user, so whatever commits a revocation first, the pair from a refresh racing it
    does not work.
    """
    if v.sid is None:  # pragma: no cover - decode requires sid on refresh tokens
        raise tokens.Malformed()
    for _ in range(_ATTEMPTS):
        pair = _try_refresh(v, v.sid, client, client_id)
        if pair is not None:
            return pair
    raise tokens.Revoked()  # pragma: no cover - three swaps lost in a row to one token


def _try_refresh(
    v: tokens.Verified, sid: str, client: Client, client_id: str | None
) -> TokenPair | None:
    """One read and at most one decision; None when a concurrent rotation won the swap."""
    s = settings()
    # Outside any transaction (probe): the write below is one short transaction of its own.
    state = probe.first(
        _REFRESH_STATE_PROBE,
        {"sid": sid, "sub": v.sub, **key_params(v), **keystore().signing_params()},
    )
    now = clock.now()  # after the read: a rotation this read sees is never in our future
    if state is None:
        raise unless_key_gone(v, tokens.Revoked())
    if not state.key_published:
        raise tokens.UnknownKey()
    if state.client_id != client_id:
        raise tokens.WrongType("This refresh token was issued to another client.")
    current = v.jti == state.refresh_jti
    # Window 0 is strict single use, whatever the clocks of concurrent requests say.
    replay = (
        bool(s.refresh_reuse_window)
        and v.jti == state.previous_refresh_jti
        and state.rotated_at is not None
        and now < _aware(state.rotated_at) + s.refresh_reuse_window
    )
    if state.revoked_at is not None:
        if current or replay:
            raise tokens.Revoked()  # closed on purpose: a retry is no alarm
        _reuse_detected(v, state, client, now)
    if not state.is_active:  # a suspension: nothing is spent or revoked, as before
        raise tokens.InactiveUser()
    if not current and not replay:
        _reuse_detected(v, state, client, now)
    scopes = session_scopes(state.granted, effective_scopes(state.scopes, state.is_admin))
    if replay:
        return _replay(v, sid, state, scopes, client, now)

    pair, claims = mint(
        sid,
        v.sub,
        scopes,
        now,
        client_id=state.client_id,
        audience=state.audience,
        status_idx=state.status_idx,
        key=keystore().signing_key_named(state.signing_kid),
    )
    event = audit.insert_params(
        "token.refreshed",
        client=client,
        user_id=v.sub,
        session_id=sid,
        **({"client_id": client_id} if client_id else {}),
    )
    # Signed and built before: the write holds its locks for the two writes only.
    swapped = _rotate(
        {
            "b_sid": sid,
            "b_jti": v.jti,
            "b_new_jti": claims["jti"],
            "b_iat": claims["iat"],
            "b_exp": claims["exp"],
            "b_now": now,
            "b_ip": client.ip,
            "b_expires_at": now + s.refresh_ttl,
        },
        event,
    )
    if not swapped:  # rotated by a concurrent refresh, or closed: read again
        return None
    audit.counted(event)
    return pair


def _rotate(swap: dict[str, Any], event: dict[str, Any]) -> bool:
    """The compare-and-swap and, if it matched, its audit event, as one transaction.

    PostgreSQL: one statement (`WITH rotated AS (UPDATE ...) INSERT ... SELECT ... FROM
    rotated`) in autocommit, one round trip where BEGIN, UPDATE, INSERT and COMMIT took four.
    The UPDATE's row lock and its re-check of `refresh_jti` and `revoked_at` against the
    latest committed row (READ COMMITTED) are those of the plain UPDATE, so of concurrent
    rotations exactly one matches and a revocation committed first makes it match nothing.
    SQLite has no writes in a CTE and no round trips: `BEGIN IMMEDIATE`, both statements,
    COMMIT. True if this request rotated the token (the event is then written with it).
    """
    if db.engine.dialect.name == "postgresql":
        return probe.write_alone(_ROTATE_RECORDED, {**swap, **event}) == 1
    with probe.writing() as write:
        if write.run(_ROTATE_PROBE, swap) != 1:
            return False
        write.run(audit.INSERT, event)
    return True


def _replay(
    v: tokens.Verified, sid: str, state: Any, scopes: list[str], client: Client, now: datetime
) -> TokenPair:
    """The predecessor within the window: the stored successor, re-signed, and a new access token."""
    s = settings()
    key = keystore().signing_key_named(state.signing_kid)
    refresh, _ = _sign_refresh(
        sid,
        v.sub,
        scopes,
        iat=state.refresh_iat,
        exp=state.refresh_exp,
        jti=state.refresh_jti,
        client_id=state.client_id,
        status_idx=status_lists.index_of(v.claims),  # the same successor: the same claims
        key=key,
    )
    access = _sign_access(
        sid,
        v.sub,
        scopes,
        now,
        client_id=state.client_id,
        audience=state.audience,
        status_idx=state.status_idx,
        key=key,
    )
    if not state.replay_recorded:
        with transaction():
            claimed = db.session.execute(_CLAIM_REPLAY, {"b_sid": sid, "b_jti": state.refresh_jti})
            if rowcount(claimed) == 1:
                audit.record(
                    "token.refresh_replayed",
                    client=client,
                    user_id=v.sub,
                    session_id=sid,
                    jti=state.refresh_jti,
                )
    return TokenPair(access, refresh, int(s.access_ttl.total_seconds()), scope=format_scope(scopes))


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes from Core selects; they are UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _reuse_detected(v: tokens.Verified, state: Any, client: Client, now: datetime) -> NoReturn:
    """A spent refresh token came back: revoke its session, record it once, refuse.

    Only the first reuse of a session writes (the revocation and one audit event); any
    later replay of its spent tokens, an anonymous request, is answered the same and
    writes nothing, so it cannot grow a table.
    """
    if state.reuse_recorded_at is None:
        with transaction():
            claimed = db.session.execute(_CLAIM_REUSE, {"b_sid": v.sid, "b_now": now})
            if rowcount(claimed) == 1:
                audit.record(
                    "refresh.reuse_detected",
                    client=client,
                    user_id=v.sub,
                    session_id=v.sid,
                    jti=v.jti,
                )
    raise tokens.Reused()


def revoke_sessions(user_id: str, *, only: str | None = None, keep: str | None = None) -> int:
    stmt = update(LoginSession).where(
        LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None)
    )
    if only is not None:
        stmt = stmt.where(LoginSession.id == only)
    if keep is not None:
        stmt = stmt.where(LoginSession.id != keep)
    return rowcount(db.session.execute(stmt.values(revoked_at=clock.now())))


def logout(principal: Principal, client: Client) -> None:
    with transaction():
        revoke_sessions(principal.user_id, only=principal.session_id)
        audit.record(
            "logout", client=client, user_id=principal.user_id, session_id=principal.session_id
        )


def list_sessions(principal: Principal) -> list[dict[str, object]]:
    return live_sessions(principal.user_id, current=principal.session_id)


def live_sessions(user_id: str, *, current: str | None) -> list[dict[str, object]]:
    """Newest first; `current` marks the caller's own session (an admin's list too)."""
    rows = db.session.scalars(
        select(LoginSession)
        .where(
            LoginSession.user_id == user_id,
            LoginSession.revoked_at.is_(None),
            LoginSession.expires_at > clock.now(),
        )
        .order_by(LoginSession.created_at.desc())
    )
    return [
        {
            "id": r.id,
            "created_at": r.created_at,
            "last_used_at": r.last_used_at,
            "user_agent": r.user_agent,
            "ip": r.ip,
            "current": r.id == current,
        }
        for r in rows
    ]


def revoke_session(principal: Principal, session_id: str, client: Client) -> None:
    owner = db.session.scalar(select(LoginSession.user_id).where(LoginSession.id == session_id))
    if owner != principal.user_id:
        raise NotFound()
    with transaction():
        revoke_sessions(principal.user_id, only=session_id)
        audit.record(
            "session.revoked", client=client, user_id=principal.user_id, session_id=session_id
        )


def revoke_all_sessions(principal: Principal, client: Client) -> None:
    with transaction():
        count = revoke_sessions(principal.user_id)
        audit.record("session.revoked_all", client=client, user_id=principal.user_id, count=count)


def revoke_token(token: str, client: Client, *, oauth_client: str | None = None) -> None:
    """RFC 7009: whoever holds a token may kill it; an invalid token is quietly ignored.

    Anonymous, so it must not grow a table on repetition: a revocation that changes nothing
    (an already revoked jti, session or private token) writes nothing, audit event included.
    An OAuth client that authenticated (`oauth_client`) may revoke only tokens issued to it;
    another's is ignored the same way, so the answer tells it nothing.
    """
    try:
        v = verify(token, tokens.KINDS.keys())
    except tokens.InvalidToken:
        return
    if oauth_client is not None and v.claims.get("client_id") != oauth_client:
        return
    now = clock.now()
    with transaction():
        if v.kind == "access":
            index = status_lists.index_of(v.claims)
            inserted = db.session.execute(
                insert_revoked_jti(),
                {
                    "jti": v.jti,
                    "revoked_at": now,
                    "expires_at": datetime.fromtimestamp(v.claims["exp"], now.tzinfo),
                    "status_idx": index,
                },
            ).first()
            changed = 0 if inserted is None else 1
            if changed:  # the index is now revoked: the holder's later tokens take a fresh one
                if is_client_token(v):  # a client_credentials token: its index is the client's
                    status_lists.move_client(v.sub, index)
                elif v.sid is not None:
                    status_lists.move_session(v.sid, index)
        elif v.kind == "refresh":
            changed = revoke_sessions(v.sub, only=v.sid)
        else:
            changed = rowcount(
                db.session.execute(
                    update(PrivateToken)
                    .where(PrivateToken.jti == v.jti, PrivateToken.revoked_at.is_(None))
                    .values(revoked_at=now)
                )
            )
        if changed != 1:  # nothing changed: nothing is written, no event
            return
        team = team_of(v)
        if team is not None:  # a team key: no user; the event names the team
            audit.record("token.revoked", client=client, kind=v.kind, jti=v.jti, team_id=team)
        else:
            audit.record("token.revoked", client=client, user_id=v.sub, kind=v.kind, jti=v.jti)


def insert_revoked_jti() -> Any:
    """INSERT of a revoked jti that does nothing (returns no row) when it is already there, so
    two concurrent revocations of one token write one row and one audit event. (RETURNING,
    not rowcount: psycopg reports -1 for an INSERT … ON CONFLICT.)"""
    table = RevokedToken.__table__
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return (
            pg_insert(table).on_conflict_do_nothing(index_elements=["jti"]).returning(table.c.jti)
        )
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return (
        sqlite_insert(table).on_conflict_do_nothing(index_elements=["jti"]).returning(table.c.jti)
    )


def prune() -> dict[str, int]:
    """Delete what can no longer matter: revoked jtis and sessions past expiry + leeway.

    A token is accepted until `exp + leeway` (`tokens.decode`), so its revocation must outlive
    that moment: pruned at `exp`, a revoked access token would work again for the leeway's
    seconds. A session expires with its current refresh token (each rotation moves both), and
    its access tokens are older; past the leeway no token of it can be accepted any more.
    """
    from authsvc.services.failure_log import DatabaseFailureLog
    from authsvc.services.use_counts import DatabaseUseCounter

    cutoff = clock.now() - timedelta(seconds=settings().leeway)
    with transaction():
        revoked = db.session.execute(delete(RevokedToken).where(RevokedToken.expires_at <= cutoff))
        ended = db.session.execute(delete(LoginSession).where(LoginSession.expires_at <= cutoff))
    failures = DatabaseFailureLog(db.engine).sweep(
        now=clock.now().timestamp(), window=settings().login_window
    )
    use_counts = DatabaseUseCounter(db.engine).sweep(now=clock.now().timestamp())
    return {
        "revoked_tokens": rowcount(revoked),
        "sessions": rowcount(ended),
        "login_failures": failures,
        "key_use_counts": use_counts,
    }
