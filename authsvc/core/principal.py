"""Who is calling: the `Principal` a verified token stands for, and the network `Client`.

Plain values, so that use cases, the web layer and the verifier pass them around without
importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Budget:
    """A rate-limited key's window after this use (`X-RateLimit-*`)."""

    limit: int
    remaining: int
    reset_after: int


@dataclass(frozen=True)
class Principal:
    user_id: str
    email: str
    is_admin: bool
    kind: str
    jti: str
    session_id: str | None
    scopes: tuple[str, ...]
    issued_at: datetime
    expires_at: datetime
    claims: dict[str, Any]
    team_id: str | None = None  # a team key: `user_id` is then "team:<team_id>", no user
    budget: Budget | None = None  # a key with a rate limit: what this use left of the window

    @property
    def owner_type(self) -> str:
        return "team" if self.team_id else "user"


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
