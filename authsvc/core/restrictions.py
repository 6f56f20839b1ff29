"""Per-key address allowlists (issue 22): parsing, the signed claim, and the check.

Pure, so that authsvc and `authsvc.verifier` decide alike. A key's allowlist is fixed at
creation and signed into the token as the `allowed_ips` claim (a list of networks, each
an address or a CIDR in its shortest spelling), so an offline verifier enforces it too.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from authsvc.core.errors import ErrorItem, PermissionDenied, ValidationFailed

CLAIM = "allowed_ips"
MAX_ENTRIES = 50
# The broadest ranges a key may name: an IPv4 /8, an IPv6 /32 (an ISP's allocation).
MIN_PREFIX = {4: 8, 6: 32}
REASON = "ip_not_allowed"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _spell(network: Network) -> str:
    return (
        str(network.network_address) if network.prefixlen == network.max_prefixlen else str(network)
    )


def _entry(raw: str) -> tuple[str, str] | str:
    """The canonical spelling of one entry, or (code, detail) of why it is refused."""
    text = raw.strip()
    if "%" in text:
        return ("invalid", "A scoped IPv6 address (with %zone) cannot be allowed.")
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        if "host bits set" in str(exc):
            fixed = ipaddress.ip_network(text, strict=False)
            return ("invalid", f"Host bits are set; the range is written {fixed}.")
        return ("invalid", "Not an IPv4 or IPv6 address or CIDR range.")
    if isinstance(network, ipaddress.IPv6Network) and network.network_address.ipv4_mapped:
        return ("invalid", "Write an IPv4-mapped address as plain IPv4.")
    if network.prefixlen < MIN_PREFIX[network.version]:
        return (
            "invalid",
            f"Too broad: an IPv{network.version} range may be at most "
            f"/{MIN_PREFIX[network.version]}.",
        )
    return _spell(network)


def parse_allowlist(values: Sequence[str], attr: str = "allowed_ips") -> list[str]:
    """Canonical, de-duplicated entries; every bad entry is reported (`attr.<index>`)."""
    if not values:
        raise ValidationFailed.one(
            attr, "invalid", "Give at least one address or range, or leave the field out."
        )
    if len(values) > MAX_ENTRIES:
        raise ValidationFailed.one(
            attr, "too_long", f"At most {MAX_ENTRIES} entries.", {"max_items": MAX_ENTRIES}
        )
    found: list[str] = []
    bad: list[ErrorItem] = []
    for i, raw in enumerate(values):
        result = _entry(raw)
        if isinstance(result, tuple):
            bad.append(ErrorItem(result[0], f"{raw.strip()[:64]}: {result[1]}", f"{attr}.{i}"))
        else:
            found.append(result)
    if bad:
        raise ValidationFailed(bad)
    return list(dict.fromkeys(found))


def address(raw: str | None) -> Address | None:
    """A client address as compared: zone dropped, an IPv4-mapped IPv6 address as IPv4."""
    if not raw:
        return None
    try:
        addr = ipaddress.ip_address(raw.strip().split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


@lru_cache(maxsize=4096)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...] | None:
    try:
        return tuple(ipaddress.ip_network(e, strict=False) for e in entries)
    except (ValueError, TypeError):
        return None


def allows(entries: Sequence[str], raw_address: str | None) -> bool:
    """Is `raw_address` within one of `entries`? No address, or an unreadable list: no."""
    addr = address(raw_address)
    networks = _networks(tuple(entries))
    if addr is None or networks is None:
        return False
    return any(addr.version == n.version and addr in n for n in networks)


def allowlist_of(claims: dict[str, Any]) -> list[str] | None:
    """The token's allowlist; None when it has none. A malformed claim allows nothing."""
    value = claims.get(CLAIM)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(e, str) for e in value):
        return []
    return value


def check(claims: dict[str, Any], raw_address: str | None) -> None:
    """Raise `403 permission_denied` when the token names addresses and this is not one."""
    entries = allowlist_of(claims)
    if entries is None or allows(entries, raw_address):
        return
    raise refused(raw_address)


def refused(raw_address: str | None) -> PermissionDenied:
    addr = address(raw_address)
    return PermissionDenied(
        "This key may not be used from this address.",
        extra={"reason": REASON, "ip": str(addr) if addr is not None else None},
    )


def forwarded_address(remote_addr: str | None, forwarded_for: str | None, hops: int) -> str | None:
    """The client address behind `hops` trusted proxies, as werkzeug's ProxyFix reads it:
    the `hops`-th entry of `X-Forwarded-For` from the right, else the peer itself."""
    if hops <= 0 or not forwarded_for:
        return remote_addr
    values = [v.strip() for v in forwarded_for.split(",")]
    if len(values) < hops:
        return remote_addr
    return values[-hops] or remote_addr
