"""`python -m bench http`: Canopy over HTTP against the framework and database ceilings.

For each database (SQLite always; PostgreSQL when CANOPY_BENCH_DATABASE_URL or --url names a
server), the bench migrates and seeds a template database once (bench/http/seed.py), measures the
database ceiling (dbceiling.py), then for each server (uvicorn, granian) and worker count (1, 2):
  1. serves bench/ceiling.py (a bare Litestar JSON endpoint) and loads it: the framework ceiling;
  2. copies the template to a fresh database, serves Canopy on it, warms it up, and runs the
     scenarios (scenarios.py) one after another, each for --duration seconds (or until each of its
     requests was answered once), with wrk when installed, else bench/http/client.py;
  3. checks the database after the load: the ledger audit (GET /v1/admin/ledger/audit) is ok, no
     ball gave out more than it held, no ball was collected twice, and every 2xx is in the
     database.
Then it runs the batching job against one raw INSERT ... SELECT (bench/batching.py) and prints one
table. Ratios are to the ceilings measured in the same run on the same machine, so they mean more
than the absolute figures on a shared 2-core box (the load generator shares the cores too).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench import batching
from bench.http import dbceiling, load, profile, servers
from bench.http.scenarios import CEILING, SCENARIOS, Context, Scenario, Tokens
from bench.http.seed import Seeded, async_url, seed
from server.certificates.signing import load_signing_key
from server.db import Database
from server.settings import Settings

BENCH_SECRET = "canopy-bench-secret-0123456789abcdef-0123"
BENCH_OPERATOR = "canopy-bench-operator-token-0123456789"
WARMUP_S = 2.0


@dataclass
class Row:
    scenario: str
    db: str
    server: str = "-"
    workers: str = "-"
    conns: str = "-"
    rate: float | None = None  # requests/s
    items: float | None = None  # reports or trees/s
    p50: float | None = None
    p99: float | None = None
    cpu_ms: float | None = None  # server CPU per answered request
    vs_framework: float | None = None
    vs_db: float | None = None
    target: str = ""
    met: bool | None = None
    notes: list[str] = field(default_factory=list)
    succeeded: int = 0  # 2xx responses


class Databases(batching.Databases):
    """bench/batching.py's fresh databases, plus copies of a seeded template."""

    async def clone(self, template_url: str, tag: str) -> str:
        if not self.url:
            source = Path(template_url.split(":///", 1)[1])
            target = self.tmp / f"{tag}.db"
            shutil.copyfile(source, target)
            return f"sqlite+aiosqlite:///{target}"
        name = f"canopy_bench_{os.getpid()}_{tag}"
        template = template_url.rpartition("/")[2]
        await self._admin(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        self.created.append(name)
        return f"{template_url.rpartition('/')[0]}/{name}"

    async def drop(self, url: str) -> None:
        if not self.url:
            for suffix in ("", "-wal", "-shm"):
                Path(url.split(":///", 1)[1] + suffix).unlink(missing_ok=True)
            return
        name = url.rpartition("/")[2]
        await self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.remove(name)


def server_env(settings: Settings, url: str) -> dict[str, str]:
    return {
        "CANOPY_DATABASE_URL": url,
        "CANOPY_SECRET_KEY": settings.secret_key,
        "CANOPY_OPERATOR_TOKEN": settings.operator_token,
        "CANOPY_DATA_DIR": str(settings.data_dir),
        "CANOPY_SCHEDULER_ENABLED": "false",
        "CANOPY_ACCESS_TOKEN_TTL_S": str(settings.access_token_ttl_s),
        **{f"CANOPY_{name.upper()}": str(limit) for name, limit in UNREACHED_RATE_LIMITS.items()},
    }


# The load comes from one address, each user far over 300 requests a minute: the rate limits are
# counted as in production (their cost is measured) but set out of reach.
UNREACHED_RATE_LIMITS = {
    "rate_limit_user": 10**9,
    "rate_limit_partner_reports": 10**9,
    "rate_limit_ngo": 10**9,
    "rate_limit_per_address": 10**9,
}


def bench_settings(data_dir: Path) -> Settings:
    return Settings(
        secret_key=BENCH_SECRET,
        operator_token=BENCH_OPERATOR,
        data_dir=data_dir,
        scheduler_enabled=False,
        access_token_ttl_s=6 * 3600,
        **UNREACHED_RATE_LIMITS,
    )


def _run(command: list[str], env: dict[str, str]) -> None:
    subprocess.run(command, env={**os.environ, **env}, check=True, capture_output=True)


async def prepare_template(databases: Databases, settings: Settings, args: argparse.Namespace) -> tuple[str, Seeded]:
    url = await databases.create("template")
    env = server_env(settings, url)
    canopy = [sys.executable, "-m", "server.cli"]
    started = time.perf_counter()
    _run([*canopy, "migrate"], env)
    _run([*canopy, "seed-demo"], env)
    seeded = await seed(url, args.users, min(args.users - 1, args.thieves), args.orders, settings)
    print(f"  seeded {args.users:,} users in {time.perf_counter() - started:.1f} s", flush=True)
    return url, seeded


async def measure(
    scenario: Scenario,
    ctx: Context,
    base: str,
    work: Path,
    args: argparse.Namespace,
    pid: int,
    url: str | None = None,
    spy: Path | None = None,
) -> load.Measured:
    """Write the scenario's requests and load the server (`pid`) with them, under py-spy when `spy`
    (the raw profile's path), counting the CPU the server used. A per-user scenario that sends each request once
    first sends 2 x conns of them as a warm-up (pool connections, prepared statements, compiled
    SQL; not counted, at most WARMUP_S), then waits for the database to settle (`url`)."""
    name = scenario.name.replace(" ", "-")
    conns = scenario.conns(ctx)
    requests = list(scenario.requests(ctx))
    if url and scenario.stop and not scenario.bulk and len(requests) > 4 * conns:
        warm, requests = requests[: 2 * conns], requests[2 * conns :]
        load.write_requests(work / f"{name}-warmup.tsv", warm)
        load.run(base, work / f"{name}-warmup.tsv", conns=conns, duration=WARMUP_S, stop=True, use=args.generator)
        await settle(url)
    count = load.write_requests(work / f"{name}.tsv", requests)
    duration = args.bulk_duration if scenario.bulk and args.bulk_duration else args.duration
    profiler = profile.start(pid, duration, spy) if spy else None
    cpu_before = servers.cpu_seconds(pid)
    measured = load.run(
        base, work / f"{name}.tsv", conns=conns, duration=duration, stop=scenario.stop, use=args.generator
    )
    measured.server_cpu_s = servers.cpu_seconds(pid) - cpu_before
    measured.prepared = count
    if profiler is not None and spy is not None:
        profiler.wait()
        if spy.exists():
            spy.with_suffix(".txt").write_text(profile.summarise(spy))
    return measured


def row_of(scenario: Scenario, measured: load.Measured, ctx: Context, **where: Any) -> Row:
    ok = measured.count(*scenario.ok)
    row = Row(scenario=scenario.name, conns=str(scenario.conns(ctx)), **where)
    row.rate, row.p50, row.p99 = measured.rate, measured.p50_ms, measured.p99_ms
    row.succeeded = measured.count("2")
    row.cpu_ms = measured.cpu_ms_per_request
    if scenario.items_per_request:
        row.items = measured.count("2") * scenario.items_per_request / measured.seconds
    unexpected = measured.requests - ok
    if unexpected or measured.socket_errors:
        codes = ", ".join(f"{n} x {c}" for c, n in sorted(measured.statuses.items()) if not c.startswith(scenario.ok))
        row.notes.append(f"UNEXPECTED {codes} {measured.socket_errors} socket errors".strip())
    if scenario.name == "steal":
        row.notes.append(f"{measured.count('2')} stolen, {measured.count('409')} x 409")
    if not measured.requests:
        row.notes.append(f"nothing answered in {measured.seconds:.0f} s")
    if scenario.stop and measured.requests >= measured.prepared:
        row.notes.append(f"all {measured.prepared:,} requests answered before the time was up")
    return row


ACTIVITY = (
    "SELECT (SELECT COUNT(*) FROM ledger_entries) + (SELECT COUNT(*) FROM steals) "
    "+ (SELECT COUNT(*) FROM daily_steps) + (SELECT COUNT(*) FROM plantings)"
)


async def settle(url: str, quiet_s: float = 1.0, limit_s: float = 120) -> None:
    """Wait until requests still running in the server after the load generator stopped have
    finished (nothing written for `quiet_s`), so the next measurement or the audit sees no tail."""
    database = Database(async_url(url))
    try:
        deadline = time.monotonic() + limit_s
        last = None
        while time.monotonic() < deadline:
            async with database.read_sessions() as session:
                now = (await session.execute(text(ACTIVITY))).scalar_one()
            if now == last:
                return
            last = now
            await asyncio.sleep(quiet_s)
    finally:
        await database.dispose()


async def check(url: str, base: str, settings: Settings, rows: dict[str, Row]) -> list[str]:
    """After the load: the audit, and the invariants the scenarios could break under concurrency."""
    problems = []
    request = urllib.request.Request(
        base + "/v1/admin/ledger/audit", headers={"Authorization": f"Bearer {settings.operator_token}"}
    )
    with urllib.request.urlopen(request, timeout=300) as response:
        audit = json.loads(response.read())
    if not audit.get("ok"):
        problems.append(f"ledger audit failed: {audit.get('mismatches')[:3]}")
    database = Database(async_url(url))
    queries = {
        "balls over-drawn": "SELECT COUNT(*) FROM balls WHERE collected_g + stolen_g + expired_g > amount_g "
        "OR stolen_g * 100 > amount_g * 30",
        "balls collected twice": "SELECT COUNT(*) FROM (SELECT ball_id FROM ledger_entries WHERE kind = 'collect' "
        "AND account = 'ball' GROUP BY ball_id HAVING COUNT(*) > 1) AS twice",
        "steals not matching stolen_g": "SELECT COUNT(*) FROM balls b WHERE stolen_g <> "
        "(SELECT COALESCE(SUM(grams), 0) FROM steals s WHERE s.ball_id = b.id)",
    }
    counts = {
        "collect": "SELECT COUNT(*) FROM balls WHERE collected_at IS NOT NULL",
        "steps": "SELECT COUNT(*) FROM daily_steps",
        "partner": "SELECT COUNT(*) FROM partner_reports WHERE report_id NOT LIKE 'history-%'",  # not the seed's
        "plantings": "SELECT COUNT(*) FROM plantings",
        "steal": "SELECT COUNT(*) FROM steals",
    }
    try:
        async with database.read_sessions() as session:
            for what, sql in queries.items():
                n = (await session.execute(text(sql))).scalar_one()
                if n:
                    problems.append(f"{n} {what}")
            for name, sql in counts.items():
                row = rows.get(name)
                if row is None:
                    continue
                stored = (await session.execute(text(sql))).scalar_one()
                expected = row.succeeded * (SCENARIOS[name].items_per_request or 1)
                if stored < expected:
                    problems.append(f"{name}: {expected:,} answered 2xx but only {stored:,} in the database")
    finally:
        await database.dispose()
    return problems


def judge(row: Row, db: str) -> None:
    """The issue's targets, where one applies."""
    if row.scenario == "collect" and db == "postgresql":
        row.target = ">=0.5x db, p99<50ms"
        row.met = (row.vs_db or 0) >= 0.5 and (row.p99 or 1e9) < 50
    elif row.scenario in ("collect", "steps") and db == "sqlite":
        row.target = ">=0.15x framework"
        row.met = (row.vs_framework or 0) >= 0.15
    elif row.scenario == "partner":
        row.target = ">=5,000 reports/s"
        row.met = (row.items or 0) >= 5000


async def run_server(
    databases: Databases,
    template: str,
    ctx: Context,
    server: str,
    workers: int,
    db: str,
    db_ceiling: Row,
    args: argparse.Namespace,
    work: Path,
) -> list[Row]:
    where = {"db": db, "server": server, "workers": str(workers)}
    log = work / f"{server}-{workers}.log"
    with servers.serving(server, servers.CEILING_APP, workers, {}, log) as (base, pid):
        load.run(base, _write(work, CEILING, ctx), conns=ctx.conns, duration=WARMUP_S, stop=False, use=args.generator)
        ceiling = row_of(CEILING, await measure(CEILING, ctx, base, work, args, pid), ctx, **where)
    ceiling.vs_framework = 1.0
    _report(ceiling)
    rows = [ceiling]
    url = await databases.clone(template, f"{server}{workers}")
    try:
        env = server_env(ctx.settings, url)
        with servers.serving(server, servers.CANOPY_APP, workers, env, log) as (base, pid):
            image = SCENARIOS["image"]
            load.run(base, _write(work, image, ctx), conns=8, duration=WARMUP_S, stop=False, use=args.generator)
            by_name: dict[str, Row] = {}
            for name in args.scenarios:
                if name not in SCENARIOS:
                    continue
                scenario = SCENARIOS[name]
                spy = None
                if args.py_spy and name in args.py_spy_scenarios:
                    spy = args.py_spy / f"{name}-{db}-{server}-{workers}w-{scenario.conns(ctx)}c.raw"
                row = row_of(scenario, await measure(scenario, ctx, base, work, args, pid, url, spy), ctx, **where)
                await settle(url)
                if spy and spy.with_suffix(".txt").exists():
                    row.notes.append(f"profile {spy.with_suffix('.txt')}")
                if not scenario.bulk:  # a batch of 500 against one JSON GET or one transaction: no ratio
                    row.vs_framework = row.rate / ceiling.rate if ceiling.rate and row.rate is not None else None
                    row.vs_db = row.rate / db_ceiling.rate if db_ceiling.rate and row.rate is not None else None
                judge(row, db)
                _report(row)
                rows.append(row)
                by_name[name] = row
            problems = await check(url, base, ctx.settings, by_name)
        verdict = "ok" if not problems else "FAILED: " + "; ".join(problems)
        print(f"    correctness after the load ({server}, {workers} workers, {db}): {verdict}", flush=True)
        for row in rows[1:]:
            row.notes.append("checks ok" if not problems else "CHECKS FAILED")
    finally:
        await databases.drop(url)
    return rows


def _write(work: Path, scenario: Scenario, ctx: Context) -> Path:
    path = work / f"warmup-{scenario.name.replace(' ', '-')}.tsv"
    if not path.exists():
        load.write_requests(path, scenario.requests(ctx))
    return path


def _report(row: Row) -> None:
    print("    " + " | ".join(_cells(row)), flush=True)


async def run_database(db: str, args: argparse.Namespace, tokens: Tokens, work: Path) -> list[Row]:
    rows: list[Row] = []
    if any(name in SCENARIOS for name in args.scenarios):
        databases = Databases(args.url if db == "postgresql" else None)
        try:
            rows += await run_http(databases, db, args, tokens, work)
        finally:
            await databases.drop_all()
            shutil.rmtree(databases.tmp, ignore_errors=True)
    if "batching" in args.scenarios:
        rows += await run_batching(db, args)
    return rows


async def run_http(databases: Databases, db: str, args: argparse.Namespace, tokens: Tokens, work: Path) -> list[Row]:
    """Seed a template, measure the database ceiling, then every server and worker count."""
    settings = tokens.settings
    print(f"{db}: seeding a template database", flush=True)
    template, seeded = await prepare_template(databases, settings, args)
    if db == "postgresql":
        scratch = await databases.create("pgbench")
        measured = await asyncio.to_thread(dbceiling.pgbench, scratch, args.conns, args.duration)
        await databases.drop(scratch)
        db_ceiling = Row("db ceiling (pgbench -N)", db, conns=str(args.conns))
    else:
        copy = await databases.clone(template, "rawloop")
        measured = dbceiling.sqlite_loop(Path(copy.split(":///", 1)[1]), seeded.users, args.duration)
        await databases.drop(copy)
        db_ceiling = Row("db ceiling (raw collect loop)", db, conns="1")
    db_ceiling.rate, db_ceiling.p50, db_ceiling.p99 = measured.rate, measured.p50_ms, measured.p99_ms
    db_ceiling.vs_db = 1.0
    _report(db_ceiling)
    rows = [db_ceiling]
    ctx = Context(
        seeded=seeded,
        tokens=tokens,
        settings=settings,
        conns=args.conns,
        bulk_conns=args.bulk_conns,
        partner_batches=args.partner_batches,
    )
    for server in args.server:
        for workers in args.workers:
            print(f"  {server}, {workers} worker(s), {db}", flush=True)
            rows += await run_server(databases, template, ctx, server, workers, db, db_ceiling, args, work)
    return rows


async def run_batching(db: str, args: argparse.Namespace) -> list[Row]:
    """bench/batching.py's measure at N/10 and N (and 1M on PostgreSQL with --batching-1m)."""
    sizes = [args.batching_n // 10, args.batching_n]
    if args.batching_1m and db == "postgresql":
        sizes.append(1_000_000)
    databases = batching.Databases(args.url if db == "postgresql" else None)
    rows = []
    try:
        smallest = None
        for n in sizes:
            result = await batching.measure(databases, n)
            smallest = smallest or result
            row = Row(f"batching {n // 1000:,}k" if n < 10**6 else f"batching {n // 10**6}M", db)
            row.items = n / result["job_s"]
            row.vs_db = result["raw_s"] / result["job_s"]
            row.target = "<=2x raw, flat memory"
            flat = result["peak_mib"] <= 1.5 * smallest["peak_mib"] + 0.5
            row.met = result["job_s"] <= 2 * result["raw_s"] and flat
            row.notes.append(
                f"job {result['job_s']:.2f} s, raw {result['raw_s']:.2f} s, raw+feed {result['raw_feed_s']:.2f} s, "
                f"bare {result['bare_s']:.2f} s, "
                f"peak {result['peak_mib']:.2f} MiB ({smallest['n']:,}: {smallest['peak_mib']:.2f})"
            )
            if n != sizes[0]:
                _report(row)
                rows.append(row)
    finally:
        await databases.drop_all()
        shutil.rmtree(databases.tmp, ignore_errors=True)
    return rows


HEADER = (
    "scenario",
    "db",
    "server",
    "workers",
    "conns",
    "req/s",
    "items/s",
    "p50 ms",
    "p99 ms",
    "cpu ms/req",
    "vs framework",
    "vs db",
    "target",
    "met",
    "notes",
)


def _number(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{max(digits, 1) if 0 < value < 10 else digits}f}"


def _cells(row: Row) -> list[str]:
    return [
        row.scenario,
        row.db,
        row.server,
        row.workers,
        row.conns,
        _number(row.rate),
        _number(row.items),
        _number(row.p50, 1),
        _number(row.p99, 1),
        _number(row.cpu_ms, 2),
        "-" if row.vs_framework is None else f"{row.vs_framework:.2f}x",
        "-" if row.vs_db is None else f"{row.vs_db:.2f}x",
        row.target or "-",
        {None: "-", True: "yes", False: "NO"}[row.met],
        "; ".join(row.notes),
    ]


def table(rows: list[Row]) -> str:
    cells = [list(HEADER), *(_cells(row) for row in rows)]
    widths = [max(len(line[k]) for line in cells) for k in range(len(HEADER))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def _list(kind: type, choices: tuple[str, ...] | None = None) -> Any:
    def parse(value: str) -> list[Any]:
        items = [kind(item.strip()) for item in value.split(",") if item.strip()]
        if choices is not None:
            unknown = [item for item in items if item not in choices]
            if unknown:
                raise argparse.ArgumentTypeError(f"unknown {unknown}; choose from {', '.join(choices)}")
        return items

    return parse


def parse_args() -> argparse.Namespace:
    url = os.environ.get("CANOPY_BENCH_DATABASE_URL")
    all_scenarios = (*SCENARIOS, "batching")
    parser = argparse.ArgumentParser(
        prog="python -m bench http", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--server",
        type=_list(str, servers.SERVERS),
        default=list(servers.SERVERS),
        help="uvicorn,granian (default both)",
    )
    parser.add_argument("--workers", type=_list(int), default=[1, 2], help="worker counts (default 1,2)")
    parser.add_argument(
        "--db",
        type=_list(str, ("sqlite", "postgresql")),
        default=None,
        help="sqlite,postgresql (default sqlite, plus postgresql when a URL is given)",
    )
    parser.add_argument(
        "--url",
        default=url,
        help="a PostgreSQL server URL (default $CANOPY_BENCH_DATABASE_URL); "
        "the bench creates its databases next to the one named and drops them after",
    )
    parser.add_argument("--users", type=int, default=100_000, help="seeded users with a ripe ball (default 100,000)")
    parser.add_argument("--duration", type=float, default=10, help="seconds per scenario (default 10)")
    parser.add_argument("--conns", type=int, default=64, help="connections for per-user scenarios (default 64)")
    parser.add_argument(
        "--bulk-conns",
        type=int,
        default=8,
        help="connections for the batch endpoints, partner and plantings (default 8)",
    )
    parser.add_argument(
        "--bulk-duration",
        type=float,
        default=None,
        help="seconds for the batch endpoints when a batch takes longer than --duration (default --duration)",
    )
    parser.add_argument(
        "--scenarios",
        type=_list(str, all_scenarios),
        default=list(all_scenarios),
        help=f"any of {','.join(all_scenarios)} (default all)",
    )
    parser.add_argument("--thieves", type=int, default=20_000, help="friends of the hot ball's owner (default 20,000)")
    parser.add_argument("--orders", type=int, default=40, help="acknowledged orders of 500 trees to plant (default 40)")
    parser.add_argument(
        "--partner-batches", type=int, default=300, help="signed batches of 500 reports prepared per run (default 300)"
    )
    parser.add_argument("--batching-n", type=int, default=100_000, help="queued trees for the batching row")
    parser.add_argument("--batching-1m", action="store_true", help="also batch 1,000,000 trees (PostgreSQL only)")
    parser.add_argument(
        "--generator",
        choices=("wrk", "python"),
        default=None,
        help="load generator (default wrk when installed, else the asyncio client)",
    )
    parser.add_argument(
        "--py-spy",
        type=Path,
        default=None,
        metavar="DIR",
        help="profile the server with py-spy during --py-spy-scenarios; raw stacks and a top-frames summary in DIR",
    )
    parser.add_argument(
        "--py-spy-scenarios", type=_list(str, all_scenarios), default=["collect"], help="(default collect)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON to this file")
    args = parser.parse_args()
    if args.py_spy:
        args.py_spy.mkdir(parents=True, exist_ok=True)
    if args.db is None:
        args.db = ["sqlite", "postgresql"] if args.url else ["sqlite"]
    if "postgresql" in args.db and not args.url:
        parser.error("--db postgresql needs --url or CANOPY_BENCH_DATABASE_URL")
    if args.users < 2:
        parser.error("--users must be at least 2")
    return args


async def main() -> None:
    args = parse_args()
    work = Path(tempfile.mkdtemp(prefix="canopy-http-bench-"))
    settings = bench_settings(work / "data")
    load_signing_key(settings)  # generated once here, not raced by the workers
    print(
        f"Canopy HTTP bench: {', '.join(args.db)} x {', '.join(args.server)} x {args.workers} workers, "
        f"{args.users:,} users, {args.duration:g} s a scenario, {args.conns} connections "
        f"({args.bulk_conns} for batches), load from {args.generator or load.generator()}; logs in {work}",
        flush=True,
    )
    rows: list[Row] = []
    tokens = Tokens(settings)  # the same seeded ids and secret on every database: minted once
    try:
        for db in args.db:
            rows += await run_database(db, args, tokens, work)
    finally:
        if rows:
            print()
            print(table(rows))
            if args.json:
                args.json.write_text(json.dumps([row.__dict__ for row in rows], indent=2))
    missed = [f"{row.scenario} ({row.db} {row.server} {row.workers})" for row in rows if row.met is False]
    print(f"\ntargets missed: {', '.join(missed) if missed else 'none'}")
    failed = [row for row in rows if "CHECKS FAILED" in row.notes]
    if failed:
        sys.exit("correctness checks failed after the load (see above)")
    shutil.rmtree(work, ignore_errors=True)
