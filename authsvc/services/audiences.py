"""The audiences registered OAuth clients may ask for (RFC 8707), known to verification.

Verification runs on every request, so the set is cached per process and re-read from
the database at most once a second when an unknown audience shows up (a client changed
on another host is then known within a second). A removed audience stays accepted for at
most `TTL` seconds; its tokens are still signed by this service and expire as usual.
"""

from __future__ import annotations

import threading

from sqlalchemy import select

from authsvc.core import clock
from authsvc.extensions import db
from authsvc.models import OAuthClient

TTL = 60.0
MISS_INTERVAL = 1.0
_lock = threading.Lock()
_cache: dict[str, tuple[frozenset[str], float]] = {}  # by database URL: tests run several apps


def _key() -> str:
    return str(db.engine.url)


def _load() -> frozenset[str]:
    with db.engine.connect() as conn:
        rows = conn.execute(select(OAuthClient.audiences)).scalars()
        return frozenset(aud for row in rows for aud in (row or []) if isinstance(aud, str))


def known(aud: str) -> bool:
    now = clock.now().timestamp()
    key = _key()
    with _lock:
        cached = _cache.get(key)
    if cached is not None:
        values, loaded = cached
        if aud in values and now - loaded < TTL:
            return True
        if now - loaded < MISS_INTERVAL:
            return False
    values = _load()
    with _lock:
        _cache[key] = (values, now)
    return aud in values


def forget() -> None:
    """Drop the cache (a client's audiences changed in this process)."""
    with _lock:
        _cache.pop(_key(), None)
