"""Login throttling (SPEC 2): counts failed logins per handle and per client address.

A Litestar store holds the counters (in memory by default; Redis when CANOPY_REDIS_URL is set,
so that several workers share them). Windows run on the wall clock: stores expire keys by it.
"""

from __future__ import annotations

import time

from litestar.stores.base import Store

from server.errors import DomainError


class LoginThrottled(DomainError):
    status = 429
    problem = "login-throttled"


class LoginThrottle:
    def __init__(self, store: Store, *, per_handle: int, per_address: int, window_s: int) -> None:
        self.store = store
        self.per_handle = per_handle
        self.per_address = per_address
        self.window_s = window_s

    def _keys(self, handle: str, address: str) -> list[tuple[str, int]]:
        return [(f"handle:{handle}", self.per_handle), (f"address:{address}", self.per_address)]

    async def check(self, handle: str, address: str) -> None:
        for key, limit in self._keys(handle, address):
            raw = await self.store.get(key)
            if raw is None:
                continue
            count, started = (int(part) for part in raw.decode().split(":"))
            if count >= limit:
                retry_after = max(1, started + self.window_s - int(time.time()))
                raise LoginThrottled(
                    "Too many failed logins; try again later.", headers={"Retry-After": str(retry_after)}
                )

    async def record_failure(self, handle: str, address: str) -> None:
        now = int(time.time())
        for key, _limit in self._keys(handle, address):
            raw = await self.store.get(key)
            if raw is None:
                count, started = 0, now
            else:
                count, started = (int(part) for part in raw.decode().split(":"))
            remaining = max(1, started + self.window_s - now)
            await self.store.set(key, f"{count + 1}:{started}".encode(), expires_in=remaining)
