"""The app-wide dependencies, typed: what the lifespan builds once and every handler may ask for.

A handler names the parameter (`settings: Settings`, `database: Database`, `clock: Clock`, ...)
and Litestar injects it; nothing reads `app.state` by attribute outside this module and the
lifespan that fills it.
"""

from __future__ import annotations

from typing import cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from litestar.datastructures import State
from litestar.di import Provide

from server.clock import Clock
from server.db import Database
from server.memory import MemoryBudget
from server.settings import Settings
from server.throttle import Throttle
from server.users.security import Passwords


def provide_settings(state: State) -> Settings:
    return cast(Settings, state.settings)


def provide_database(state: State) -> Database:
    return cast(Database, state.database)


def provide_clock(state: State) -> Clock:
    return cast(Clock, state.clock)


def provide_passwords(state: State) -> Passwords:
    return cast(Passwords, state.passwords)


def provide_throttle(state: State) -> Throttle:
    return cast(Throttle, state.throttle)


def provide_signing_key(state: State) -> Ed25519PrivateKey:
    return cast(Ed25519PrivateKey, state.signing_key)


def provide_photo_memory(state: State) -> MemoryBudget:
    return cast(MemoryBudget, state.photo_memory)


APP_DEPENDENCIES: dict[str, Provide] = {
    "settings": Provide(provide_settings, sync_to_thread=False),
    "database": Provide(provide_database, sync_to_thread=False),
    "clock": Provide(provide_clock, sync_to_thread=False),
    "passwords": Provide(provide_passwords, sync_to_thread=False),
    "throttle": Provide(provide_throttle, sync_to_thread=False),
    "signing_key": Provide(provide_signing_key, sync_to_thread=False),
    "photo_memory": Provide(provide_photo_memory, sync_to_thread=False),
}
