"""The app-wide dependencies, typed: what the lifespan builds once and every handler may ask for.

A handler names the parameter (`settings: NamedDependency[Settings]`, `database:
NamedDependency[Database]`, `clock: NamedDependency[Clock]`, ...) and Litestar injects it. What
has only the connection (a guard, a middleware, a dependency provider on a hot path) reads them
with `app_services(app.state)`: nothing else reads `app.state`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import Provide

from server.clock import Clock
from server.db import Database
from server.memory import MemoryBudget
from server.proxies import ClientAddresses
from server.rate_limits import RateLimiter
from server.settings import Settings
from server.throttle import Throttle
from server.users.security import Passwords

SERVICES = "services"


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A live portal session as its store keeps it (server/members/sessions.py)."""

    member_id: str
    member_epoch: int
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime


class SessionStore(Protocol):
    """Where portal sessions live: the database or Redis (server/members/sessions.py)."""

    async def start(self, member_id: str, member_epoch: int, now: datetime) -> tuple[str, SessionRecord]:
        """A new session: the cookie's token (given nowhere else) and the record."""

    async def find(self, token: str, now: datetime) -> SessionRecord | None:
        """The session of this token if it is live by time; its last-seen time moves on."""

    async def end(self, token: str, now: datetime) -> None:
        """Sign-out: the token stops working at once, and so does a copy of it replayed later."""

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class AppServices:
    """Everything app-wide, built by the lifespan and kept in `app.state` under SERVICES."""

    settings: Settings
    database: Database
    clock: Clock
    passwords: Passwords
    throttle: Throttle
    rate_limits: RateLimiter
    client_addresses: ClientAddresses
    signing_key: Ed25519PrivateKey
    photo_memory: MemoryBudget
    member_sessions: SessionStore


def app_services(state: State) -> AppServices:
    """The one typed read of the app's state (filled by the lifespan in server/app.py)."""
    services: AppServices = state[SERVICES]
    return services


def rate_limiter(state: State) -> RateLimiter:
    return app_services(state).rate_limits


def client_address(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The client's address: the socket peer, or what trusted proxies forwarded (server/proxies.py).
    Every limit by address asks here."""
    return app_services(connection.app.state).client_addresses.of(connection.scope)


def provide_settings(state: State) -> Settings:
    return app_services(state).settings


def provide_database(state: State) -> Database:
    return app_services(state).database


def provide_clock(state: State) -> Clock:
    return app_services(state).clock


def provide_passwords(state: State) -> Passwords:
    return app_services(state).passwords


def provide_throttle(state: State) -> Throttle:
    return app_services(state).throttle


def provide_signing_key(state: State) -> Ed25519PrivateKey:
    return app_services(state).signing_key


def provide_photo_memory(state: State) -> MemoryBudget:
    return app_services(state).photo_memory


async def provide_now(state: State) -> datetime:
    """The product-rule time of this request (resolved beside, not inside, its session)."""
    return await app_services(state).clock.now()


APP_DEPENDENCIES: dict[str, Provide] = {
    "settings": Provide(provide_settings, sync_to_thread=False),
    "database": Provide(provide_database, sync_to_thread=False),
    "clock": Provide(provide_clock, sync_to_thread=False),
    "passwords": Provide(provide_passwords, sync_to_thread=False),
    "throttle": Provide(provide_throttle, sync_to_thread=False),
    "signing_key": Provide(provide_signing_key, sync_to_thread=False),
    "photo_memory": Provide(provide_photo_memory, sync_to_thread=False),
    "now": Provide(provide_now),
}
