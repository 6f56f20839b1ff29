"""Rate limits: the `limits` library's notation, and its moving window counted in one process.

Settings and private tokens write limits in the `limits` library's notation ("50 per
minute", "10/2 hours; 100/day"). It is read here, not by `limits`, so that a worker without
Redis never imports that package: its import brings its asyncio half with `deprecated` and
`wrapt` (1.5 MB per worker), and its memory storage starts a timer thread on every hit
(about 0.4 ms per login under gevent; docs/performance.md, "Fourth round").
tests/unit/test_rates.py holds both readers of the notation to the same answers.
With Redis, the shared counts stay `limits`' own (authsvc.web.ratelimit).
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Sequence
from typing import NamedTuple

UNIT_SECONDS = {
    "second": 1,
    "minute": 60,
    "hour": 3600,
    "day": 86400,
    "month": 86400 * 30,
    "year": 86400 * 360,
}
_ONE = r"\s*([0-9]+)\s*(?:/|\s*per\s*)\s*([0-9]+)?\s*([a-z]+)\s*"
_ONE_MATCH = re.compile(_ONE, re.IGNORECASE)
# `:?` as `limits` writes it: an optional colon before a separator is accepted there too.
_MANY = re.compile(rf"^{_ONE}(:?[,;|]{_ONE})*$", re.IGNORECASE)
_SEPARATORS = re.compile(r"[,;|]")


class Rate(NamedTuple):
    """At most `amount` uses per `multiples` `unit`s."""

    amount: int
    multiples: int
    unit: str

    @property
    def seconds(self) -> int:
        return UNIT_SECONDS[self.unit] * self.multiples


def parse_many(text: str) -> list[Rate]:
    """Every limit in `text`; `ValueError` where `limits.parse_many` raises one."""
    if not _MANY.match(text):
        raise ValueError(f"not a rate limit: {text!r}")
    found = []
    for part in _SEPARATORS.split(text):
        match = _ONE_MATCH.match(part)
        if match:
            amount, multiples, unit = match.groups()
            found.append(Rate(int(amount), int(multiples or 1) or 1, _unit(unit)))
    return found


def parse(text: str) -> Rate:
    """The first limit in `text`."""
    return parse_many(text)[0]


def _unit(word: str) -> str:
    lower = word.lower()
    unit = lower[:-1] if lower.endswith("s") else lower
    if unit not in UNIT_SECONDS:
        raise ValueError(f"not a unit of time: {word!r}")
    return unit


class MovingWindow:
    """Uses per key in the last `rate.seconds`, exactly, for one process.

    A key keeps the times of its counted uses, at most `amount` per rate (a refused use is
    not kept), so memory is bounded by the limit, not the traffic; keys left empty are
    dropped once a minute. `now` comes from the caller: a monotonic clock in production.
    """

    SWEEP_EVERY = 60.0

    def __init__(self) -> None:
        self._uses: dict[tuple[str, Rate], deque[float]] = {}
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    def hit(self, key: str, rates: Sequence[Rate], now: float) -> float | None:
        """Count one use of `key` against every rate it is under: None when all allow it,
        else the seconds until the fullest one frees a use (a rate that allowed it still
        counts it, as `limits`' strategy does)."""
        waits = []
        with self._lock:
            if now >= self._next_sweep:
                self._sweep(now)
            for rate in rates:
                uses = self._uses.get((key, rate))
                if uses is None:
                    uses = self._uses[(key, rate)] = deque()
                start = now - rate.seconds
                while uses and uses[0] <= start:
                    uses.popleft()
                if len(uses) < rate.amount:
                    uses.append(now)
                else:
                    waits.append(uses[0] + rate.seconds - now)
        return max(waits) if waits else None

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + self.SWEEP_EVERY
        for (key, rate), uses in list(self._uses.items()):
            if not uses or uses[-1] <= now - rate.seconds:
                del self._uses[(key, rate)]
