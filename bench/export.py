"""Benchmark: the partner portal's CSV export against PostgreSQL's own `COPY ... TO STDOUT`.

    python -m bench export [--n 1000000] [--url URL]

Builds a fresh PostgreSQL database with the migrations and N reports of one partner over 30 days
(one action each, every 20th voided), then, on the same data and the same period:
  * copy: `COPY (the export's SELECT) TO STDOUT WITH CSV HEADER` through asyncpg, written to a
    sink: the floor, with no Python per row;
  * export: `server.partners.portal.export_csv` as `/partner/reports.csv` streams it (a
    server-side cursor, csv module, chunks of EXPORT_CHUNK_ROWS lines), written to the same sink;
each timed without tracing, then run again under tracemalloc for the peak of Python memory, and
the ratio export/copy printed. The process's peak RSS is printed at the end. PostgreSQL only (the
export's point is a large table); CANOPY_BENCH_DATABASE_URL or --url names the server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import insert, text

from bench.batching import Databases, settle
from server.catalog.service import seed_demo
from server.db import Database, new_id
from server.migrations import upgrade
from server.partners import portal
from server.partners.models import Partner
from server.settings import Settings
from server.users.models import User

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
FIRST_DAY = date(2026, 11, 1)
LAST_DAY = date(2026, 11, 30)
NOW = datetime(2026, 12, 1, tzinfo=UTC)

COPY_SQL = """
SELECT pr.report_id, pr.occurred_at, pr.created_at, pr.user_ref, ar.action_code, ar.quantity, ar.energy_g,
       ar.capped, pr.voided_at, ar.voided_g, pr.void_reason
FROM partner_reports pr JOIN action_records ar ON ar.report_id = pr.id
WHERE pr.partner_id = '{partner}' AND pr.response IS NOT NULL
  AND pr.occurred_at >= '{start}' AND pr.occurred_at < '{end}'
ORDER BY pr.occurred_at, pr.id, ar.action_code, ar.id
"""


async def populate(database: Database, n: int) -> str:
    """N reports of one partner, by one user, spread over the 30 days; returns the partner id."""
    partner_id, user_id = new_id(), new_id()
    async with database.transaction() as session:
        await seed_demo(session, NOW)
        await session.execute(
            insert(User),
            [
                {
                    "id": user_id,
                    "handle": "bench",
                    "display_name": "Bench",
                    "timezone": "UTC",
                    "allow_steal": True,
                    "language": "en",
                    "streak_days": 0,
                    "shields": 0,
                    "created_at": NOW - timedelta(days=60),
                }
            ],
        )
        session.add(
            Partner(id=partner_id, name="Bench café", kind="merchant", allowed_actions=["metro_ride"], created_at=NOW)
        )
    params = {
        "partner": partner_id,
        "user": user_id,
        "n": n,
        "start": datetime.combine(FIRST_DAY, datetime.min.time(), tzinfo=UTC),
    }
    moment = "(:start)::timestamptz + (i % 30) * interval '1 day' + (i % 86400) * interval '1 second'"
    async with database.transaction() as session:
        await session.execute(
            text(
                "INSERT INTO partner_reports (id, partner_id, report_id, body_hash, user_id, user_ref, response, "
                "total_g, occurred_at, created_at, voided_at, void_reason) "
                "SELECT 'r' || lpad(i::text, 35, '0'), :partner, 'till-' || i, repeat('0', 64), :user, 'u_bench', "
                "'{}', 52, " + moment + ", " + moment + ", "
                "CASE WHEN i % 20 = 0 THEN " + moment + " END, CASE WHEN i % 20 = 0 THEN 'Cup returned' END "
                "FROM generate_series(1, :n) AS i"
            ),
            params,
        )
        await session.execute(
            text(
                "INSERT INTO action_records (id, user_id, action_code, quantity, energy_g, capped, source, local_day, "
                "report_id, occurred_at, created_at, voided_g) "
                "SELECT 'a' || lpad(i::text, 35, '0'), :user, 'metro_ride', 1, 52, false, 'partner', "
                "(" + moment + ")::date, 'r' || lpad(i::text, 35, '0'), " + moment + ", " + moment + ", "
                "CASE WHEN i % 20 = 0 THEN 52 END FROM generate_series(1, :n) AS i"
            ),
            params,
        )
    await settle(database)
    return partner_id


class Sink:
    """Where the CSV goes: counted, then dropped, as a socket would take it."""

    def __init__(self) -> None:
        self.bytes = 0
        self.lines = 0

    async def write(self, chunk: bytes) -> None:
        self.bytes += len(chunk)
        self.lines += chunk.count(b"\n")


async def export(database: Database, partner_id: str, sink: Sink) -> None:
    async for chunk in portal.export_csv(database.reader, partner_id, FIRST_DAY, LAST_DAY):
        await sink.write(chunk)


async def copy(url: str, partner_id: str, sink: Sink) -> None:
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        end = LAST_DAY + timedelta(days=1)
        query = COPY_SQL.format(partner=partner_id, start=FIRST_DAY.isoformat(), end=end.isoformat())
        await connection.copy_from_query(query, output=sink.write, format="csv", header=True)
    finally:
        await connection.close()


async def timed(run: Callable[[Sink], Awaitable[None]]) -> dict[str, Any]:
    sink = Sink()
    started = time.perf_counter()
    await run(sink)
    seconds = time.perf_counter() - started
    tracemalloc.start()
    try:
        await run(Sink())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return {"s": seconds, "peak_mib": peak / 2**20, "lines": sink.lines, "mib": sink.bytes / 2**20}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000, help="reports in the period")
    parser.add_argument("--url", default=os.environ.get("CANOPY_BENCH_DATABASE_URL", DEFAULT_URL))
    args = parser.parse_args()
    databases = Databases(args.url)
    try:
        url = await databases.create(f"export{args.n}")
        await asyncio.to_thread(upgrade, url)
        database = Database(Settings(database_url=url, scheduler_enabled=False).database_url)
        try:
            started = time.perf_counter()
            partner_id = await populate(database, args.n)
            print(f"{args.n:,} reports inserted in {time.perf_counter() - started:.1f} s", flush=True)
            baseline = await timed(lambda sink: copy(url, partner_id, sink))
            ours = await timed(lambda sink: export(database, partner_id, sink))
        finally:
            await database.dispose()
        assert ours["lines"] == baseline["lines"] == args.n + 1, (ours, baseline)
        print(f"{'':>8} {'s':>8} {'MiB out':>8} {'peak MiB (tracemalloc)':>23}")
        for name, row in (("copy", baseline), ("export", ours)):
            print(f"{name:>8} {row['s']:>8.2f} {row['mib']:>8.1f} {row['peak_mib']:>23.2f}")
        print(f"export/copy time: {ours['s'] / baseline['s']:.2f}")
        print(f"process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    finally:
        await databases.drop_all()
