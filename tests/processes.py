"""Real `canopy` processes for the tests: `python -m server.cli ...` run with the test's settings.

The settings travel as `CANOPY_*` environment variables (so `@pytest.mark.settings` overrides reach
the subprocess too); a server is waited for on `/ready` and stopped with SIGTERM. Output goes to
a file, never to an unread pipe that could fill up and stall the process.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from server.settings import Settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def canopy_env(settings: Settings, **overrides: Any) -> dict[str, str]:
    """The environment of a process configured as `settings`, with some fields overridden."""
    env = dict(os.environ)
    for name, value in (settings.model_dump() | overrides).items():
        if value is None:
            continue
        if isinstance(value, bool):
            text = "1" if value else "0"
        elif isinstance(value, (list, tuple, dict)):
            text = json.dumps(value)
        else:
            text = str(value)
        env[f"CANOPY_{name.upper()}"] = text
    return env


class Canopy:
    """One `python -m server.cli <args>` process; its stdout and stderr go to `log`."""

    def __init__(self, settings: Settings, *args: str, log: Path, **overrides: Any) -> None:
        self.log = log
        with log.open("wb") as output:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                [sys.executable, "-m", "server.cli", *args],
                env=canopy_env(settings, **overrides),
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM, then SIGKILL if it does not exit in time."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Server(Canopy):
    """One `canopy serve` process answering at `base`."""

    def __init__(
        self, settings: Settings, *, workers: int, log: Path, port: int | None = None, **overrides: Any
    ) -> None:
        port = port or free_port()
        super().__init__(settings, "serve", "--port", str(port), "--workers", str(workers), log=log, **overrides)
        self.base = f"http://127.0.0.1:{port}"

    def worker_pids(self) -> list[int]:
        """The worker processes uvicorn spawned (its children running `spawn_main`)."""
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:  # it ended while we looked
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent == self.process.pid and b"spawn_main" in cmdline:
                pids.append(int(entry.name))
        return sorted(pids)


@contextmanager
def serving(
    settings: Settings, logs: Path, *, count: int = 1, workers: int = 1, port: int | None = None, **overrides: Any
) -> Iterator[list[Server]]:
    """`count` `canopy serve` processes on free ports (or one on `port`), started together and all
    answering `/ready`; yields them and stops them after. Their output goes to `logs`/server-N.log."""
    assert port is None or count == 1, "one port serves one server"
    servers: list[Server] = []
    try:
        for number in range(count):
            servers.append(Server(settings, workers=workers, log=logs / f"server-{number}.log", port=port, **overrides))
        deadline = time.monotonic() + 60
        for server in servers:
            while not _ready(server.base):
                if server.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not start:\n{server.output()[-3000:]}")
                time.sleep(0.1)
        yield servers
    finally:
        for server in servers:
            server.stop()


@contextmanager
def running_servers(
    settings: Settings, logs: Path, *, count: int = 1, workers: int = 1, port: int | None = None, **overrides: Any
) -> Iterator[list[str]]:
    """As `serving`, yielding the servers' base URLs."""
    with serving(settings, logs, count=count, workers=workers, port=port, **overrides) as servers:
        yield [server.base for server in servers]


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
