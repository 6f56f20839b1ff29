"""Use cases. Each public function is one thing a client asks for, and owns its commit."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Client:
    """Who is asking, as far as the network says: kept in sessions and audit events."""

    ip: str | None = None
    user_agent: str | None = None
