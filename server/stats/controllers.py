"""`GET /stats`: the public totals a landing page shows."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from server.stats.service import public_stats


class StatsController(Controller):
    path = "/stats"
    tags = ["public"]

    @get("/", cache=60)
    async def stats(self, db_session: NamedDependency[AsyncSession]) -> dict[str, Any]:
        """Cached for a minute: totals, not balances."""
        return await public_stats(db_session)
