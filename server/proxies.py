"""Who the client is, by address (SPEC 14): the socket peer, or what trusted proxies say of it.

`X-Forwarded-For` is believed only when the socket peer is in CANOPY_TRUSTED_PROXIES (CIDRs,
default none). Then the header is read from the right, hop by hop, while the address reached is
itself a trusted proxy: the client is the right-most address that is not trusted (each trusted
proxy appended the address it saw; anything further left could be made up by the client). A hop
that is not an IP address ends the walk at the last address believed. Every limit by client
address (the throttles, the rate limits) reads it through server/dependencies.py's
`client_address`, which uses the app's one `ClientAddresses`.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Any

IPAddress = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network

# Hops read from the right of X-Forwarded-For at most: no chain of proxies is longer, and a
# header of thousands of hops costs nothing more than this.
MAX_HOPS = 16
UNKNOWN = "unknown"


def trusted_networks(setting: str) -> tuple[Network, ...]:
    """The networks of CANOPY_TRUSTED_PROXIES: comma-separated CIDRs or single addresses."""
    networks = []
    for entry in (part.strip() for part in setting.split(",")):
        if not entry:
            continue
        try:
            networks.append(ip_network(entry))
        except ValueError as exc:
            raise ValueError(
                f"CANOPY_TRUSTED_PROXIES: {entry!r} is not a network ({exc}); "
                "write CIDRs or addresses, comma-separated: 10.0.0.0/8, 192.0.2.7, fd00::/8"
            ) from None
    return tuple(networks)


def parse_address(text: str) -> IPAddress | None:
    """An IP address as a header or a socket gives it (a port after it, IPv6 in brackets, IPv4
    mapped into IPv6), or None."""
    text = text.strip()
    if text.startswith("["):  # [2001:db8::1]:443
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:  # 192.0.2.1:443
        text = text.partition(":")[0]
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class ClientAddresses:
    def __init__(self, trusted_proxies: str) -> None:
        self.networks = trusted_networks(trusted_proxies)

    def _trusted(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks)

    def of(self, scope: Any) -> str:
        """The client address of an ASGI connection's scope (`unknown` without a peer)."""
        client = scope.get("client")
        peer = str(client[0]) if client else UNKNOWN
        if not self.networks:
            return peer
        believed = parse_address(peer)
        if believed is None or not self._trusted(believed):
            return peer
        forwarded = b",".join(value for name, value in scope["headers"] if name == b"x-forwarded-for")
        for hop in reversed(forwarded.rsplit(b",", MAX_HOPS)[-MAX_HOPS:]):
            address = parse_address(hop.decode("latin-1"))
            if address is None:
                break
            believed = address
            if not self._trusted(believed):
                break
        return str(believed)
