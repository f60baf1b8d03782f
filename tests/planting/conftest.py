"""Planting tests: the batching job's failure hook is reset after every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from server.planting import jobs


@pytest.fixture(autouse=True)
def _no_batch_hook() -> Iterator[None]:
    yield
    jobs.after_order_committed = None
