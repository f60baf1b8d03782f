"""`GET /stats`: the public totals a landing page shows."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from server.openapi import json_example
from server.stats.service import public_stats


class StatsController(Controller):
    path = "/stats"
    tags = ["public"]

    @get(
        "/",
        cache=60,
        responses={
            200: json_example(
                {
                    "users": 48210,
                    "actions": 1302877,
                    "co2_avoided_g": 96512004,
                    "trees": {"queued": 212, "ordered": 1500, "planted": 3874},
                    "projects": [
                        {
                            "id": "0193c1a0-2d4e-7f10-b6a3-7e9d5c4b3a21",
                            "name": "Alxa Desert Belt",
                            "trees_planted": 3874,
                        }
                    ],
                },
                "The public totals",
            )
        },
    )
    async def stats(self, db_session: NamedDependency[AsyncSession]) -> dict[str, Any]:
        """Public: users, actions, CO2 avoided, trees and projects' plantings (SPEC 8.5); cached for a minute."""
        return await public_stats(db_session)
