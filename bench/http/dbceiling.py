"""The database ceiling: what the database alone does, measured in the same run.

* PostgreSQL: `pgbench -N` (TPC-B without the teller/branch updates: one UPDATE, one SELECT, one
  INSERT per transaction) on a scratch database initialised next to the bench's, `-c CONNS -j 2`,
  the same duration; latencies from pgbench's per-transaction log.
* SQLite: one connection (SQLite has one writer) in WAL mode with the server's pragmas, running in
  a loop the statements a collect commits: BEGIN IMMEDIATE, the guarded UPDATE of the ball
  RETURNING its grams, the ledger transaction and its two entries, the balance UPDATE, COMMIT,
  each on a different seeded user's ripe ball.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.http.load import Measured
from bench.http.seed import ball_id, user_id

PGBENCH_SCALE = 10


def _percentiles(latencies_s: list[float]) -> tuple[float, float]:
    latencies_s.sort()
    if not latencies_s:
        return 0.0, 0.0
    pick = lambda p: latencies_s[min(len(latencies_s) - 1, int(len(latencies_s) * p / 100))]  # noqa: E731
    return pick(50) * 1000, pick(99) * 1000


def pgbench(url: str, conns: int, duration: float) -> Measured:
    """`pgbench -N` against `url` (a scratch database the caller created and will drop)."""
    plain = url.replace("postgresql+asyncpg://", "postgresql://")
    subprocess.run(["pgbench", "-i", "-q", "-s", str(PGBENCH_SCALE), plain], check=True, capture_output=True)
    with tempfile.TemporaryDirectory(prefix="canopy-pgbench-") as logs:
        prefix = os.path.join(logs, "tx")
        done = subprocess.run(
            [
                *("pgbench", "-N", "-n", "-c", str(conns), "-j", "2", "-T", str(max(1, round(duration)))),
                *("-l", f"--log-prefix={prefix}", plain),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        latencies = []
        for log in Path(logs).glob("tx*"):
            for line in log.read_text().splitlines():
                fields = line.split()
                latencies.append(int(fields[2]) / 1e6)
    tps = next(
        float(line.split("=")[1].split()[0])
        for line in done.stdout.splitlines()
        if line.startswith("tps =") and "without initial connection time" in line
    )
    p50, p99 = _percentiles(latencies)
    seconds = len(latencies) / tps if tps else duration
    return Measured(requests=len(latencies), seconds=seconds, p50_ms=p50, p99_ms=p99, statuses={"ok": len(latencies)})


def _stamp(moment: datetime) -> str:
    """How the server's UTC datetime type stores a timestamp on SQLite."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")


def sqlite_loop(path: Path, users: int, duration: float) -> Measured:
    """The collect's statements in a loop on a copy of the seeded SQLite database."""
    connection = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "busy_timeout=30000", "foreign_keys=ON", "synchronous=NORMAL"):
        connection.execute(f"PRAGMA {pragma}")
    latencies: list[float] = []
    started = time.perf_counter()
    deadline = started + duration
    i = 1
    while time.perf_counter() < deadline and i < users:
        t0 = time.perf_counter()
        now = _stamp(datetime.now(UTC))
        uid, bid, tx = user_id(i), ball_id(i), f"raw-tx-{i}"
        connection.execute("BEGIN IMMEDIATE")
        grams = connection.execute(
            "UPDATE balls SET collected_g = remaining_g, remaining_g = 0, collected_at = ? "
            "WHERE id = ? AND user_id = ? AND collected_at IS NULL AND settled_at IS NULL "
            "AND ripens_at <= ? AND expires_at > ? RETURNING collected_g",
            (now, bid, uid, now, now),
        ).fetchone()[0]
        connection.execute(
            "INSERT INTO ledger_transactions (id, kind, user_id, reference, created_at) VALUES (?, ?, ?, ?, ?)",
            (tx, "collect", uid, None, now),
        )
        connection.executemany(
            "INSERT INTO ledger_entries (id, transaction_id, kind, account, user_id, ball_id, tree_id, amount_g, "
            "created_at) VALUES (?, ?, 'collect', ?, ?, ?, NULL, ?, ?)",
            [(f"{tx}-b", tx, "ball", uid, bid, -grams, now), (f"{tx}-c", tx, "balance", uid, None, grams, now)],
        )
        connection.execute("UPDATE balances SET balance_g = balance_g + ? WHERE user_id = ?", (grams, uid))
        connection.execute("COMMIT")
        latencies.append(time.perf_counter() - t0)
        i += 1
    elapsed = time.perf_counter() - started
    connection.close()
    p50, p99 = _percentiles(latencies)
    return Measured(requests=len(latencies), seconds=elapsed, p50_ms=p50, p99_ms=p99, statuses={"ok": len(latencies)})
