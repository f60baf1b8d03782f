"""The per-worker memory budget photo decodes reserve from (server/memory.py): small jobs share it,
a big one waits its turn without being overtaken, and a cancelled waiter gives its place back."""

from __future__ import annotations

import asyncio

import pytest

from server.memory import MemoryBudget


async def test_reservations_queue_in_arrival_order_and_cancelled_waiters_leave() -> None:
    budget = MemoryBudget(100)
    order: list[str] = []
    release_first = asyncio.Event()

    async def job(name: str, nbytes: int, hold: asyncio.Event | None = None) -> None:
        async with budget.reserve(nbytes):
            order.append(name)
            if hold is not None:
                await hold.wait()

    first = asyncio.create_task(job("first 60", 60, release_first))
    await asyncio.sleep(0)
    big = asyncio.create_task(job("big 80", 80))
    doomed = asyncio.create_task(job("cancelled 10", 10))
    small = asyncio.create_task(job("small 30", 30))  # would fit now, but must not overtake the big one
    await asyncio.sleep(0)
    assert order == ["first 60"]
    doomed.cancel()
    release_first.set()
    await asyncio.gather(first, big, small)
    assert order == ["first 60", "big 80", "small 30"]
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert budget.fits(100) and not budget.fits(101)
    async with budget.reserve(100):  # everything given back
        pass
