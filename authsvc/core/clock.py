"""The one time source: every expiry, leeway, TOTP window and lockout reads it.

Tests freeze or move it instead of sleeping, and so see the edges exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

_frozen: datetime | None = None


def now() -> datetime:
    """Aware UTC now, or the frozen instant."""
    return _frozen if _frozen is not None else datetime.now(UTC)


def timestamp() -> int:
    return int(now().timestamp())


def freeze(at: datetime) -> None:
    global _frozen
    if at.tzinfo is None:
        raise ValueError("freeze() needs an aware datetime")
    _frozen = at.astimezone(UTC)


def advance(delta: timedelta | float) -> None:
    if _frozen is None:
        raise RuntimeError("the clock is not frozen")
    freeze(_frozen + (delta if isinstance(delta, timedelta) else timedelta(seconds=delta)))


def unfreeze() -> None:
    global _frozen
    _frozen = None


@contextmanager
def frozen(at: datetime) -> Iterator[None]:
    """Freeze for a block; afterwards the clock is as it was (frozen or not), so blocks nest."""
    global _frozen
    before = _frozen
    freeze(at)
    try:
        yield
    finally:
        _frozen = before
