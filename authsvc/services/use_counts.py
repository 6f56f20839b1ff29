"""Per-key rate limits (issue 22): the limit's syntax and the counts every worker shares.

A limit is written in the `limits` library's syntax (`1000/hour`, `10 per 2 minutes`) and
counted in fixed windows aligned to the service clock (window `n` covers
`[n * length, (n + 1) * length)`), like GitHub's API limits: one counter per key and
window, so a use costs one atomic increment and the storage a key holds is one row (or
one Redis key) whatever the traffic. Where the lockout's failure log keeps every event,
this would keep up to 1000 rows an hour per key; a counter keeps one.

The counts live where the lockout's do: in Redis when `AUTHSVC_REDIS_URL` is set, else
in the database (`key_use_counts`), shared by every worker and host. `now` comes from the
caller (the service clock), so tests move time as they do for the lockout.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import delete

from authsvc.core import rates
from authsvc.core.errors import ValidationFailed
from authsvc.services.failure_log import DatabaseBound

MAX_WINDOW = 86400  # a day: longer windows would hold a thief's budget for weeks
MAX_AMOUNT = 1_000_000
_UNITS = ("second", "minute", "hour", "day")


def parse_limit(text: str, attr: str = "rate_limit") -> str:
    """The canonical spelling (`5/minute`, `10/2 minutes`) of one limit, or `400 invalid`."""
    try:
        items = rates.parse_many(text)
    except ValueError:
        items = []
    if len(items) != 1:
        raise ValidationFailed.one(
            attr,
            "invalid",
            'One limit in the `limits` syntax, such as "1000/hour" or "10 per 2 minutes".',
        )
    item = items[0]
    unit = item.unit
    if unit not in _UNITS or not 1 <= item.amount <= MAX_AMOUNT or item.seconds > MAX_WINDOW:
        raise ValidationFailed.one(
            attr,
            "invalid",
            f"From 1 to {MAX_AMOUNT} uses per window of one second up to one day.",
            {"max_amount": MAX_AMOUNT, "max_window": MAX_WINDOW},
        )
    if item.multiples == 1:
        return f"{item.amount}/{unit}"
    return f"{item.amount}/{item.multiples} {unit}s"


_PARSED: dict[str, rates.Rate] = {}


def limit_of(text: str) -> rates.Rate:
    """The stored limit, parsed once per process (the hot path reads it on every use)."""
    found = _PARSED.get(text)
    if found is None:
        found = rates.parse(text)
        if len(_PARSED) < 10_000:
            _PARSED[text] = found
    return found


@dataclass(frozen=True)
class Outcome:
    """One counted use: how many the window has left, and when it ends (seconds from now)."""

    limit: int
    remaining: int
    reset_after: int
    exceeded: bool


class UseCounter(Protocol):
    def hit(self, key: str, *, window_start: int, window: int, limit: int) -> int | None:
        """Count one use of `key` in the window starting at `window_start` and say the new
        count; or, when the window already holds `limit` uses, count nothing (write
        nothing) and say None."""


def count(counter: UseCounter, key: str, limit: rates.Rate, now: float) -> Outcome:
    window = limit.seconds
    start = int(now // window) * window
    used = counter.hit(key, window_start=start, window=window, limit=limit.amount)
    reset_after = max(1, math.ceil(start + window - now))
    if used is None:
        return Outcome(limit.amount, 0, reset_after, True)
    return Outcome(limit.amount, max(0, limit.amount - used), reset_after, False)


class MemoryUseCounter:
    """One process's counts: for unit tests (each worker would count alone)."""

    def __init__(self) -> None:
        self._counts: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, *, window_start: int, window: int, limit: int) -> int | None:
        with self._lock:
            start, used = self._counts.get(key, (window_start, 0))
            used = used if start == window_start else 0
            if used >= limit:
                return None
            self._counts[key] = (window_start, used + 1)
            return used + 1


class DatabaseUseCounter(DatabaseBound):
    """Counts in `key_use_counts`, one row per key and window, on a connection of its own.

    The increment is one `INSERT ... ON CONFLICT DO UPDATE ... WHERE count < limit
    RETURNING` (PostgreSQL and SQLite 3.35+), atomic without a lock; at the limit it updates
    nothing and returns no row, so a refused use writes nothing. The first use of a window deletes the key's
    earlier windows, so a key never holds more than two rows; `flask prune` removes the
    rows of keys no longer used.
    """

    @staticmethod
    def _table() -> Any:
        from authsvc.models import KeyUseCount

        return KeyUseCount.__table__

    def hit(self, key: str, *, window_start: int, window: int, limit: int) -> int | None:
        t = self._table()
        with self.engine.begin() as conn:
            stmt = _increment(conn.dialect.name, t, key, window_start, limit)
            found = conn.execute(stmt).scalar_one_or_none()
            if found is None:
                return None
            if found == 1:
                conn.execute(delete(t).where(t.c.key == key, t.c.window_start < window_start))
        return int(found)

    def sweep(self, *, now: float) -> int:
        """Delete every window that has ended (`flask prune`); returns how many rows."""
        t = self._table()
        with self.engine.begin() as conn:
            return conn.execute(delete(t).where(t.c.window_start < int(now) - MAX_WINDOW)).rowcount


def _increment(dialect: str, t: Any, key: str, window_start: int, limit: int) -> Any:
    """`INSERT ... ON CONFLICT DO UPDATE SET count = count + 1 WHERE count < :limit
    RETURNING count`, per dialect."""
    from sqlalchemy.dialects import postgresql, sqlite

    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt: Any = insert(t).values(key=key, window_start=window_start, count=1)
    return stmt.on_conflict_do_update(
        index_elements=[t.c.key, t.c.window_start],
        set_={"count": t.c.count + 1},
        where=t.c.count < limit,
    ).returning(t.c.count)


# KEYS: the window's counter. Nothing is written once it holds ARGV[1] uses.
_HIT = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used >= tonumber(ARGV[1]) then
  return false
end
used = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
return used
"""


class RedisUseCounter:
    """Counts in Redis, one key per key and window, by a Lua script (one round trip, atomic)."""

    def __init__(self, client: Any, prefix: str = "") -> None:
        self._client = client
        self._prefix = prefix
        self._hit = client.register_script(_HIT)

    def hit(self, key: str, *, window_start: int, window: int, limit: int) -> int | None:
        name = f"{self._prefix}keyuse:{key}:{window_start}"
        used = self._hit(keys=[name], args=[limit, window + 1])
        return None if used is None else int(used)
