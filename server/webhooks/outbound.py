"""The HTTP client for calls to addresses others chose (webhooks, the push relay).

A URL is checked when it is set (server/webhooks/urls.py), but its host may later resolve to an
address inside our network (DNS rebinding, or a record changed after the check). So the client
resolves the host itself at every connection, refuses it when any address is inside the network,
and connects to the address it checked: the name is not looked up a second time by the socket.
TLS still verifies the certificate against the host name (httpcore passes the URL's host as the
server name), so pinning the address does not weaken HTTPS.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable

import httpcore
import httpx

from server.webhooks.urls import is_forbidden_address


class AddressRefused(httpcore.ConnectError):
    """The host resolves to an address Canopy must not call; reported as a failed attempt."""


async def checked_address(host: str, port: int) -> str:
    """The address to connect to for host: the first it resolves to, if none is inside the network."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise httpcore.ConnectError(f"{host} does not resolve") from exc
    addresses = [str(info[4][0]).split("%")[0] for info in infos]
    if not addresses:
        raise httpcore.ConnectError(f"{host} does not resolve")
    if any(is_forbidden_address(ipaddress.ip_address(address)) for address in addresses):
        raise AddressRefused(f"{host} resolves to an address inside the network; not called")
    return addresses[0]


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to a checked address of the host httpcore asks for."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        address = await checked_address(host, port)
        return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise AddressRefused("unix sockets are not called")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a connection pool that connects through `_PinnedBackend`.

    httpx has no parameter for the network backend, so the pool it builds is replaced by one built
    with the same TLS context and the pinned backend; proxies from the environment are not used.
    """

    def __init__(self) -> None:
        super().__init__(trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False), network_backend=_PinnedBackend()
        )


def outbound_client(*, timeout: float, allow_private: bool) -> httpx.AsyncClient:
    """A client for receivers' URLs: pinned to checked addresses unless private ones are allowed
    (development and tests, `CANOPY_WEBHOOK_ALLOW_PRIVATE`)."""
    if allow_private:
        return httpx.AsyncClient(timeout=timeout, follow_redirects=False)
    # trust_env off: a proxy taken from the environment would bypass the pinned transport.
    return httpx.AsyncClient(timeout=timeout, follow_redirects=False, transport=_PinnedTransport(), trust_env=False)
