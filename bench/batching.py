"""Benchmark: the `batch-planting-orders` job against one hand-written set-based statement.

    python -m bench batching [--n 10000] [--small N] [--url URL]

For each of two sizes (N/10 and N by default) it builds a fresh database with the migrations,
inserts N queued trees in one project, copies them to a scratch table, then times
  * raw: one `INSERT ... SELECT` of the orders and one `UPDATE ... FROM` numbering the trees into
    orders of 500 with `row_number()`, on the copy (no capacity, no thresholds, no events; the copy
    has one index, on id, where `trees` has five that every claimed tree updates);
  * full (added with the set-based job, reported beside raw, not instead of it): the same two
    statements on a second copy that has the indexes of `trees`, plus one `INSERT ... SELECT` of a
    `tree.ordered` item per tree into a copy of `feed_items` (same indexes, ids made by the same SQL
    UUIDv7 expression as the job's): the rows the SPEC requires the job to write, written by hand
    (still no capacity, no thresholds, no order.issued events, no row locks);
  * job: the real job, as the scheduler runs it (a few orders per transaction);
and measures the job's peak Python memory (tracemalloc, on a second run after resetting the
trees, collecting cyclic garbage after each transaction) to show it stays flat as N grows. SQLite by
default (a temporary file); set CANOPY_BENCH_DATABASE_URL (or --url) to a PostgreSQL server URL
to run there: the bench creates and drops its own databases next to the one named.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import tempfile
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import asyncpg
from sqlalchemy import bindparam, column, delete, insert, literal, select, table, text, update

from server.catalog.models import Project, ProjectSpecies, Species
from server.clock import Clock, wall_clock
from server.db import Database, new_id
from server.feed.models import FeedItem
from server.feed.service import new_ids_sql
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

RAW_ORDERS = """
INSERT INTO bench_orders (id, project_id, tree_count)
SELECT project_id || ':' || CAST(bucket AS TEXT), project_id, COUNT(*)
FROM (
    SELECT project_id, (ROW_NUMBER() OVER (PARTITION BY project_id ORDER BY queued_at, id) - 1) / 500 AS bucket
    FROM bench_trees WHERE status = 'queued' AND bench_order IS NULL
) AS ranked
GROUP BY project_id, bucket
"""

RAW_TREES = """
UPDATE {table} SET status = 'ordered', ordered_at = :now,
       bench_order = ranked.project_id || ':' || CAST(ranked.bucket AS TEXT)
FROM (
    SELECT id, project_id, (ROW_NUMBER() OVER (PARTITION BY project_id ORDER BY queued_at, id) - 1) / 500 AS bucket
    FROM {table} WHERE status = 'queued' AND bench_order IS NULL
) AS ranked
WHERE {table}.id = ranked.id
"""

# The "full" copy: the indexes of `trees` (bench_order standing for order_id) and of `feed_items`.
FULL_TABLES = [
    "CREATE TABLE bench_full_trees AS SELECT * FROM bench_trees",
    "CREATE UNIQUE INDEX ix_bench_full_trees_id ON bench_full_trees (id)",
    "CREATE UNIQUE INDEX ix_bench_full_growing ON bench_full_trees (user_id) WHERE status = 'growing'",
    "CREATE INDEX ix_bench_full_user ON bench_full_trees (user_id, id)",
    "CREATE INDEX ix_bench_full_queued ON bench_full_trees (project_id, queued_at) WHERE status = 'queued'",
    "CREATE INDEX ix_bench_full_order ON bench_full_trees (bench_order)",
    "CREATE TABLE bench_full_orders (id VARCHAR(80) PRIMARY KEY, project_id VARCHAR(36), tree_count INTEGER)",
    "CREATE TABLE bench_feed AS SELECT * FROM feed_items WHERE 1 = 0",
    "CREATE UNIQUE INDEX ix_bench_feed_id ON bench_feed (id)",
    "CREATE INDEX ix_bench_feed_user ON bench_feed (user_id, id)",
]
FULL_ORDERS = RAW_ORDERS.replace("bench_trees", "bench_full_trees").replace("bench_orders", "bench_full_orders")


def full_feed(dialect: str) -> Any:
    """One `tree.ordered` item per tree the full raw run ordered, in one INSERT ... SELECT."""
    trees = table("bench_full_trees", column("id"), column("user_id"), column("bench_order"))
    feed = table("bench_feed", *(column(name) for name in ("id", "user_id", "type", "tree_id", "created_at")))
    return insert(feed).from_select(
        ["id", "user_id", "type", "tree_id", "created_at"],
        select(
            new_ids_sql(dialect),
            trees.c.user_id,
            literal("tree.ordered"),
            trees.c.id,
            bindparam("now", type_=FeedItem.__table__.c.created_at.type),
        ).where(trees.c.bench_order.is_not(None)),
    )


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


async def populate(database: Database, n: int) -> None:
    now = wall_clock()
    async with database.transaction() as session:
        ngo = Ngo(name="Bench NGO", contact_email="bench@example.org", created_at=now)
        species = Species(common_name="Bench oak", scientific_name="Quercus benchii", co2_lifetime_kg=100)
        user = User(handle="bench", display_name="Bench", created_at=now)
        session.add_all([ngo, species, user])
        await session.flush()
        project = Project(
            ngo_id=ngo.id,
            name="Bench grove",
            region="Bench",
            lat=0.0,
            lon=0.0,
            radius_km=10.0,
            capacity_per_season=10**9,
            seasons=[{"start": "01-01", "end": "12-31"}],
            created_at=now,
        )
        session.add(project)
        await session.flush()
        session.add(ProjectSpecies(project_id=project.id, species_id=species.id, cost_g=1))
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
        await session.execute(text("ALTER TABLE bench_trees ADD COLUMN bench_order VARCHAR(80)"))
        await session.execute(text("CREATE INDEX ix_bench_trees_id ON bench_trees (id)"))
        await session.execute(
            text("CREATE TABLE bench_orders (id VARCHAR(80) PRIMARY KEY, project_id VARCHAR(36), tree_count INTEGER)")
        )
        for statement in FULL_TABLES:
            await session.execute(text(statement))
        if database.dialect == "postgresql":
            await session.execute(text("ANALYZE"))


async def reset(database: Database) -> None:
    async with database.transaction() as session:
        await session.execute(
            update(Tree)
            .where(Tree.status == TreeStatus.ORDERED)
            .values(status=TreeStatus.QUEUED, order_id=None, ordered_at=None)
        )
        await session.execute(delete(WebhookDelivery))
        await session.execute(delete(PlantingOrder))


async def measure(databases: Databases, n: int) -> dict[str, Any]:
    url = await databases.create(f"n{n}")
    await asyncio.to_thread(upgrade, url)
    settings = Settings(database_url=url, scheduler_enabled=False)
    database = Database(settings.database_url)
    clock = Clock(test_clock=False, engine=database.reader)
    try:
        await populate(database, n)

        started = time.perf_counter()
        async with database.transaction() as session:
            await session.execute(text(RAW_ORDERS))
            await session.execute(text(RAW_TREES.format(table="bench_trees")), {"now": wall_clock()})
        raw_s = time.perf_counter() - started

        started = time.perf_counter()
        async with database.transaction() as session:
            now = wall_clock()
            await session.execute(text(FULL_ORDERS))
            await session.execute(text(RAW_TREES.format(table="bench_full_trees")), {"now": now})
            await session.execute(full_feed(database.dialect), {"now": now})
        full_s = time.perf_counter() - started
        async with database.read_sessions() as session:
            full_feed_items = (await session.execute(text("SELECT COUNT(*) FROM bench_feed"))).scalar_one()
        assert full_feed_items == n, full_feed_items
        async with database.read_sessions() as session:
            raw_orders = (await session.execute(text("SELECT COUNT(*) FROM bench_orders"))).scalar_one()

        started = time.perf_counter()
        counts = await batch_planting_orders(database, clock, settings)
        job_s = time.perf_counter() - started
        assert counts["trees_ordered"] == n, counts
        assert counts["orders_created"] == raw_orders, (counts, raw_orders)

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
        "ratio": job_s / raw_s if raw_s else float("inf"),
        "full_s": full_s,
        "full_ratio": job_s / full_s if full_s else float("inf"),
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
        f"{'N':>10} {'orders':>7} {'job s':>9} {'raw s':>9} {'job/raw':>8} {'full s':>9} {'job/full':>9} "
        f"{'job peak MiB':>13}"
    )
    try:
        for n in sizes:
            row = await measure(databases, n)
            print(
                f"{row['n']:>10,} {row['orders']:>7,} {row['job_s']:>9.2f} {row['raw_s']:>9.2f} "
                f"{row['ratio']:>8.1f} {row['full_s']:>9.2f} {row['full_ratio']:>9.1f} {row['peak_mib']:>13.2f}",
                flush=True,
            )
    finally:
        await databases.drop_all()
