"""Helpers for the fault tests: a database handle beside the app, bulk work, and the checks that
every piece of batching work was done exactly once."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select

from server.db import Database, new_id
from server.feed.models import FeedItem
from server.planting.models import PlantingOrder
from server.settings import Settings
from server.trees.models import Tree, TreeStatus
from server.webhooks.models import WebhookDelivery
from tests.api import User

INSERT_CHUNK = 5_000
_MILLISECOND = timedelta(milliseconds=1)


@asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[Database]:
    """A connection pool of the test's own, beside the app's and the subprocesses'."""
    db = Database(settings.database_url)
    try:
        yield db
    finally:
        await db.dispose()


async def queue_many(settings: Settings, user: User, project: dict[str, Any], count: int, queued_at: datetime) -> None:
    """`count` queued trees of `user` in `project`, inserted in bulk (adopting and paying for them
    one by one through the API would take minutes; batching never reads what they cost), their
    `queued_at` a millisecond apart from `queued_at` on."""
    species_id = project["species"][0]["species_id"]
    async with database(settings) as db:
        for start in range(0, count, INSERT_CHUNK):
            rows = [
                {
                    "id": new_id(),
                    "user_id": user.id,
                    "project_id": project["id"],
                    "species_id": species_id,
                    "cost_g": 1,
                    "status": TreeStatus.QUEUED,
                    "auto_plant": False,
                    "rejections": 0,
                    "queued_at": queued_at.replace(microsecond=0) + (i * _MILLISECOND),
                    "created_at": queued_at,
                }
                for i in range(start, min(count, start + INSERT_CHUNK))
            ]
            async with db.transaction() as session:
                await session.execute(insert(Tree), rows)


async def batching_progress(db: Database) -> tuple[int, int]:
    """(orders issued, trees still queued)."""
    async with db.read_sessions() as session:
        orders = (await session.execute(select(func.count()).select_from(PlantingOrder))).scalar_one()
        queued = (
            await session.execute(select(func.count()).select_from(Tree).where(Tree.status == TreeStatus.QUEUED))
        ).scalar_one()
    return orders, queued


async def assert_orders_whole(db: Database) -> tuple[dict[str, int], dict[str, int]]:
    """The orders issued so far are whole and announced once: each order's `tree_count` is its
    trees, every ordered tree has one `tree.ordered` feed item and every order one `order.issued`
    event. Returns (each order's size, trees by status)."""
    async with db.read_sessions() as session:
        statuses = dict((await session.execute(select(Tree.status, func.count()).group_by(Tree.status))).all())
        members = dict(
            (
                await session.execute(
                    select(Tree.order_id, func.count()).where(Tree.order_id.is_not(None)).group_by(Tree.order_id)
                )
            ).all()
        )
        sizes = dict((await session.execute(select(PlantingOrder.id, PlantingOrder.tree_count))).all())
        ordered = set((await session.execute(select(Tree.id).where(Tree.status == TreeStatus.ORDERED))).scalars())
        fed = Counter(
            (await session.execute(select(FeedItem.tree_id).where(FeedItem.type == "tree.ordered"))).scalars()
        )
        issued = Counter(
            json.loads(payload)["data"]["order_id"]
            for payload in (
                await session.execute(
                    select(WebhookDelivery.payload).where(WebhookDelivery.event_type == "order.issued")
                )
            ).scalars()
        )
    assert members == sizes, "an order's tree_count differs from its trees"
    assert set(fed) == ordered and set(fed.values()) <= {1}, "tree.ordered feed items are missing or repeated"
    assert issued == Counter(sizes.keys()), "order.issued events are missing or repeated"
    return sizes, statuses
