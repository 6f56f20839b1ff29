"""clock: the one time source; frozen, moved and released by tests, always aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from authsvc.core import clock
from tests.helpers import T0


def test_real_time_is_aware_utc_and_moves_forward() -> None:
    before = datetime.now(UTC)
    now = clock.now()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)
    assert before <= now <= datetime.now(UTC)
    assert abs(clock.timestamp() - int(datetime.now(UTC).timestamp())) <= 1


def test_freeze_holds_still() -> None:
    clock.freeze(T0)
    assert clock.now() == clock.now() == T0
    assert clock.timestamp() == int(T0.timestamp())


def test_advance_moves_exactly() -> None:
    clock.freeze(T0)
    clock.advance(timedelta(seconds=10))
    assert clock.now() == T0 + timedelta(seconds=10)
    clock.advance(0.5)
    assert clock.now() == T0 + timedelta(seconds=10.5)
    assert clock.timestamp() == int(T0.timestamp()) + 10
    clock.advance(-30)
    assert clock.now() == T0 - timedelta(seconds=19.5)
    clock.advance(timedelta(days=400))
    assert clock.now() == T0 + timedelta(days=400, seconds=-19.5)


def test_unfreeze_returns_to_real_time() -> None:
    clock.freeze(datetime(2001, 1, 1, tzinfo=UTC))
    clock.unfreeze()
    assert clock.now().year >= 2025
    clock.unfreeze()  # idempotent


def test_advance_needs_a_frozen_clock() -> None:
    with pytest.raises(RuntimeError):
        clock.advance(1)


@pytest.mark.parametrize(
    "naive",
    [datetime(2026, 11, 22, 10), datetime.now(), datetime.now(UTC).replace(tzinfo=None)],
)
def test_freeze_refuses_naive_datetimes(naive: datetime) -> None:
    with pytest.raises(ValueError):
        clock.freeze(naive)
    assert clock.now().tzinfo is not None


def test_other_zones_are_kept_as_the_same_instant_in_utc() -> None:
    elsewhere = T0.astimezone(timezone(timedelta(hours=5, minutes=30)))
    clock.freeze(elsewhere)
    assert clock.now() == T0 and clock.now().utcoffset() == timedelta(0)
    assert clock.now().tzinfo == UTC


def test_frozen_context_restores_what_was_there() -> None:
    with clock.frozen(T0):
        assert clock.now() == T0
    assert clock.now() != T0 and clock.now().year >= 2025
    clock.freeze(T0)
    with clock.frozen(T0 + timedelta(hours=1)):
        assert clock.now() == T0 + timedelta(hours=1)
        with clock.frozen(T0 + timedelta(hours=2)):
            assert clock.now() == T0 + timedelta(hours=2)
        assert clock.now() == T0 + timedelta(hours=1)
    assert clock.now() == T0


def test_frozen_context_restores_after_an_error() -> None:
    with pytest.raises(KeyError), clock.frozen(T0):
        raise KeyError("boom")
    assert clock.now() != T0


def test_the_frozen_fixture(frozen: datetime) -> None:
    assert frozen == T0 == clock.now()


# Where reading the time another way is right, and why.
OTHER_TIME_SOURCES = {
    "authsvc/core/clock.py": "the one source",
    "authsvc/web/logs.py": "the access line's asctime, stamped as logging stamps a record",
    "authsvc/web/edge.py": "request durations (perf_counter)",
    "authsvc/web/ratelimit.py": "the per-address window counts real seconds (monotonic), and in "
    "Redis `limits` takes its reset time from time.time() itself",
    "authsvc/services/lockout.py": "a bound on real waiting behind concurrent attempts, which "
    "a frozen clock would never end",
    "authsvc/verifier/__init__.py": "for other services, whose clocks it takes as arguments",
}


READING_THE_TIME = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("time", "time"),
    ("time", "time_ns"),
    ("time", "monotonic"),
    ("time", "monotonic_ns"),
    ("time", "perf_counter"),
    ("time", "localtime"),
    ("time", "gmtime"),
    ("func", "now"),
}


def test_nothing_else_reads_the_time() -> None:
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    found = set()
    for path in (root / "authsvc").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            owner = getattr(node, "value", None)
            name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", None)
            imported = (
                {(node.module, alias.name) for alias in node.names}
                if isinstance(node, ast.ImportFrom)
                else set()
            )
            if (
                isinstance(node, ast.Attribute) and (name, node.attr) in READING_THE_TIME
            ) or imported & READING_THE_TIME:
                found.add(str(path.relative_to(root)))
    assert found <= OTHER_TIME_SOURCES.keys(), found - OTHER_TIME_SOURCES.keys()


def test_the_key_cache_never_outlives_a_retirement_on_another_host(frozen, app) -> None:
    """A key retired (or revoked) by another host stops verifying here at the next lookup:
    its `publish_until` is read from the database each time, on the service clock."""
    from sqlalchemy import update

    from authsvc.extensions import db
    from authsvc.models import SigningKey

    with app.app_context():
        store = app.extensions["authsvc"].keystore
        kid = store.signing_key().kid
        assert store.verification_key(kid) is not None  # cached now
        later = frozen + timedelta(seconds=5)
        db.session.execute(update(SigningKey).values(retired_at=frozen, publish_until=later))
        db.session.commit()  # as another host would: this one's cache still holds the key
        assert store.verification_key(kid) is not None
        clock.advance(5)
        assert store.verification_key(kid) is None
