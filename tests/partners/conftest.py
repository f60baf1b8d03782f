"""Partner tests accept webhook URLs without resolving them (CANOPY_WEBHOOK_ALLOW_PRIVATE=1)."""

from __future__ import annotations

import pytest

from server.settings import Settings


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        test_clock=True,
        scheduler_enabled=False,
        argon2_time_cost=1,
        argon2_memory_kib=1024,
        webhook_allow_private=True,
    )
