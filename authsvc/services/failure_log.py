"""A sliding-window log of failed attempts per key: in the database, in Redis, or in this process.

Without Redis the log lives in the database (`login_failures`), which every worker of a
host (and every host over one PostgreSQL) shares: a count kept per process would let
each gunicorn worker allow the limit on its own. Redis, where configured, takes the
load off the database for many hosts. The in-process log is for unit tests only.

The `limits` library's storages read `time.time()` themselves, so a
lockout built on them could not follow the service clock that tests freeze and move.
This log takes `now` from its caller instead.

Each attempt first *reserves* a pending slot, atomically with the check; when it ends
the slot becomes a failure (`fail`), is given back (`release`), or the attempt
succeeded and the key's failures are forgotten (`succeed`). A key is locked while it
has `limit` failures in the window. While failures and pending attempts together fill
the limit, a new attempt is told to wait (`BUSY`): so a burst of parallel guesses can
never be answered beyond the limit, and parallel right answers only queue briefly.
A pending slot older than `PENDING_TTL` seconds (its worker died) stops counting.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy import (
    Integer,
    and_,
    bindparam,
    delete,
    insert,
    or_,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.types import NullType

from authsvc.services import probe

BUSY = -1.0
PENDING_TTL = 60
_SWEEP_EVERY = 1024
SWEEP_BATCH = 100  # rows past the window deleted per reservation (more than it adds: one)


class FailureLog(Protocol):
    def reserve(
        self, key: str, member: str, *, now: float, window: int, limit: int
    ) -> float | None:
        """Take a pending slot and say None; or say `BUSY` (pending attempts fill the limit:
        try again shortly); or, with `limit` failures in the window, how many seconds
        (more than 0) until the oldest of them leaves it."""

    def fail(self, key: str, member: str, *, window: int) -> None:
        """The reserved attempt failed: keep it, at its reservation time, as a failure."""

    def release(self, key: str, member: str) -> None:
        """The reserved attempt was neither a success nor a failure: forget it."""

    def succeed(self, key: str, member: str) -> None:
        """The reserved attempt succeeded: forget it and every failure of `key`."""


class MemoryFailureLog:
    """One process's log: for unit tests (each worker would count alone)."""

    def __init__(self) -> None:
        self._failures: dict[str, list[float]] = {}
        self._pending: dict[str, dict[str, float]] = {}
        self._lock = threading.Lock()
        self._ops = 0

    def reserve(
        self, key: str, member: str, *, now: float, window: int, limit: int
    ) -> float | None:
        with self._lock:
            self._ops += 1
            if self._ops % _SWEEP_EVERY == 0:
                self._sweep(now, window)
            failures = sorted(t for t in self._failures.get(key, []) if t > now - window)
            self._failures[key] = failures
            pending = {m: t for m, t in self._pending.get(key, {}).items() if t > now - PENDING_TTL}
            self._pending[key] = pending
            if len(failures) >= limit:
                return max(failures[len(failures) - limit] + window - now, 1e-6)
            if len(failures) + len(pending) >= limit:
                return BUSY
            pending[member] = now
            return None

    def fail(self, key: str, member: str, *, window: int) -> None:
        with self._lock:
            at = self._pending.get(key, {}).pop(member, None)
            if at is not None:
                self._failures.setdefault(key, []).append(at)

    def release(self, key: str, member: str) -> None:
        with self._lock:
            self._pending.get(key, {}).pop(member, None)

    def succeed(self, key: str, member: str) -> None:
        with self._lock:
            self._pending.get(key, {}).pop(member, None)
            self._failures.pop(key, None)

    def _sweep(self, now: float, window: int) -> None:
        for key in [k for k, v in self._failures.items() if not v or max(v) <= now - window]:
            del self._failures[key]
        for key in [k for k, v in self._pending.items() if not v]:
            del self._pending[key]


class DatabaseBound:
    """A store over an engine given now, later (a callable), or the app's (None), so a store
    built before the app's engine exists still finds it."""

    def __init__(self, engine: Engine | Callable[[], Engine] | None = None) -> None:
        self._engine = engine

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from authsvc.extensions import db

            return db.engine
        return self._engine if isinstance(self._engine, Engine) else self._engine()


class DatabaseFailureLog(DatabaseBound):
    """The log in `login_failures`, shared by every worker and host over one database.

    Each reservation is one short transaction on its own connection (never the request's),
    serialised per key: on PostgreSQL by a transaction-scoped advisory lock on the key, on
    SQLite by beginning as the writer (SQLite has one writer at a time). A key never holds
    more than `limit` live rows (a reservation beyond them is refused); its rows past the
    window are deleted at its next reservation; and every reservation also deletes up to
    `SWEEP_BATCH` rows of any key that are past the window (`SKIP LOCKED`, so the sweep
    never waits for, or deadlocks with, another key's transaction). Rows therefore never
    outlive the window by much, whatever keys an anonymous caller makes up.

    Every login runs a reservation and its end, so their statements are compiled once and
    run on a kept driver connection (`services/probe.py`), like the refresh rotation:
    through SQLAlchemy's connection and execution layers the two transactions cost about
    1.5 ms of CPU per login (docs/performance.md).
    """

    def reserve(
        self, key: str, member: str, *, now: float, window: int, limit: int
    ) -> float | None:
        with probe.writing(self.engine) as tx:
            if tx.dialect.name == "postgresql":
                lock_id = int.from_bytes(
                    hashlib.sha256(key.encode()).digest()[:8], "big", signed=True
                )
                tx.run(_LOCK, {"k": lock_id})
            tx.run(
                _statements()["stale_of_key"],
                {"key": key, "failed_before": now - window, "pending_before": now - PENDING_TTL},
            )
            rows = tx.rows(_statements()["rows_of_key"], {"key": key})
            failures: list[float] = sorted(row.at for row in rows if not row.pending)
            pending = len(rows) - len(failures)
            if len(failures) >= limit:
                return max(failures[len(failures) - limit] + window - now, 1e-6)
            if len(failures) + pending >= limit:
                return BUSY
            tx.run(_statements()["pending"], {"key": key, "member": member, "at": now})
            tx.run(
                _statements()["sweep"],
                {"cutoff": now - max(window, PENDING_TTL), "batch": SWEEP_BATCH},
            )
        return None

    def fail(self, key: str, member: str, *, window: int) -> None:
        with probe.writing(self.engine) as tx:
            tx.run(_statements()["failed"], {"key": key, "member": member})

    def release(self, key: str, member: str) -> None:
        with probe.writing(self.engine) as tx:
            tx.run(_statements()["release"], {"key": key, "member": member})

    def succeed(self, key: str, member: str) -> None:
        with probe.writing(self.engine) as tx:
            tx.run(_statements()["succeeded"], {"key": key, "member": member})

    def sweep(self, *, now: float, window: int) -> int:
        """Delete every row past the window (`flask prune`); returns how many."""
        from authsvc.models import LoginFailure

        t = LoginFailure.__table__
        with self.engine.begin() as conn:
            return conn.execute(delete(t).where(t.c.at <= now - max(window, PENDING_TTL))).rowcount


@functools.cache
def _statements() -> dict[str, probe.Statement]:
    from authsvc.models import LoginFailure

    t = LoginFailure.__table__
    key, member = t.c.key == bindparam("key"), t.c.member == bindparam("member")
    stale = (
        select(t.c.id)
        .where(t.c.at <= bindparam("cutoff"))
        .order_by(t.c.id)
        .limit(bindparam("batch", type_=Integer))
        .with_for_update(skip_locked=True)
    )
    return {
        "stale_of_key": probe.Statement(
            delete(t).where(
                key,
                or_(
                    and_(t.c.pending.is_(False), t.c.at <= bindparam("failed_before")),
                    and_(t.c.pending.is_(True), t.c.at <= bindparam("pending_before")),
                ),
            )
        ),
        # `at` as the driver gives it (a float on both): SQLAlchemy's PostgreSQL float
        # processor wants the column's type code, which a statement compiled once lacks.
        "rows_of_key": probe.Statement(
            select(type_coerce(t.c.at, NullType()).label("at"), t.c.pending).where(key)
        ),
        "pending": probe.Statement(
            insert(t).values(
                key=bindparam("key"), member=bindparam("member"), at=bindparam("at"), pending=True
            )
        ),
        "sweep": probe.Statement(delete(t).where(t.c.id.in_(stale.scalar_subquery()))),
        "failed": probe.Statement(
            update(t).where(key, member, t.c.pending.is_(True)).values(pending=False)
        ),
        "release": probe.Statement(delete(t).where(key, member)),
        "succeeded": probe.Statement(delete(t).where(key, or_(member, t.c.pending.is_(False)))),
    }


_LOCK = probe.Statement(text("SELECT pg_advisory_xact_lock(:k)"))


# KEYS: failures, pending (sorted sets, scores on the caller's clock).
_RESERVE = """
local now, window, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[5]))
local failed = redis.call('ZCARD', KEYS[1])
if failed >= limit then
  return redis.call('ZRANGE', KEYS[1], failed - limit, failed - limit, 'WITHSCORES')[2]
end
if failed + redis.call('ZCARD', KEYS[2]) >= limit then
  return 'busy'
end
redis.call('ZADD', KEYS[2], now, ARGV[4])
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[5]) + 1)
return false
"""
_FAIL = """
local at = redis.call('ZSCORE', KEYS[2], ARGV[1])
if at then
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZADD', KEYS[1], at, ARGV[1])
  redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])) + 1)
end
return false
"""


class RedisFailureLog:
    """A log every worker and host shares: two sorted sets per key, changed by Lua scripts.

    The keys' TTLs (real time) only collect garbage; which entries count is decided by
    their scores, which are the service clock.
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self._reserve = client.register_script(_RESERVE)
        self._fail = client.register_script(_FAIL)

    @staticmethod
    def _keys(key: str) -> list[str]:
        return [f"{key}:failures", f"{key}:pending"]

    def reserve(
        self, key: str, member: str, *, now: float, window: int, limit: int
    ) -> float | None:
        answer = self._reserve(
            keys=self._keys(key), args=[repr(now), window, limit, member, PENDING_TTL]
        )
        if answer is None:
            return None
        if answer == b"busy":
            return BUSY
        return max(float(answer) + window - now, 1e-6)

    def fail(self, key: str, member: str, *, window: int) -> None:
        self._fail(keys=self._keys(key), args=[member, window])

    def release(self, key: str, member: str) -> None:
        self._client.zrem(self._keys(key)[1], member)

    def succeed(self, key: str, member: str) -> None:
        failures, pending = self._keys(key)
        self._client.pipeline().zrem(pending, member).delete(failures).execute()
