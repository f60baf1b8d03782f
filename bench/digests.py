"""Benchmark: the morning digests of `send-notifications` against one raw `INSERT ... SELECT`.

    python -m bench digests [--n 100000] [--small N] [--url URL]

For each of two sizes (N/10 and N by default) it builds a fresh database with the migrations and
N users, each with one ripe ball, spread over four time zones where it is morning (UTC+0 in
winter, so one instant is 08:00 local for all), then times on the same data:
  * raw: one hand-written `INSERT ... SELECT` of the same rows into `notifications` (one per
    user, count and grams of the ripe balls): no time-zone lookup, no CASE, no ON CONFLICT;
  * job: `compose_ripe_digests` as `send-notifications` runs it (reads the distinct zones, then
    one `INSERT ... SELECT ... ON CONFLICT DO NOTHING`);
  * rerun: the job again on the same morning, where every row conflicts and nothing is added;
and the job's peak Python memory (tracemalloc), to show it does not grow with N.
SQLite by default (a temporary file); set CANOPY_BENCH_DATABASE_URL (or --url) to a PostgreSQL
server URL to run there: the bench creates and drops its own databases next to the one named.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import tracemalloc
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import String, delete, func, insert, literal, select

from bench.batching import Databases, count, settle
from server.catalog.service import seed_demo
from server.db import Database, new_id, new_ids_sql
from server.ledger.models import Ball
from server.migrations import upgrade
from server.notifications.digests import compose_ripe_digests
from server.notifications.models import Notification
from server.settings import Settings
from server.users.models import User

INSERT_CHUNK = 10_000
ZONES = ("UTC", "Europe/London", "Africa/Abidjan", "Atlantic/Reykjavik")
DAY = date(2026, 12, 7)
NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


async def populate(database: Database, n: int) -> None:
    async with database.transaction() as session:
        await seed_demo(session, NOW)
    for offset in range(0, n, INSERT_CHUNK):
        users, balls = [], []
        for i in range(offset, min(n, offset + INSERT_CHUNK)):
            user_id = new_id()
            users.append(
                {
                    "id": user_id,
                    "handle": f"u{i}",
                    "display_name": f"U{i}",
                    "timezone": ZONES[i % len(ZONES)],
                    "allow_steal": True,
                    "language": "en",
                    "streak_days": 0,
                    "shields": 0,
                    "created_at": NOW - timedelta(days=2),
                }
            )
            balls.append(
                {
                    "id": new_id(),
                    "user_id": user_id,
                    "action_code": "walk",
                    "local_day": DAY - timedelta(days=1),
                    "amount_g": 100 + i % 100,
                    "remaining_g": 100 + i % 100,
                    "stolen_g": 0,
                    "collected_g": 0,
                    "expired_g": 0,
                    "ripens_at": NOW - timedelta(hours=1),
                    "expires_at": NOW + timedelta(hours=71),
                    "created_at": NOW - timedelta(days=1),
                }
            )
        async with database.transaction() as session:
            await session.execute(insert(User), users)
            await session.execute(insert(Ball), balls)
    await settle(database)


async def raw_digests(database: Database) -> float:
    started = time.perf_counter()
    async with database.transaction() as session:
        stamp = literal(NOW, Notification.__table__.c.due_at.type)
        rows = (
            select(
                new_ids_sql(database.dialect),
                Ball.user_id,
                literal("ball.ripe"),
                literal(DAY.isoformat()),
                func.count(Ball.id),
                func.sum(Ball.remaining_g),
                literal(None, String),
                literal("pending"),
                stamp,
                stamp,
            )
            .where(Ball.ripens_at <= NOW, Ball.expires_at > NOW, Ball.collected_at.is_(None), Ball.remaining_g > 0)
            .group_by(Ball.user_id)
        )
        columns = ["id", "user_id", "type", "key", "count", "amount_g", "friend_id", "status", "due_at", "created_at"]
        await session.execute(insert(Notification).from_select(columns, rows))
    return time.perf_counter() - started


async def job_digests(database: Database, settings: Settings) -> tuple[float, int]:
    started = time.perf_counter()
    async with database.transaction() as session:
        composed = await compose_ripe_digests(session, settings, NOW)
    return time.perf_counter() - started, composed


async def reset(database: Database) -> None:
    async with database.transaction() as session:
        await session.execute(delete(Notification))
    await settle(database)


async def measure(databases: Databases, n: int) -> dict[str, Any]:
    url = await databases.create(f"digests{n}")
    await asyncio.to_thread(upgrade, url)
    settings = Settings(database_url=url, scheduler_enabled=False)
    database = Database(settings.database_url)
    try:
        await populate(database, n)
        raw_s = await raw_digests(database)
        assert await count(database, Notification) == n
        await reset(database)
        job_s, composed = await job_digests(database, settings)
        assert composed == n and await count(database, Notification) == n, composed
        rerun_s, again = await job_digests(database, settings)
        assert again == 0 and await count(database, Notification) == n, again
        await reset(database)
        tracemalloc.start()
        try:
            await job_digests(database, settings)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    finally:
        await database.dispose()
    return {"n": n, "raw_s": raw_s, "job_s": job_s, "rerun_s": rerun_s, "peak_mib": peak / 2**20}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="users with a ripe ball in the large run")
    parser.add_argument("--small", type=int, default=None, help="users in the small run (default N/10)")
    parser.add_argument("--url", default=os.environ.get("CANOPY_BENCH_DATABASE_URL"), help="PostgreSQL server URL")
    args = parser.parse_args()
    sizes = [args.small or max(args.n // 10, 1), args.n]
    databases = Databases(args.url)
    print(f"send-notifications morning digests on {'PostgreSQL' if args.url else 'SQLite'}, {len(ZONES)} zones")
    print(f"{'N':>10} {'job s':>8} {'raw s':>8} {'job/raw':>8} {'rerun s':>8} {'job peak MiB':>13}")
    try:
        for n in sizes:
            row = await measure(databases, n)
            print(
                f"{row['n']:>10,} {row['job_s']:>8.2f} {row['raw_s']:>8.2f} {row['job_s'] / row['raw_s']:>8.2f} "
                f"{row['rerun_s']:>8.2f} {row['peak_mib']:>13.2f}",
                flush=True,
            )
    finally:
        await databases.drop_all()
