"""Counting in windows: the one mechanism behind every limit (SPEC 2, 10, 11.1, 14).

Two uses: the throttles of failed credentials and of mail (server/throttle.py), and the request
rate limits of `/v1` (server/rate_limits.py). Both ask a `CounterStore` to `hit` a key: one atomic
increment by a cost that returns the new count, and the caller decides on that count, so
parallel requests cannot all slip in under a limit (never read-then-write). A window is fixed: it
starts at the key's first hit, runs on the wall clock (never the test clock) and restarts once it
has ended.

Where the counts live (`Counters`): with CANOPY_REDIS_URL, in Redis for both uses (a Lua script
per operation, EVALSHA); without it, the throttles count in the database (`throttle_counters`,
shared by every worker: they count failures, which are rare) and the rate limits in this
process's memory (they count every request, too many for a database write each).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import case, select, update
from sqlmodel import Field, SQLModel, col

from server.clock import wall_clock
from server.db import Database, dialect_insert, session_scope
from server.errors import DomainError
from server.redis_store import redis_answers, redis_client
from server.settings import Settings


class ThrottleCounter(SQLModel, table=True):
    """One throttling window of one key (e.g. `login-handle:maple`): attempts counted in it."""

    __tablename__ = "throttle_counters"

    key: str = Field(primary_key=True, max_length=200)
    count: int
    window_ends_at: datetime = Field(index=True)  # the prune job deletes by it


class Throttled(DomainError):
    status = 429
    problem = "rate-limited"


@dataclass(frozen=True, slots=True)
class Window:
    """A key's window as one hit left it: the count so far, when it ends, what that hit added."""

    key: str
    count: int
    ends_at: datetime
    cost: int = 1

    def seconds_left(self) -> int:
        """Whole seconds until the window ends, at least 1 (a Retry-After)."""
        return max(1, math.ceil((self.ends_at - wall_clock()).total_seconds()))

    def refusal(self, problem: str, detail: str, headers: dict[str, str] | None = None) -> Throttled:
        return Throttled(detail, problem=problem, headers={"Retry-After": str(self.seconds_left()), **(headers or {})})


class CounterStore(Protocol):
    async def hit(self, key: str, window_s: int, cost: int = 1) -> Window:
        """Add `cost` to the key's count, atomically; a window that has ended starts again from 0."""

    async def peek(self, key: str) -> Window | None:
        """The key's window if one is running."""

    async def give_back(self, *windows: Window) -> None:
        """Take back what each hit added, if its window is still running (never below zero)."""

    async def close(self) -> None: ...


class MemoryCounters:
    """Counters in this process's memory: per process, as SPEC 14 allows without Redis. Each
    operation runs without an await, so it is atomic among the event loop's tasks, and under a
    lock against other threads. Ended windows are swept out once a sweep interval has passed."""

    SWEEP_EVERY = timedelta(seconds=60)

    def __init__(self, wall_now: Callable[[], datetime] = wall_clock) -> None:
        self.wall_now = wall_now
        self._windows: dict[str, tuple[int, datetime]] = {}
        self._lock = threading.Lock()
        self._next_sweep = wall_now() + self.SWEEP_EVERY

    async def hit(self, key: str, window_s: int, cost: int = 1) -> Window:
        now = self.wall_now()
        with self._lock:
            if now >= self._next_sweep:
                self._sweep(now)
            count, ends_at = self._windows.get(key, (0, now))
            if ends_at <= now:
                count, ends_at = 0, now + timedelta(seconds=window_s)
            count += cost
            self._windows[key] = (count, ends_at)
        return Window(key, count, ends_at, cost)

    async def peek(self, key: str) -> Window | None:
        found = self._windows.get(key)
        if found is None or found[1] <= self.wall_now():
            return None
        return Window(key, found[0], found[1], 0)

    async def give_back(self, *windows: Window) -> None:
        with self._lock:
            for window in windows:
                found = self._windows.get(window.key)
                if found is not None and found[1] == window.ends_at:
                    self._windows[window.key] = (max(0, found[0] - window.cost), found[1])

    def _sweep(self, now: datetime) -> None:
        self._windows = {key: found for key, found in self._windows.items() if found[1] > now}
        self._next_sweep = now + self.SWEEP_EVERY

    async def close(self) -> None:
        """Nothing to release."""


class DatabaseCounters:
    """Counters in `throttle_counters`, each change in a transaction of its own: a count must
    stay counted when the request that made it fails and rolls back."""

    def __init__(self, database: Database, wall_now: Callable[[], datetime] = wall_clock) -> None:
        self.database = database
        self.wall_now = wall_now

    async def hit(self, key: str, window_s: int, cost: int = 1) -> Window:
        now = self.wall_now()
        async with self.database.transaction() as session:
            fresh = dialect_insert(session)(ThrottleCounter).values(
                key=key, count=cost, window_ends_at=now + timedelta(seconds=window_s)
            )
            ended = col(ThrottleCounter.window_ends_at) <= now
            statement = fresh.on_conflict_do_update(
                index_elements=[col(ThrottleCounter.key)],
                set_={
                    "count": case((ended, cost), else_=col(ThrottleCounter.count) + cost),
                    "window_ends_at": case(
                        (ended, fresh.excluded.window_ends_at), else_=col(ThrottleCounter.window_ends_at)
                    ),
                },
            ).returning(col(ThrottleCounter.count), col(ThrottleCounter.window_ends_at))
            count, ends_at = (await session.execute(statement)).one()
        return Window(key, count, ends_at, cost)

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
        return Window(key, count, window_ends_at, 0)

    async def give_back(self, *windows: Window) -> None:
        async with self.database.transaction() as session:
            for window in windows:
                count = col(ThrottleCounter.count)
                await session.execute(
                    update(ThrottleCounter)
                    .where(
                        col(ThrottleCounter.key) == window.key, col(ThrottleCounter.window_ends_at) == window.ends_at
                    )
                    .values(count=case((count > window.cost, count - window.cost), else_=0))
                )

    async def close(self) -> None:
        """The database belongs to the app, which disposes of it."""


# KEYS[1] the counter, ARGV[1] the window in ms, ARGV[2] the cost; returns {count, ms left}.
_REDIS_HIT = """
local count = redis.call('INCRBY', KEYS[1], ARGV[2])
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
# KEYS the counters, ARGV the cost to take back from each.
_REDIS_GIVE_BACK = """
for i, key in ipairs(KEYS) do
  local count = tonumber(redis.call('GET', key) or '0')
  local cost = tonumber(ARGV[i])
  if count > 0 then redis.call('DECRBY', key, math.min(count, cost)) end
end
return 0
"""


class RedisCounters:
    """Counters in Redis under `<prefix>throttle:`: INCRBY and PEXPIRE in one script, and Redis
    expires ended windows itself. A window Redis has expired cannot be given back to; a hit that
    straddles its window's end may give back to the next window instead (never below zero)."""

    def __init__(self, url: str, prefix: str, *, max_connections: int, wait_s: float) -> None:
        self.prefix = prefix + "throttle:"
        self.client = redis_client(url, max_connections=max_connections, wait_s=wait_s)
        self._hit = self.client.register_script(_REDIS_HIT)
        self._peek = self.client.register_script(_REDIS_PEEK)
        self._give_back = self.client.register_script(_REDIS_GIVE_BACK)

    async def hit(self, key: str, window_s: int, cost: int = 1) -> Window:
        async with _answers():
            count, left_ms = await self._hit(keys=[self.prefix + key], args=[window_s * 1000, cost])
        return Window(key, int(count), wall_clock() + timedelta(milliseconds=int(left_ms)), cost)

    async def peek(self, key: str) -> Window | None:
        async with _answers():
            found = await self._peek(keys=[self.prefix + key])
        if not found:
            return None
        count, left_ms = found
        return Window(key, int(count), wall_clock() + timedelta(milliseconds=int(left_ms)), 0)

    async def give_back(self, *windows: Window) -> None:
        if windows:
            async with _answers():
                await self._give_back(
                    keys=[self.prefix + window.key for window in windows], args=[window.cost for window in windows]
                )

    async def close(self) -> None:
        await self.client.aclose()


def _answers() -> AbstractAsyncContextManager[None]:
    return redis_answers("rate-limit store", problem="throttle-unavailable")


@dataclass(frozen=True, slots=True)
class Counters:
    """The stores of the two uses: `shared` for the throttles (every worker sees it), `requests`
    for the rate limits (Redis too when there is one, else this process's memory)."""

    shared: CounterStore
    requests: CounterStore

    async def close(self) -> None:
        await self.shared.close()
        if self.requests is not self.shared:
            await self.requests.close()


def counters(settings: Settings, database: Database) -> Counters:
    if settings.redis_url:
        redis = RedisCounters(
            settings.redis_url,
            settings.redis_key_prefix,
            max_connections=settings.redis_max_connections,
            wait_s=settings.db_pool_timeout_s,
        )
        return Counters(shared=redis, requests=redis)
    return Counters(shared=DatabaseCounters(database), requests=MemoryCounters())
