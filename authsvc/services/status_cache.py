"""The signed Token Status Lists of one app, kept between requests (see status_lists)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Signed:
    version: int | None
    lst: str
    kid: str
    ttl: int
    token: str
    renew_after: float  # service-clock timestamp: re-sign (same lst) from then on


@dataclass
class SignedLists:
    """The signed list per (list, version) of one app (`Runtime.status_lists`): a fetch of
    an unchanged list is the probe and these bytes. A new version is built once, by one
    request (the others wait for it), from statuses read after the version: they are at
    least as new as the version says, never older."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    build_locks: dict[int, threading.Lock] = field(default_factory=dict)
    signed: dict[int, Signed] = field(default_factory=dict)
    builds: int = 0

    def build_lock(self, list_id: int) -> threading.Lock:
        with self.lock:
            return self.build_locks.setdefault(list_id, threading.Lock())
