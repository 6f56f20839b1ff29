"""Token Status Lists: index allocation, the `status` claim, and each list, derived.

A list's statuses are not a second copy of the revocation state: they are read from the
rows every revocation already writes (a session's or private token's `revoked_at`, the
user's `is_active`, a revoked jti's row). So each revocation and deactivation shows in the
list in the very transaction that makes it (nothing to forget, nothing to roll back apart),
on every host that shares the database. See docs/status-lists.md for the index design.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import BigInteger, and_, or_, select, text, update

from authsvc.core import clock, status_list, tokens
from authsvc.core.errors import NotFound
from authsvc.extensions import db
from authsvc.models import LoginSession, OAuthClient, PrivateToken, RevokedToken, User
from authsvc.services import probe as kept
from authsvc.services.runtime import keystore, settings, signed_lists
from authsvc.services.status_cache import Signed

PATH = "/api/v1/status-lists/"
LIST_LIFETIME = 3600  # a list JWT's exp - iat: verifiers refresh every ttl, long before


def allocate() -> int:
    """A fresh index, never handed out before on any host: a PostgreSQL sequence (outside
    transactions, so concurrent logins never wait on each other), or SQLite's counter row
    (SQLite has one writer at a time anyway). Indices are never reused (docs/status-lists.md)."""
    if db.engine.dialect.name == "postgresql":
        return int(db.session.execute(_NEXTVAL.stmt).scalar_one())
    taken = db.session.execute(_TAKE_SQLITE.stmt).scalar_one()
    return int(taken) - 1


def allocate_in(write: kept.Writer) -> int:
    """SQLite's `allocate` in a `probe.writing` transaction, with the row that holds the index."""
    (taken,) = write.rows(_TAKE_SQLITE, {})
    return int(taken.next_idx) - 1


_NEXTVAL = kept.Statement(
    text("SELECT nextval('status_index_seq') AS next_idx").columns(next_idx=BigInteger)
)
# One statement: the row is (re)created if it is missing (the migration inserts it).
_TAKE_SQLITE = kept.Statement(
    text(
        "INSERT INTO status_index_counter (id, next_idx) VALUES (1, 1) "
        "ON CONFLICT (id) DO UPDATE SET next_idx = next_idx + 1 RETURNING next_idx"
    ).columns(next_idx=BigInteger)
)


def uri(list_id: int) -> str:
    return settings().issuer.rstrip("/") + PATH + str(list_id)


def claim(index: int | None) -> dict[str, Any]:
    """The `status` claim for a token with `index` (none for tokens without one)."""
    if index is None:
        return {}
    list_id, offset = status_list.locate(index)
    return {"status": {"status_list": {"idx": offset, "uri": uri(list_id)}}}


def index_of(claims: dict[str, Any]) -> int | None:
    """The global index a (verified) token of this service carries, if any."""
    ref = (
        claims.get("status", {}).get("status_list")
        if isinstance(claims.get("status"), dict)
        else None
    )
    if not isinstance(ref, dict) or not isinstance(ref.get("idx"), int):
        return None
    tail = str(ref.get("uri", "")).rpartition("/")[2]
    return int(tail) * status_list.LIST_SIZE + ref["idx"] if tail.isdigit() else None


def retire(index: int | None, *, jti: str, expires_at: datetime) -> None:
    """Mark `index` invalid for good (with the jti that was revoked), in the caller's
    transaction: used when the holder of the index lives on (one access token of a session
    revoked, one client_credentials token) and so moves to a fresh index."""
    if index is None:
        return
    db.session.add(
        RevokedToken(jti=jti, expires_at=expires_at, revoked_at=clock.now(), status_idx=index)
    )


def move_session(session_id: str, old: int | None) -> None:
    """The session's later tokens get a new index: the old one is now marked revoked."""
    if old is not None:
        db.session.execute(
            update(LoginSession)
            .where(LoginSession.id == session_id, LoginSession.status_idx == old)
            .values(status_idx=allocate())
        )


def move_client(client_id: str, old: int | None) -> None:
    if old is not None:
        db.session.execute(
            update(OAuthClient)
            .where(OAuthClient.id == client_id, OAuthClient.status_idx == old)
            .values(status_idx=allocate())
        )


def client_index(app: OAuthClient) -> int:
    """The index a client's client_credentials tokens share, allocated at its first one."""
    if app.status_idx is None:
        app.status_idx = allocate()
    return app.status_idx


def statuses(list_id: int) -> dict[int, int]:
    """Every non-zero status in list `list_id`, by index within the list. Holders past
    expiry + leeway are left out: no token of theirs is accepted any more."""
    lo = list_id * status_list.LIST_SIZE
    hi = lo + status_list.LIST_SIZE
    cutoff = clock.now() - timedelta(seconds=settings().leeway)
    found: dict[int, int] = {}
    for holder in (LoginSession, PrivateToken):
        rows = db.session.execute(
            select(holder.status_idx, holder.revoked_at.is_not(None).label("revoked"))
            .outerjoin(User, User.id == holder.user_id)  # a team key (issue 17) may have none
            .where(
                holder.status_idx >= lo,
                holder.status_idx < hi,
                holder.expires_at > cutoff,
                or_(holder.revoked_at.is_not(None), User.is_active.is_(False)),
            )
        )
        for idx, revoked in rows:
            found[cast(int, idx) - lo] = status_list.INVALID if revoked else status_list.SUSPENDED
    retired = db.session.execute(
        select(RevokedToken.status_idx).where(
            and_(
                RevokedToken.status_idx >= lo,
                RevokedToken.status_idx < hi,
                RevokedToken.expires_at > cutoff,
            )
        )
    )
    for (idx,) in retired:
        found[cast(int, idx) - lo] = status_list.INVALID
    return found


def _taken() -> int:
    """How many indices have been handed out (on any host)."""
    if db.engine.dialect.name == "postgresql":
        row = db.session.execute(text("SELECT last_value, is_called FROM status_index_seq")).first()
        return (row.last_value + 1) if row is not None and row.is_called else 0
    taken = db.session.execute(
        text("SELECT next_idx FROM status_index_counter WHERE id = 1")
    ).scalar()
    return int(taken or 0)


def _lists(taken: int) -> int:
    return max(1, -(-int(taken) // status_list.LIST_SIZE))


def all_uris() -> list[str]:
    count = _lists(_taken())
    db.session.rollback()
    return [uri(list_id) for list_id in range(count)]


# The probe every fetch makes, in one round trip on a connection of its own (no ORM session,
# no statement compilation: a 304 is this alone): whether the list exists and its version.
# Triggers (migration 0008) bump a list's version in the transaction of every write that
# changes one of its statuses, so an unchanged version means unchanged statuses.
_PROBES = {
    "postgresql": (
        "SELECT CASE WHEN s.is_called THEN s.last_value + 1 ELSE 0 END, "
        "(SELECT v.version FROM status_list_versions v WHERE v.list_id = %(id)s) "
        "FROM status_index_seq s"
    ),
    "sqlite": (
        "SELECT (SELECT next_idx FROM status_index_counter WHERE id = 1), "
        "(SELECT version FROM status_list_versions WHERE list_id = :id)"
    ),
}


@dataclass(frozen=True)
class Probe:
    exists: bool
    version: int | None  # None until a first status of the list changed


def probe(list_id: int) -> Probe:
    with db.engine.connect() as conn:
        taken, current = conn.exec_driver_sql(
            _PROBES[db.engine.dialect.name], {"id": list_id}
        ).one()
    return Probe(list_id < _lists(taken or 0), current)


def _etag(list_id: int, version: int | None) -> str:
    """A weak validator of the list's statuses: its version, the same on every host."""
    return f'W/"{list_id}.{"0" if version is None else version}"'


@dataclass(frozen=True)
class Rendered:
    etag: str
    token: str | None  # None: the caller's If-None-Match matched (304)
    ttl: int


def render(list_id: int, if_none_match: tuple[str, ...]) -> Rendered:
    """List `list_id` as a signed Status List Token, or only its ETag when it matches.

    An unchanged list costs the probe alone (a 304), or the probe, the signing kid and the
    cached bytes; only a new version, a new signing key or an aging JWT signs again."""
    seen = probe(list_id)
    if not seen.exists:
        raise NotFound()
    ttl = settings().status_list_ttl
    tag = _etag(list_id, seen.version)
    if tag in if_none_match or "*" in if_none_match:
        return Rendered(tag, None, ttl)
    cache = signed_lists()
    now = clock.now()
    key = keystore().signing_key()
    hit = cache.signed.get(list_id)
    if not _usable(hit, seen.version, key.kid, ttl, now):
        with cache.build_lock(list_id):
            hit = cache.signed.get(list_id)
            if not _usable(hit, seen.version, key.kid, ttl, now):
                hit = _sign(list_id, seen.version, key, now, ttl, hit)
                cache.signed[list_id] = hit
    db.session.rollback()  # read only
    assert hit is not None
    return Rendered(tag, hit.token, hit.ttl)


def _usable(hit: Signed | None, current: int | None, kid: str, ttl: int, now: datetime) -> bool:
    return (
        hit is not None
        and hit.version == current
        and hit.kid == kid
        and hit.ttl == ttl
        and now.timestamp() < hit.renew_after
    )


def _sign(
    list_id: int,
    current: int | None,
    key: tokens.Key,
    now: datetime,
    ttl: int,
    old: Signed | None,
) -> Signed:
    """Sign list `list_id` at `current`; the statuses are read (and compressed) again only
    when the version moved, not when only the key or the JWT's age did."""
    if old is not None and old.version == current:
        lst = old.lst
    else:
        lst = status_list.encode_lst(status_list.pack(statuses(list_id)))
        signed_lists().builds += 1
    lifetime = max(LIST_LIFETIME, ttl * 2)
    token = status_list.sign_lst(
        uri=uri(list_id), lst=lst, key=key, now=now, ttl=ttl, lifetime=lifetime
    )
    return Signed(current, lst, key.kid, ttl, token, now.timestamp() + lifetime / 2)
