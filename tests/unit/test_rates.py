"""The rate-limit notation read without `limits`, and the in-process moving window."""

from __future__ import annotations

import subprocess
import sys

import limits
import pytest

from authsvc.core import rates

NOTATIONS = [
    "50 per minute",
    "50/minute",
    "1/second; 5/minute",
    "10 per 2 minutes",
    "10/2 Hours",
    "3 PER DAY",
    "1/month, 2/year | 3/days",
    "  7 / 3 seconds  ",
    "5/0 minutes",
    "1/minute:;2/hour",
    "1000000 per minute",
]
NOT_NOTATIONS = [
    "",
    "per minute",
    "5",
    "5/",
    "5/fortnight",
    "5/minutess",
    "5/s",
    "-5/minute",
    "5.5/minute",
    "5/minute;",
    "five per minute",
    "5/minute 6/hour",
]


@pytest.mark.parametrize("text", NOTATIONS)
def test_the_notation_reads_as_limits_reads_it(text: str) -> None:
    ours = rates.parse_many(text)
    theirs = limits.parse_many(text)
    assert [(r.amount, r.multiples, r.unit, r.seconds) for r in ours] == [
        (i.amount, i.multiples, i.GRANULARITY.name, i.get_expiry()) for i in theirs
    ]
    assert rates.parse(text) == ours[0]


@pytest.mark.parametrize("text", NOT_NOTATIONS)
def test_what_limits_refuses_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        limits.parse_many(text)
    with pytest.raises(ValueError):
        rates.parse_many(text)


def test_a_worker_without_redis_does_not_import_limits(tmp_path) -> None:
    script = (
        "import sys; from authsvc import create_app; create_app({'TESTING': True}); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('limits', 'wrapt', 'deprecated')))"
    )
    env = {"AUTHSVC_INSTANCE_PATH": str(tmp_path), "AUTHSVC_SECRET_KEY": "s" * 40, "PATH": ""}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "[]"


TWO_PER_TEN = [rates.Rate(2, 10, "second")]


def test_the_window_counts_uses_in_the_last_seconds_exactly() -> None:
    window = rates.MovingWindow()
    assert window.hit("a", TWO_PER_TEN, now=100.0) is None
    assert window.hit("a", TWO_PER_TEN, now=104.0) is None
    assert window.hit("a", TWO_PER_TEN, now=105.0) == pytest.approx(5.0)  # the 100.0 use frees
    assert window.hit("b", TWO_PER_TEN, now=105.0) is None  # keys are apart
    assert window.hit("a", TWO_PER_TEN, now=110.0) is None  # 100.0 is out, 104.0 still in
    assert window.hit("a", TWO_PER_TEN, now=110.5) == pytest.approx(3.5)


def test_a_use_one_rate_refuses_still_counts_against_the_others() -> None:
    """As `limits`' strategy counts: a client hammering past the per-second rate spends its
    per-minute budget too."""
    window = rates.MovingWindow()
    both = [rates.Rate(1, 1, "second"), rates.Rate(3, 1, "minute")]
    assert window.hit("a", both, now=0.0) is None
    assert window.hit("a", both, now=0.1) == pytest.approx(0.9)
    assert window.hit("a", both, now=0.2) == pytest.approx(0.8)
    assert window.hit("a", both, now=0.3) == pytest.approx(59.7)  # the minute is full now
    assert window.hit("a", both, now=1.5) == pytest.approx(58.5)
    assert window.hit("a", both, now=60.05) is None


def test_keys_left_empty_are_dropped() -> None:
    window = rates.MovingWindow()
    for n in range(1000):
        window.hit(f"address-{n}", TWO_PER_TEN, now=1.0)
    window.hit("late", TWO_PER_TEN, now=1.0 + window.SWEEP_EVERY)
    assert set(window._uses) == {("late", TWO_PER_TEN[0])}
