"""The per-account failed-login lockout, counted per normalised email.

Counted whether or not the account exists, so a lockout says nothing about which
emails are real. A locked email gets `429` before any password work, right password
or not, until the oldest failure that keeps it locked leaves the window
(`AUTHSVC_LOGIN_WINDOW`, on the service clock). A successful login clears the count.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import select

from authsvc.core import clock
from authsvc.core.errors import InvalidCredentials, InvalidTotp, RateLimited
from authsvc.core.principal import Client
from authsvc.extensions import db
from authsvc.models import AuditEvent, User, new_id
from authsvc.services import audit
from authsvc.services.failure_log import BUSY
from authsvc.services.runtime import failure_log, settings
from authsvc.services.transaction import transaction

FAILURES = (InvalidCredentials, InvalidTotp)
BUSY_WAIT = 5.0  # seconds an attempt queues behind others' pending ones before a 429
_POLL = 0.01


def _key(prefix: str, email: str) -> str:
    return f"{prefix}lockout:{hashlib.sha256(email.encode()).hexdigest()}"


def _note_locked_out(email: str, client: Client, window: int) -> None:
    """Audit a refusal while locked once per lock, not once per request.

    Refusals are anonymous and may come as fast as the address limit lets them: a row each
    would let anyone grow the audit log at will. A lock lasts at most one window, so one
    `locked_out` event per account per window records every lock. For an email without an
    account (no user to name) it is one per client address per window.
    """
    user_id = db.session.scalar(select(User.id).where(User.email == email))
    since = clock.now() - timedelta(seconds=window)
    same = (
        [AuditEvent.user_id == user_id]
        if user_id is not None
        else [AuditEvent.user_id.is_(None), AuditEvent.ip == client.ip]
    )
    recent = db.session.scalars(
        select(AuditEvent.detail)
        .where(AuditEvent.type == "login.failed", AuditEvent.at >= since, *same)
        .order_by(AuditEvent.id.desc())
        .limit(500)
    )
    if any(isinstance(d, dict) and d.get("reason") == "locked_out" for d in recent):
        db.session.rollback()  # end the read: nothing to write
        return
    with transaction():
        audit.record("login.failed", client=client, user_id=user_id, reason="locked_out")


@contextmanager
def attempt(email: str, client: Client) -> Iterator[None]:
    """Guard one password (or code) check for the normalised `email`.

    A slot is reserved before the check, so parallel guesses cannot all slip in under
    the limit; it becomes a failure when the body raises `InvalidCredentials` or
    `InvalidTotp`, is given back on any other outcome (a missing TOTP code is not a
    guess), and a success clears the count.
    """
    s = settings()
    log, prefix = failure_log()
    key, member = _key(prefix, email), new_id()
    deadline = time.monotonic() + BUSY_WAIT
    while (
        wait := log.reserve(
            key, member, now=clock.now().timestamp(), window=s.login_window, limit=s.login_failures
        )
    ) == BUSY:
        if time.monotonic() >= deadline:
            raise RateLimited(1)
        time.sleep(_POLL)
    if wait is not None:
        _note_locked_out(email, client, s.login_window)
        raise RateLimited(math.ceil(wait))
    outcome = "other"
    try:
        yield
        outcome = "success"
    except FAILURES:
        outcome = "failure"
        raise
    finally:
        if outcome == "success":
            log.succeed(key, member)
        elif outcome == "failure":
            log.fail(key, member, window=s.login_window)
        else:
            log.release(key, member)
