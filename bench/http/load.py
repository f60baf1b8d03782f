"""Drive load from a separate process: wrk (with wrk.lua) when installed, else bench.http.client.

A request file has one request a line, tab-separated: METHOD, PATH, BODY ("" for none), then
headers as "Name: value". Both generators split it between their threads/connections so each
request is sent once (per pass), and print `BENCH {json}`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

WRK_SCRIPT = Path(__file__).with_name("wrk.lua")
WRK_THREADS = 2


@dataclass
class Measured:
    """One load run: answered requests, the span they took, latency percentiles, status codes."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    statuses: dict[str, int] = field(default_factory=dict)
    socket_errors: int = 0
    wrapped: bool = False
    prepared: int = 0  # requests in the file
    server_cpu_s: float | None = None  # CPU the server's processes used during the load

    @property
    def cpu_ms_per_request(self) -> float | None:
        return self.server_cpu_s * 1000 / self.requests if self.server_cpu_s is not None and self.requests else None

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def count(self, *prefixes: str) -> int:
        return sum(n for code, n in self.statuses.items() if code.startswith(prefixes))


def write_requests(path: Path, lines: Iterable[tuple[str, str, str, dict[str, str]]]) -> int:
    """Write (method, path, body, headers) requests; returns how many."""
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for method, target, body, headers in lines:
            fields = [method, target, body, *(f"{name}: {value}" for name, value in headers.items())]
            assert not any("\t" in f or "\n" in f for f in fields), "tabs and newlines cannot be in a request"
            out.write("\t".join(fields) + "\n")
            count += 1
    return count


def generator() -> str:
    return "wrk" if shutil.which("wrk") else "python"


def run(base_url: str, requests: Path, *, conns: int, duration: float, stop: bool, use: str | None = None) -> Measured:
    """Run one load; `stop`: each request once (ends early when all are answered), else cycle."""
    mode = "stop" if stop else "cycle"
    if (use or generator()) == "wrk":
        threads = min(WRK_THREADS, conns)
        command = [
            *("wrk", f"-t{threads}", f"-c{conns}", f"-d{duration:g}s", "--timeout", "30s"),
            *("-s", str(WRK_SCRIPT), base_url, "--", str(requests), mode, str(threads)),
        ]
    else:
        command = [
            *(sys.executable, "-m", "bench.http.client", base_url, str(requests), mode),
            *("--conns", str(conns), "--duration", f"{duration:g}"),
        ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 120)
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"the load generator failed ({done.returncode}): {done.stderr or done.stdout}")
    data = json.loads(line[len("BENCH ") :])
    statuses = {str(code): int(n) for code, n in data["statuses"].items()}
    answered = sum(statuses.values())
    span_us = data["span_us"] if data["span_us"] > 0 else data["duration_us"]
    return Measured(
        requests=answered,
        seconds=max(span_us, 1) / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        statuses=statuses,
        socket_errors=data["socket_errors"],
        wrapped=bool(data["wrapped"]),
    )
