"""Webhook URLs (SPEC 8.4): https only, and never an address inside our own network."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from server.errors import Unprocessable

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata"})


def is_forbidden_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Inside our network, or a cloud metadata address: never called on a receiver's behalf."""
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
        or str(address) in {"169.254.169.254", "fd00:ec2::254"}
    )


def _is_loopback(host: str | None) -> bool:
    if host in ("localhost", None):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_webhook_url(url: str, *, allow_private: bool) -> str:
    """Refuse (422) a URL that is not https or that resolves to a loopback/private/metadata address."""
    if len(url) > 2000 or "\x00" in url:
        raise Unprocessable("The webhook URL is too long or malformed.", problem="webhook-url")
    parts = urlsplit(url)
    # Development and tests (allow_private) may also use plain http to a receiver on this machine.
    local_http = allow_private and parts.scheme == "http" and _is_loopback(parts.hostname)
    if not parts.hostname or (parts.scheme != "https" and not local_http):
        raise Unprocessable("The webhook URL must be an https:// URL.", problem="webhook-url")
    if allow_private:
        return url
    host = parts.hostname.lower()
    if host in METADATA_HOSTS or host == "localhost" or host.endswith(".localhost"):
        raise Unprocessable("The webhook URL must not point inside the network.", problem="webhook-url")
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)}
    except (socket.gaierror, UnicodeError) as exc:
        raise Unprocessable("The webhook URL's host does not resolve.", problem="webhook-url") from exc
    for raw in addresses:
        if is_forbidden_address(ipaddress.ip_address(raw.split("%")[0])):
            raise Unprocessable("The webhook URL must not point inside the network.", problem="webhook-url")
    return url
