"""The per-app objects the use cases need: typed settings, the key store, the failure log.

The web layer makes one `Runtime` per app and activates it for every app context it
pushes (`activate` / `deactivate`), so use cases reach it without importing Flask. Tests
run several apps in one process; each context sees its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field

from authsvc.config import Settings
from authsvc.services.failure_log import FailureLog
from authsvc.services.keystore import KeyStore
from authsvc.services.status_cache import SignedLists
from authsvc.services.use_counts import MemoryUseCounter, UseCounter


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    keystore: KeyStore
    failure_log: FailureLog
    key_prefix: str
    # OpenID Connect id_token keys by algorithm (RS256, ES256): stores of their own.
    id_keystores: Mapping[str, KeyStore] = field(default_factory=dict)
    # Per-key rate limits (issue 22): the same storage as the failure log.
    use_counter: UseCounter = field(default_factory=MemoryUseCounter)
    status_lists: SignedLists = field(default_factory=SignedLists)


_active: ContextVar[tuple[Runtime, ...]] = ContextVar("authsvc_runtime", default=())


def activate(runtime: Runtime) -> None:
    _active.set((*_active.get(), runtime))


def deactivate(runtime: Runtime) -> None:
    """Undo the matching `activate`; a context pushed before its runtime existed made none."""
    stack = _active.get()
    if stack and stack[-1] is runtime:
        _active.set(stack[:-1])


def current() -> Runtime:
    stack = _active.get()
    if not stack:
        raise RuntimeError("no authsvc app context: use cases run inside `app.app_context()`")
    return stack[-1]


def settings() -> Settings:
    return current().settings


def keystore() -> KeyStore:
    return current().keystore


def signed_lists() -> SignedLists:
    return current().status_lists


def id_keystore(alg: str) -> KeyStore:
    """The store of the keys that sign id_tokens with `alg` (never access tokens)."""
    return current().id_keystores[alg]


def id_keystores() -> Mapping[str, KeyStore]:
    return current().id_keystores


def use_counter() -> UseCounter:
    return current().use_counter


def failure_log() -> tuple[FailureLog, str]:
    """The failed-login log of the current app and the prefix its keys take."""
    rt = current()
    return rt.failure_log, rt.key_prefix
