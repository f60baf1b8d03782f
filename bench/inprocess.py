"""`python -m bench inprocess`: server CPU per request of the hot routes, without a server.

The ASGI app is called directly, one request at a time, on a seeded database, and the CPU the
Python process spends per request is printed (the database's own CPU is in its own process and
not counted). Unlike the HTTP bench, the figure does not move with the load on a shared machine,
so it shows what a change to a route's code saves. `--breakdown` splits the CPU into the token
check, the statements, the commit and the rest (framework, handler, serialisation);
`--profile DIR` also writes a pyinstrument report per route.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

import server.auth
from bench.batching import Databases
from bench.http.run import bench_settings, server_env
from bench.http.scenarios import PARTNER_BATCH, REPORTS_PER_BATCH, Tokens, signed_batch
from bench.http.seed import Seeded, ball_id, seed
from server.app import create_app
from server.settings import Settings

Request = tuple[str, str, dict[str, str], bytes]


def _routes(tokens: Tokens, seeded: Seeded) -> dict[str, Callable[[int], Request]]:
    """Each route's i-th request (user i acts on their own data)."""

    def collect(i: int) -> Request:
        return "POST", f"/v1/me/balls/{ball_id(i)}/collect", tokens.bearer(i), b""

    def collect_all(i: int) -> Request:
        """All of user i's ripe balls (one each): a route of its own run, as it takes `collect`'s balls."""
        return "POST", "/v1/me/balls/collect", tokens.bearer(i), b""

    today = seeded.seeded_at[:10]

    def steps(i: int) -> Request:
        body = json.dumps({"steps": 1000 + i}).encode()
        return "PUT", f"/v1/me/steps/{today}", {**tokens.bearer(i), "content-type": "application/json"}, body

    def me(i: int) -> Request:
        return "GET", "/v1/me", tokens.bearer(i), b""

    def forest(i: int) -> Request:
        return "GET", "/v1/me/forest", tokens.bearer(i), b""

    def health(_: int) -> Request:
        return "GET", "/health", {}, b""

    def partner(i: int) -> Request:
        """A signed batch of REPORTS_PER_BATCH metro rides (per request: divide by that for a report)."""
        body, headers = signed_batch(seeded, i, prefix="inprocess")
        return "POST", PARTNER_BATCH, headers, body.encode()

    return {
        "health": health,
        "me": me,
        "forest": forest,
        "collect": collect,
        "collect-all": collect_all,
        "steps": steps,
        "partner": partner,
    }


async def call(app: Any, request: Request) -> int:
    method, path, headers, body = request
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        + [(b"content-length", str(len(body)).encode()), (b"host", b"bench")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


class CpuBreakdown:
    """CPU spent in the token check, in statements (BEGIN included) and in commits, timed around
    the calls themselves: sampling profilers overstate short calls (pyinstrument and py-spy put
    PyJWT at 13% of a collect; timed, it is 4%)."""

    def __init__(self) -> None:
        self.totals = {"token": 0.0, "statements": 0.0, "commit": 0.0}
        self.statements = 0
        self._patches: list[tuple[Any, str, Any]] = []

    def _time(self, owner: Any, name: str, bucket: str) -> None:
        original = getattr(owner, name)
        totals = self.totals

        if bucket == "token":

            def timed(*args: Any, **kwargs: Any) -> Any:
                started = time.process_time()
                try:
                    return original(*args, **kwargs)
                finally:
                    totals[bucket] += time.process_time() - started

        else:

            async def timed(*args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
                started = time.process_time()
                try:
                    return await original(*args, **kwargs)
                finally:
                    totals[bucket] += time.process_time() - started
                    self.statements += bucket == "statements"

        setattr(owner, name, timed)
        self._patches.append((owner, name, original))

    def __enter__(self) -> CpuBreakdown:
        self._time(server.auth, "read_access_token", "token")
        self._time(AsyncSession, "execute", "statements")
        self._time(AsyncSession, "commit", "commit")
        return self

    def __exit__(self, *_: Any) -> None:
        for owner, name, original in reversed(self._patches):
            setattr(owner, name, original)

    def columns(self, requests: int, cpu_ms: float) -> str:
        per = {bucket: seconds * 1000 / requests for bucket, seconds in self.totals.items()}
        rest = cpu_ms - sum(per.values())
        return (
            f" {per['token']:8.3f} {per['statements']:10.3f} ({self.statements / requests:4.1f})"
            f" {per['commit']:8.3f} {rest:8.3f}"
        )


async def measure(
    app: Any, route: Callable[[int], Request], users: range, profile: Path | None, breakdown: bool = False
) -> tuple[float, float, str]:
    """CPU ms and wall ms per request over `users`, one request after another (and the breakdown
    columns when asked)."""
    requests = [route(i) for i in users]  # tokens minted before the clock starts
    profiler = None
    if profile is not None:
        from pyinstrument import Profiler

        profiler = Profiler(async_mode="disabled", interval=0.0005)
        profiler.start()
    timers = CpuBreakdown() if breakdown else contextlib.nullcontext()
    with timers:
        cpu, wall = time.process_time(), time.perf_counter()
        for request in requests:
            status = await call(app, request)
            if status >= 300:
                raise SystemExit(f"{request[:2]} answered {status}")
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if profiler is not None:
        profiler.stop()
        profile.write_text(profiler.output_text(unicode=True, color=False, show_all=False))
    cpu_ms = cpu * 1000 / len(users)
    columns = timers.columns(len(users), cpu_ms) if isinstance(timers, CpuBreakdown) else ""
    return cpu_ms, wall * 1000 / len(users), columns


async def print_statements(app: Any, request: Request) -> None:
    """The round trips of one request: each statement the app sends, BEGIN and COMMIT included,
    with its wall time (the database's work and the driver's)."""
    database = app.state.database
    engines = {database.writer.sync_engine, database.reader.sync_engine}
    sent: list[list[Any]] = []  # [wall ms or None, statement]

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append([time.perf_counter(), " ".join(statement.split())[:100]])

    def on_result(*_: Any) -> None:
        sent[-1][0] = (time.perf_counter() - sent[-1][0]) * 1000

    listeners = [
        ("before_cursor_execute", on_statement),
        ("after_cursor_execute", on_result),
        ("begin", lambda _conn: sent.append([None, "BEGIN"])),
        ("commit", lambda _conn: sent.append([None, "COMMIT"])),
    ]
    for engine in engines:
        for name, listener in listeners:
            event.listen(engine, name, listener)
    try:
        await call(app, request)
    finally:
        for engine in engines:
            for name, listener in listeners:
                event.remove(engine, name, listener)
    print(f"  {request[0]} {request[1]}: {len(sent)} round trips")
    for wall_ms, statement in sent:
        print(f"    {f'{wall_ms:7.1f} ms' if wall_ms is not None else ' ' * 10}  {statement}")


async def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench inprocess", description=__doc__)
    parser.add_argument("--url", help="a PostgreSQL server (the bench creates its own database); else SQLite")
    parser.add_argument("--requests", type=int, default=2000, help="requests per route")
    parser.add_argument("--routes", default="health,me,forest,collect,steps,partner")
    parser.add_argument("--profile", type=Path, help="write a pyinstrument report per route here")
    parser.add_argument("--statements", action="store_true", help="print the SQL of one request per route")
    parser.add_argument(
        "--breakdown", action="store_true", help="split each route's CPU: token check, statements, commit, the rest"
    )
    args = parser.parse_args()

    databases = Databases(args.url)
    work = Path(tempfile.mkdtemp(prefix="canopy-inprocess-"))
    settings = bench_settings(work)
    try:
        url = await databases.create("inprocess")
        env = server_env(settings, url)
        for command in ("migrate", "seed-demo"):
            subprocess.run([sys.executable, "-m", "server.cli", command], env=env, check=True, capture_output=True)
        users = 2 * args.requests + 1  # a warm-up pass and the measured pass collect different balls
        # (and one more user, `users`, for --statements)
        seeded = await seed(url, users + 1, 1, 0, settings)
        app = create_app(Settings(**{**settings.model_dump(), "database_url": url}))
        tokens = Tokens(settings)
        routes = _routes(tokens, seeded)
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
        header = f"{'route':10} {'CPU ms/req':>10} {'wall ms/req':>11}"
        if args.breakdown:
            header += f" {'token':>8} {'statements (n)':>17} {'commit':>8} {'the rest':>8}"
        print(f"{header}   ({(databases.url and 'PostgreSQL') or 'SQLite'})")
        async with app.lifespan():
            for name in args.routes.split(","):
                route = routes[name]
                n = args.requests if name != "partner" else max(2, args.requests // REPORTS_PER_BATCH)
                await measure(app, route, range(1, n + 1), None)  # warm-up
                if args.statements:
                    await print_statements(app, route(users))
                profile = args.profile / f"{name}.txt" if args.profile else None
                measured = range(n + 1, 2 * n + 1)
                cpu_ms, wall_ms, columns = await measure(app, route, measured, profile, args.breakdown)
                print(f"{name:10} {cpu_ms:10.3f} {wall_ms:11.3f}{columns}", flush=True)
    finally:
        await databases.drop_all()


if __name__ == "__main__":
    asyncio.run(main())
