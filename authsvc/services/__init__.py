"""Use cases. Each public function is one thing a client asks for, and owns its commit."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Client:
    """Who is asking, as far as the network says: kept in sessions and audit events.

    Made storable here, once: no NUL (PostgreSQL text refuses it), cut to its column's size.
    """

    ip: str | None = None
    user_agent: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "ip", _storable(self.ip, 64))
        object.__setattr__(self, "user_agent", _storable(self.user_agent, 512))


def _storable(value: str | None, length: int) -> str | None:
    return value.replace("\x00", "")[:length] or None if value else None
