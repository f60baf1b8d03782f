"""A worker's memory budget for work whose memory grows with its input (decoding photos).

Each such job reserves the bytes it will hold before it starts and gives them back when it ends;
jobs that do not fit wait in arrival order, so small ones run side by side and big ones queue
instead of all allocating at once. The budget is per process: every worker has its own.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

MIB = 1024 * 1024
# What a worker holds beside the budgeted jobs: its own resting size (interpreter, app, pools)
# and its other requests meanwhile, with their bodies (an upload may be 10 MB). A fixed figure,
# not the process's measured size, so the budget does not depend on what ran before; the memory
# test (tests/planting/test_photo_memory.py) measures a real worker against the whole budget.
WORKER_BASE_BYTES = 192 * MIB
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number


class MemoryBudget:
    """Bytes that budgeted jobs in this process may hold at once (reserve, wait, release; FIFO)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._free = capacity
        self._waiting: deque[tuple[int, anyio.Event]] = deque()

    @classmethod
    def for_worker(cls, rss_budget: int) -> MemoryBudget:
        """What is left of a worker's RSS budget once the worker's own share is set aside."""
        return cls(max(0, rss_budget - WORKER_BASE_BYTES))

    def fits(self, nbytes: int) -> bool:
        return nbytes <= self.capacity

    @asynccontextmanager
    async def reserve(self, nbytes: int) -> AsyncIterator[None]:
        """Hold `nbytes` of the budget for the block, waiting behind earlier reservations."""
        if not self.fits(nbytes):
            raise ValueError(f"{nbytes} bytes can never fit a budget of {self.capacity}")
        if not self._waiting and nbytes <= self._free:
            self._free -= nbytes
        else:
            granted = anyio.Event()
            entry = (nbytes, granted)
            self._waiting.append(entry)
            try:
                await granted.wait()
            except BaseException:  # cancelled: give the place (or the bytes, if granted meanwhile) back
                if granted.is_set():
                    self._release(nbytes)
                else:
                    self._waiting.remove(entry)
                    self._grant()
                raise
        try:
            yield
        finally:
            self._release(nbytes)

    def _release(self, nbytes: int) -> None:
        self._free += nbytes
        self._grant()

    def _grant(self) -> None:
        while self._waiting and self._waiting[0][0] <= self._free:
            nbytes, granted = self._waiting.popleft()
            self._free -= nbytes
            granted.set()


def return_large_blocks_to_the_system() -> None:
    """Have glibc map every large allocation (image buffers) on its own and unmap it when freed.

    By default glibc raises its mmap threshold each time such a block is freed, so the next image
    buffers come from per-thread heaps that keep the memory after the decode: the worker's RSS
    stays at its peak. A fixed threshold turns that adjustment off. No-op without glibc.
    """
    name = ctypes.util.find_library("c")
    if name is None:
        return
    libc = ctypes.CDLL(name)
    if hasattr(libc, "mallopt"):
        libc.mallopt(_M_MMAP_THRESHOLD, MIB)
