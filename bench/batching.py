"""Benchmark: the `batch-planting-orders` job against one hand-written set-based statement.

    python -m bench batching [--n 10000] [--small N] [--url URL]

For each of two sizes (N/10 and N by default) it builds a fresh database with the migrations,
inserts N queued trees in one project, and times, on the same data:
  * raw: the grouping by hand, on the job's own tables: one `INSERT ... SELECT` of the orders
    (500 trees each, numbered oldest first with `row_number()`) into `planting_orders` and one
    `UPDATE ... FROM` stamping the trees with them; no capacity, no thresholds, no events, no
    feed. This is the target's baseline;
  * raw+feed: the same plus one `INSERT ... SELECT` of the `tree.ordered` feed item per tree
    that the SPEC requires of the job (the rest of the job's work done by hand);
  * bare: the two raw statements on a copy of the trees with one index (on id) where `trees`
    has four, to show what the table's indexes cost;
  * job: the real job, as the scheduler runs it (a few orders per transaction).
Between runs the trees go back to the queue and, on PostgreSQL, the tables are vacuumed, so each
run starts from the same state. It also measures the job's peak Python memory (tracemalloc, on a
second run, collecting cyclic garbage after each transaction) to show it stays flat as N grows.
SQLite by default (a temporary file); set CANOPY_BENCH_DATABASE_URL (or --url) to a PostgreSQL
server URL to run there: the bench creates and drops its own databases next to the one named.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import tempfile
import time
import tracemalloc
from datetime import datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import asyncpg
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.catalog.models import Project, ProjectSpecies, Species
from server.clock import Clock, wall_clock
from server.db import Database, new_id
from server.feed.models import FeedItem
from server.feed.service import add_feed_items_from
from server.migrations import upgrade
from server.planting import jobs
from server.planting.jobs import batch_planting_orders
from server.planting.models import Ngo, PlantingOrder
from server.settings import Settings
from server.trees.models import Tree, TreeStatus
from server.users.models import User
from server.webhooks.models import WebhookDelivery

INSERT_CHUNK = 10_000
RAW_ORDER_SIZE = 500

RANKED = """
    SELECT id, project_id, (ROW_NUMBER() OVER (PARTITION BY project_id ORDER BY queued_at, id) - 1) / 500 AS bucket
    FROM {trees} WHERE status = 'queued'
"""
# One id per (project, bucket), 36 characters like the job's UUIDs.
ORDER_ID = {
    "postgresql": "LEFT(ranked.project_id, 24) || LPAD(CAST(ranked.bucket AS TEXT), 12, '0')",
    "sqlite": "SUBSTR(ranked.project_id, 1, 24) || PRINTF('%012d', ranked.bucket)",
}
RAW_ORDERS = """
INSERT INTO {orders} (id, project_id, ngo_id, status, overdue, tree_count, issued_at)
SELECT {order_id}, ranked.project_id, projects.ngo_id, 'issued', FALSE, COUNT(*), :now
FROM ({ranked}) AS ranked JOIN projects ON projects.id = ranked.project_id
GROUP BY ranked.project_id, ranked.bucket, projects.ngo_id
"""
RAW_TREES = """
UPDATE {trees} SET status = 'ordered', ordered_at = :now, order_id = {order_id}
FROM ({ranked}) AS ranked
WHERE {trees}.id = ranked.id
"""


async def raw_batching(database: Database, *, trees: str, orders: str, feed: bool) -> float:
    """The grouping by hand in one transaction (and the feed items when `feed`); seconds taken."""
    names = {"trees": trees, "orders": orders, "order_id": ORDER_ID[database.dialect]}
    names["ranked"] = RANKED.format(**names)
    started = time.perf_counter()
    async with database.transaction() as session:
        now = wall_clock()
        await session.execute(text(RAW_ORDERS.format(**names)), {"now": now})
        await session.execute(text(RAW_TREES.format(**names)), {"now": now})
        if feed:
            ordered = select(Tree.user_id, Tree.id.label("tree_id")).where(Tree.status == TreeStatus.ORDERED)
            await add_feed_items_from(session, ordered, "tree.ordered", now=now)
    return time.perf_counter() - started


class Databases:
    """Fresh databases: SQLite files in a temporary directory, or PostgreSQL databases."""

    def __init__(self, url: str | None) -> None:
        self.url = url
        self.tmp = Path(tempfile.mkdtemp(prefix="canopy-bench-"))
        self.created: list[str] = []

    async def create(self, tag: str) -> str:
        if not self.url:
            return f"sqlite+aiosqlite:///{self.tmp / f'{tag}.db'}"
        name = f"canopy_bench_{os.getpid()}_{tag}"
        await self._admin(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"')
        self.created.append(name)
        base = self.url.replace("postgresql+asyncpg://", "postgresql://").rpartition("/")[0]
        return f"{base}/{name}"

    async def _admin(self, *statements: str) -> None:
        connection = await asyncpg.connect(self.url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            for statement in statements:
                await connection.execute(statement)
        finally:
            await connection.close()

    async def drop_all(self) -> None:
        for name in self.created:
            await self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def add_year_round_project(
    session: AsyncSession, ngo_id: str, species_id: str, *, cost_g: int, created_at: datetime
) -> Project:
    """The benches' project: open all year, capacity without limit, one species."""
    project = Project(
        ngo_id=ngo_id,
        name="Bench grove",
        region="Bench",
        lat=0.0,
        lon=0.0,
        radius_km=50.0,
        capacity_per_season=10**9,
        seasons=[{"start": "01-01", "end": "12-31"}],
        created_at=created_at,
    )
    session.add(project)
    await session.flush()
    session.add(ProjectSpecies(project_id=project.id, species_id=species_id, cost_g=cost_g))
    await session.flush()
    return project


async def populate(database: Database, n: int) -> None:
    now = wall_clock()
    async with database.transaction() as session:
        ngo = Ngo(name="Bench NGO", contact_email="bench@example.org", created_at=now)
        species = Species(common_name="Bench oak", scientific_name="Quercus benchii", co2_lifetime_kg=100)
        user = User(handle="bench", display_name="Bench", created_at=now)
        session.add_all([ngo, species, user])
        await session.flush()
        project = await add_year_round_project(session, ngo.id, species.id, cost_g=1, created_at=now)
        ids = SimpleNamespace(user=user.id, project=project.id, species=species.id)
    start = now - timedelta(days=8)
    for offset in range(0, n, INSERT_CHUNK):
        rows = [
            {
                "id": new_id(),
                "user_id": ids.user,
                "project_id": ids.project,
                "species_id": ids.species,
                "cost_g": 1,
                "status": TreeStatus.QUEUED,
                "auto_plant": False,
                "rejections": 0,
                "queued_at": start + timedelta(milliseconds=i),
                "created_at": start,
            }
            for i in range(offset, min(n, offset + INSERT_CHUNK))
        ]
        async with database.transaction() as session:
            await session.execute(insert(Tree), rows)
    async with database.transaction() as session:
        await session.execute(text("CREATE TABLE bench_trees AS SELECT * FROM trees"))
        await session.execute(text("CREATE INDEX ix_bench_trees_id ON bench_trees (id)"))
        await session.execute(text("CREATE TABLE bench_orders AS SELECT * FROM planting_orders WHERE 1 = 0"))
    await settle(database)


async def settle(database: Database) -> None:
    """On PostgreSQL, VACUUM ANALYZE: each run starts without the dead rows of the one before."""
    if database.dialect != "postgresql":
        return
    async with database.writer.connect() as connection:
        await (await connection.execution_options(isolation_level="AUTOCOMMIT")).execute(text("VACUUM ANALYZE"))


async def reset(database: Database) -> None:
    """Every tree back in the queue, no orders, events or feed items: the state before a run."""
    async with database.transaction() as session:
        await session.execute(
            update(Tree)
            .where(Tree.status == TreeStatus.ORDERED)
            .values(status=TreeStatus.QUEUED, order_id=None, ordered_at=None)
        )
        for model in (WebhookDelivery, PlantingOrder, FeedItem):
            await session.execute(delete(model))
    await settle(database)


async def count(database: Database, model: Any) -> int:
    async with database.read_sessions() as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


async def measure(databases: Databases, n: int) -> dict[str, Any]:
    url = await databases.create(f"n{n}")
    await asyncio.to_thread(upgrade, url)
    settings = Settings(database_url=url, scheduler_enabled=False)
    database = Database(settings.database_url)
    clock = Clock(test_clock=False, engine=database.reader)
    try:
        await populate(database, n)
        raw_s = await raw_batching(database, trees="trees", orders="planting_orders", feed=False)
        raw_orders = await count(database, PlantingOrder)
        await reset(database)
        raw_feed_s = await raw_batching(database, trees="trees", orders="planting_orders", feed=True)
        assert await count(database, FeedItem) == n
        await reset(database)
        bare_s = await raw_batching(database, trees="bench_trees", orders="bench_orders", feed=False)

        started = time.perf_counter()
        counts = await batch_planting_orders(database, clock, settings)
        job_s = time.perf_counter() - started
        assert counts["trees_ordered"] == n, counts
        assert counts["orders_created"] == raw_orders, (counts, raw_orders)
        assert await count(database, FeedItem) == n

        await reset(database)
        # Collect garbage after each committed transaction so the peak is live memory, not cyclic
        # garbage awaiting the collector (which otherwise grows with the number of orders).
        jobs.after_order_committed = lambda _order_ids: gc.collect()
        tracemalloc.start()
        try:
            again = await batch_planting_orders(database, clock, settings)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            jobs.after_order_committed = None
        assert again == counts, again
    finally:
        await database.dispose()
    return {
        "n": n,
        "orders": counts["orders_created"],
        "job_s": job_s,
        "raw_s": raw_s,
        "raw_feed_s": raw_feed_s,
        "bare_s": bare_s,
        "peak_mib": peak / 2**20,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000, help="queued trees in the large run (default 10,000)")
    parser.add_argument("--small", type=int, default=None, help="queued trees in the small run (default N/10)")
    parser.add_argument("--url", default=os.environ.get("CANOPY_BENCH_DATABASE_URL"), help="PostgreSQL server URL")
    args = parser.parse_args()
    sizes = [args.small or max(args.n // 10, RAW_ORDER_SIZE), args.n]
    databases = Databases(args.url)
    print(f"batch-planting-orders on {'PostgreSQL' if args.url else 'SQLite'}, orders of {RAW_ORDER_SIZE} trees")
    print(
        f"{'N':>10} {'orders':>7} {'job s':>8} {'raw s':>8} {'job/raw':>8} {'raw+feed s':>11} {'job/raw+feed':>13} "
        f"{'bare s':>8} {'job/bare':>9} {'job peak MiB':>13}"
    )
    try:
        for n in sizes:
            row = await measure(databases, n)
            print(
                f"{row['n']:>10,} {row['orders']:>7,} {row['job_s']:>8.2f} {row['raw_s']:>8.2f} "
                f"{row['job_s'] / row['raw_s']:>8.2f} {row['raw_feed_s']:>11.2f} "
                f"{row['job_s'] / row['raw_feed_s']:>13.2f} {row['bare_s']:>8.2f} "
                f"{row['job_s'] / row['bare_s']:>9.2f} {row['peak_mib']:>13.2f}",
                flush=True,
            )
    finally:
        await databases.drop_all()
