"""Throttling of failed credentials (SPEC 2, 10).

Failed logins are counted per handle and per client address; failed bearer credentials (the
operator token, NGO keys) per client address; requests that mail someone (verification, reset)
per recipient and per client address. The counters live where every worker and replica
sees them: the database (`throttle_counters`), or Redis when CANOPY_REDIS_URL is set; app.py
chooses the store once at startup. Every count is one atomic increment that returns the new
count, and the decision is taken on that count, so parallel requests cannot all slip in under
the limit. A window is fixed: it starts at its first counted attempt, runs on the wall clock
(never the test clock) and restarts once it has ended.

The client address is the socket peer; forwarded headers are not trusted here.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import case, select, update
from sqlmodel import Field, SQLModel, col

from server.clock import wall_clock
from server.db import Database, dialect_insert, session_scope
from server.errors import DomainError
from server.settings import Settings

logger = logging.getLogger("canopy.throttle")


class ThrottleCounter(SQLModel, table=True):
    """One throttling window of one key (e.g. `login-handle:maple`): attempts counted in it."""

    __tablename__ = "throttle_counters"

    key: str = Field(primary_key=True, max_length=200)
    count: int
    window_ends_at: datetime = Field(index=True)  # the prune job deletes by it


class Throttled(DomainError):
    status = 429
    problem = "rate-limited"


@dataclass(frozen=True)
class Window:
    """A key's window as one count left it: the attempts counted so far and when it ends."""

    key: str
    count: int
    ends_at: datetime

    def refusal(self, problem: str, detail: str) -> Throttled:
        retry_after = max(1, math.ceil((self.ends_at - wall_clock()).total_seconds()))
        return Throttled(detail, problem=problem, headers={"Retry-After": str(retry_after)})


class CounterStore(Protocol):
    async def hit(self, key: str, window_s: int) -> Window:
        """Count one attempt, atomically; a window that has ended starts again at 1."""

    async def peek(self, key: str) -> Window | None:
        """The key's window if one is running."""

    async def give_back(self, *windows: Window) -> None:
        """Uncount one attempt from each window, if that window is still running."""

    async def close(self) -> None: ...


class DatabaseCounters:
    """Counters in `throttle_counters`, each change in a transaction of its own: a count must
    stay counted when the request that made it fails and rolls back."""

    def __init__(self, database: Database, wall_now: Callable[[], datetime] = wall_clock) -> None:
        self.database = database
        self.wall_now = wall_now

    async def hit(self, key: str, window_s: int) -> Window:
        now = self.wall_now()
        async with self.database.transaction() as session:
            fresh = dialect_insert(session)(ThrottleCounter).values(
                key=key, count=1, window_ends_at=now + timedelta(seconds=window_s)
            )
            ended = col(ThrottleCounter.window_ends_at) <= now
            statement = fresh.on_conflict_do_update(
                index_elements=[col(ThrottleCounter.key)],
                set_={
                    "count": case((ended, 1), else_=col(ThrottleCounter.count) + 1),
                    "window_ends_at": case(
                        (ended, fresh.excluded.window_ends_at), else_=col(ThrottleCounter.window_ends_at)
                    ),
                },
            ).returning(col(ThrottleCounter.count), col(ThrottleCounter.window_ends_at))
            count, ends_at = (await session.execute(statement)).one()
        return Window(key, count, ends_at)

    async def peek(self, key: str) -> Window | None:
        async with session_scope(self.database.read_sessions) as session:
            row = (
                await session.execute(
                    select(col(ThrottleCounter.count), col(ThrottleCounter.window_ends_at)).where(
                        col(ThrottleCounter.key) == key, col(ThrottleCounter.window_ends_at) > self.wall_now()
                    )
                )
            ).first()
        if row is None:
            return None
        count, window_ends_at = row
        return Window(key, count, window_ends_at)

    async def give_back(self, *windows: Window) -> None:
        async with self.database.transaction() as session:
            for window in windows:
                await session.execute(
                    update(ThrottleCounter)
                    .where(
                        col(ThrottleCounter.key) == window.key,
                        col(ThrottleCounter.window_ends_at) == window.ends_at,
                        col(ThrottleCounter.count) > 0,
                    )
                    .values(count=col(ThrottleCounter.count) - 1)
                )

    async def close(self) -> None:
        """The database belongs to the app, which disposes of it."""


# KEYS[1] the counter, ARGV[1] the window in ms; returns {count, ms left in the window}.
_REDIS_HIT = """
local count = redis.call('INCR', KEYS[1])
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
  left = tonumber(ARGV[1])
  redis.call('PEXPIRE', KEYS[1], left)
end
return {count, left}
"""
_REDIS_PEEK = """
local count = redis.call('GET', KEYS[1])
if not count then return nil end
return {tonumber(count), redis.call('PTTL', KEYS[1])}
"""
_REDIS_GIVE_BACK = """
for _, key in ipairs(KEYS) do
  local count = tonumber(redis.call('GET', key) or '0')
  if count > 0 then redis.call('DECR', key) end
end
return 0
"""


class RedisCounters:
    """Counters in Redis (the `redis` extra): INCR and PEXPIRE in one script, and Redis expires
    ended windows itself. A window Redis has expired cannot be given back to; a login that
    straddles its window's end may give back to the next window instead (never below zero)."""

    def __init__(self, url: str, prefix: str, *, max_connections: int, wait_s: float) -> None:
        from redis.asyncio import BlockingConnectionPool, Redis

        self.prefix = prefix + "throttle:"
        # Blocking: a burst past the pool waits for a free connection (as the database pool does)
        # instead of failing with "Too many connections".
        pool = BlockingConnectionPool.from_url(url, max_connections=max_connections, timeout=wait_s)
        self.client = Redis(connection_pool=pool)
        self._hit = self.client.register_script(_REDIS_HIT)
        self._peek = self.client.register_script(_REDIS_PEEK)
        self._give_back = self.client.register_script(_REDIS_GIVE_BACK)

    async def hit(self, key: str, window_s: int) -> Window:
        async with _redis_answers():
            count, left_ms = await self._hit(keys=[self.prefix + key], args=[window_s * 1000])
        return Window(key, int(count), wall_clock() + timedelta(milliseconds=int(left_ms)))

    async def peek(self, key: str) -> Window | None:
        async with _redis_answers():
            found = await self._peek(keys=[self.prefix + key])
        if not found:
            return None
        count, left_ms = found
        return Window(key, int(count), wall_clock() + timedelta(milliseconds=int(left_ms)))

    async def give_back(self, *windows: Window) -> None:
        if windows:
            async with _redis_answers():
                await self._give_back(keys=[self.prefix + window.key for window in windows])

    async def close(self) -> None:
        await self.client.aclose()


@asynccontextmanager
async def _redis_answers() -> AsyncIterator[None]:
    """A Redis that is down, or busy past the pool's wait, refuses the request with a 503 to
    retry, as an unavailable database does, rather than a 500."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    try:
        yield
    except (RedisConnectionError, RedisTimeoutError) as exc:
        logger.warning("Redis unavailable for the throttle: %s", exc)
        raise DomainError(
            "The rate-limit store could not answer; nothing was done. Retry it.",
            problem="throttle-unavailable",
            status=503,
            headers={"Retry-After": "1"},
        ) from exc


def counter_store(settings: Settings, database: Database) -> CounterStore:
    """Redis when CANOPY_REDIS_URL is set, else the database: either way shared by every worker."""
    if settings.redis_url:
        return RedisCounters(
            settings.redis_url,
            settings.redis_key_prefix,
            max_connections=settings.redis_max_connections,
            wait_s=settings.db_pool_timeout_s,
        )
    return DatabaseCounters(database)


def client_address(connection: Any) -> str:
    """The socket peer of an ASGI connection."""
    return connection.client.host if connection.client else "unknown"


class Throttle:
    """The limits of SPEC 2 (logins) and of bearer credentials, over one counter store."""

    def __init__(self, counters: CounterStore, settings: Settings) -> None:
        self.counters = counters
        self.settings = settings

    async def reserve_login(self, handle: str, address: str) -> tuple[Window, Window]:
        """Count this attempt before the password is checked, refusing it (429) over a limit.

        Counting first is what holds under parallel requests. The caller gives the reservation
        back when the password is right, so in the end only failures count. The address is
        counted first, so an address over its limit adds no rows for the handles it tries; a
        refusal for the handle is given back to the address.
        """
        settings = self.settings
        by_address = await self.counters.hit(f"login-address:{address}", settings.login_fail_window_s)
        if by_address.count > settings.login_fail_limit_per_address:
            raise by_address.refusal(
                problem="login-throttled", detail="Too many failed logins from this address; try again later."
            )
        by_handle = await self.counters.hit(f"login-handle:{handle}", settings.login_fail_window_s)
        if by_handle.count > settings.login_fail_limit_per_handle:
            await self.counters.give_back(by_address)
            raise by_handle.refusal(
                problem="login-throttled", detail="Too many failed logins for this handle; try again later."
            )
        return by_address, by_handle

    async def give_back(self, reservation: tuple[Window, ...]) -> None:
        await self.counters.give_back(*reservation)

    async def check_credential(self, address: str) -> None:
        """Refuse (429) any bearer credential, right or wrong, from an address over its limit of
        failures: otherwise a right guess would still stand out."""
        window = await self.counters.peek(f"credential-address:{address}")
        if window is not None and window.count >= self.settings.credential_fail_limit_per_address:
            raise window.refusal(
                problem="credential-throttled", detail="Too many failed credentials from this address."
            )

    async def credential_failed(self, address: str) -> None:
        """Count a failed bearer credential; 429 instead of 401 once over the limit."""
        window = await self.counters.hit(f"credential-address:{address}", self.settings.credential_fail_window_s)
        if window.count > self.settings.credential_fail_limit_per_address:
            raise window.refusal(
                problem="credential-throttled", detail="Too many failed credentials from this address."
            )

    async def mail_allowed(self, recipient: str, address: str) -> bool:
        """Count a request that would mail `recipient` (SPEC 11.1): 429 once the client address is
        over its limit; False once the recipient has had its mails for the window (the caller then
        sends nothing and answers the same). Recipients are counted by hash: no address is stored."""
        settings = self.settings
        by_client = await self.counters.hit(f"mail-client:{address}", settings.mail_limit_window_s)
        if by_client.count > settings.mail_limit_per_client:
            raise by_client.refusal(
                problem="mail-throttled", detail="Too many requests for mail from this address; try again later."
            )
        digest = hashlib.sha256(recipient.lower().encode()).hexdigest()
        by_recipient = await self.counters.hit(f"mail-to:{digest}", settings.mail_limit_window_s)
        return by_recipient.count <= settings.mail_limit_per_recipient

    async def close(self) -> None:
        await self.counters.close()
