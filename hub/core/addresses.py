"""The key a client is limited by before it is known: its address, as both the HTTP
server (connections per source) and the webhook (requests per source) count it."""

from __future__ import annotations

import ipaddress


def source_key(address: str | None) -> str:
    """The key a client is limited by: its IPv4 address, its IPv6 /64 (one host holds
    a whole /64), or its address as given when it is not an IP (a Unix socket)."""
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)
