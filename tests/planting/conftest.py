"""Planting tests: `@pytest.mark.settings(order_min_trees=5, ...)` overrides settings for one test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from server.planting import jobs
from server.settings import Settings


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "settings(**overrides): Settings fields for this test's app")


@pytest.fixture
def settings(database_url: str, request: pytest.FixtureRequest) -> Settings:
    marker = request.node.get_closest_marker("settings")
    overrides = dict(marker.kwargs) if marker else {}
    return Settings(
        database_url=database_url,
        test_clock=True,
        scheduler_enabled=False,
        argon2_time_cost=1,
        argon2_memory_kib=1024,
        webhook_allow_private=True,
        **overrides,
    )


@pytest.fixture(autouse=True)
def _no_batch_hook() -> Iterator[None]:
    yield
    jobs.after_order_committed = None
