"""Issue 22, pure parts: allowlist parsing and matching, forwarded addresses, limit syntax."""

from __future__ import annotations

import pytest

from authsvc.core import rates, restrictions
from authsvc.core.errors import PermissionDenied, ValidationFailed
from authsvc.services import use_counts


def test_entries_are_canonical_and_deduplicated():
    assert restrictions.parse_allowlist(
        ["10.0.0.0/8", "2001:DB8::/32", "192.0.2.1/32", "192.0.2.1", "::1"]
    ) == ["10.0.0.0/8", "2001:db8::/32", "192.0.2.1", "::1"]


@pytest.mark.parametrize(
    "entry", ["0.0.0.0/0", "::/0", "1.0.0.0/7", "2000::/31", "10.0.0.1/8", "x", "::ffff:1.2.3.4"]
)
def test_bad_entries_name_their_index(entry):
    with pytest.raises(ValidationFailed) as refused:
        restrictions.parse_allowlist(["192.0.2.1", entry])
    assert [(i.code, i.attr) for i in refused.value.items()] == [("invalid", "allowed_ips.1")]


def test_a_malformed_claim_allows_nothing():
    with pytest.raises(PermissionDenied):
        restrictions.check({"allowed_ips": "10.0.0.0/8"}, "10.0.0.1")
    restrictions.check({}, None)  # no claim: no restriction


@pytest.mark.parametrize(
    ("remote", "forwarded", "hops", "expected"),
    [
        ("10.0.0.1", "1.1.1.1", 0, "10.0.0.1"),
        ("10.0.0.1", "1.1.1.1, 2.2.2.2", 1, "2.2.2.2"),
        ("10.0.0.1", "1.1.1.1, 2.2.2.2", 2, "1.1.1.1"),
        ("10.0.0.1", "2.2.2.2", 2, "10.0.0.1"),  # fewer entries than hops: the peer
        ("10.0.0.1", None, 1, "10.0.0.1"),
    ],
)
def test_forwarded_address_reads_as_proxyfix(remote, forwarded, hops, expected):
    assert restrictions.forwarded_address(remote, forwarded, hops) == expected


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("5/minute", "5/minute"),
        ("1000 per hour", "1000/hour"),
        ("10 per 2 minutes", "10/2 minutes"),
    ],
)
def test_limits_are_spelled_canonically(text, canonical):
    assert use_counts.parse_limit(text) == canonical
    assert use_counts.limit_of(canonical).amount == int(text.split()[0].split("/")[0])


def test_fixed_windows_count_and_reset():
    counter = use_counts.MemoryUseCounter()
    limit = rates.Rate(2, 1, "minute")
    outcomes = [use_counts.count(counter, "k", limit, 120.5 + i) for i in range(3)]
    assert [(o.remaining, o.exceeded) for o in outcomes] == [(1, False), (0, False), (0, True)]
    assert outcomes[2].reset_after == 58
    assert not use_counts.count(counter, "k", limit, 180.0).exceeded
