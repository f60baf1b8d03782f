"""Start an ASGI app under uvicorn or Granian on a free local port, and stop it again."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

SERVERS = ("uvicorn", "granian")
CANOPY_APP = "server.app:create_app"
CEILING_APP = "bench.ceiling:create_app"


class Served(NamedTuple):
    url: str  # http://127.0.0.1:<port>
    pid: int  # the server's main process (its workers are its children)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its descendants (Linux /proc), in seconds:
    what the server spent, whatever else the machine was running."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        times[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent and child not in tree]
        tree.update(children)
        frontier += children
    return sum(times.get(p, 0.0) for p in tree)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def command(server: str, app: str, port: int, workers: int) -> list[str]:
    """Both servers on uvloop, without access logs, the app built by its factory in each worker."""
    if server == "uvicorn":
        return [
            *(sys.executable, "-m", "uvicorn", "--factory", app),
            *("--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)),
            *("--loop", "uvloop", "--http", "httptools", "--log-level", "warning", "--no-access-log"),
        ]
    if server == "granian":
        return [
            *(sys.executable, "-m", "granian", "--interface", "asgi", "--factory"),
            *("--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)),
            *("--loop", "uvloop", "--no-ws", "--log-level", "warning", "--no-access-log", app),
        ]
    raise ValueError(f"unknown server {server!r}; choose from {SERVERS}")


@contextmanager
def serving(
    server: str, app: str, workers: int, env: dict[str, str], log: Path, ready_path: str = "/health"
) -> Iterator[Served]:
    """Run the server until the block ends; yields its URL and pid once `ready_path` answers 200."""
    port = free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(
            command(server, app, port, workers),
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(process, base + ready_path, log)
        yield Served(base, process.pid)
    finally:
        _stop(process)


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited ({process.returncode}); see {log}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the server did not answer {url} within {timeout_s:.0f} s; see {log}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's own process group (its workers), then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
