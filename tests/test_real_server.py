"""Truly parallel requests: a real server with two worker processes, hit from many threads at once."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import httpx
import pytest

from server.settings import Settings

THREADS = 24


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "CANOPY_DATABASE_URL": settings.database_url,
        "CANOPY_DATA_DIR": str(settings.data_dir),
        "CANOPY_TEST_CLOCK": "1",
        "CANOPY_SCHEDULER_ENABLED": "0",
        "CANOPY_ARGON2_TIME_COST": "1",
        "CANOPY_ARGON2_MEMORY_KIB": "1024",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail(f"server did not start: {process.stderr.read().decode()[-2000:]}")
    yield base
    process.terminate()
    process.wait(timeout=15)


def all_at_once(call, count: int = THREADS) -> list[httpx.Response]:
    barrier = threading.Barrier(count)

    def run(_: int) -> httpx.Response:
        with httpx.Client(timeout=60) as client:
            barrier.wait()
            return call(client)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def test_parallel_collects_and_plants_across_two_workers(server: str, settings: Settings) -> None:
    operator = {"Authorization": f"Bearer {settings.operator_token}"}
    http = httpx.Client(base_url=server, timeout=60)

    def advance_to_next_morning() -> None:
        now = datetime.fromisoformat(http.get("/v1/admin/clock", headers=operator).json()["now"])
        target = now.replace(hour=8, minute=0, second=0, microsecond=0) + timedelta(days=1)
        http.post("/v1/admin/clock", json={"advance_seconds": int((target - now).total_seconds())}, headers=operator)

    registered = http.post(
        "/v1/auth/register", json={"handle": "parallel", "password": "correct horse battery", "display_name": "P"}
    ).json()
    me = {"Authorization": f"Bearer {registered['access_token']}"}

    def walk_today() -> dict:
        today = http.get("/v1/admin/clock", headers=operator).json()["now"][:10]
        return http.put(f"/v1/me/steps/{today}", json={"steps": 14_800}, headers=me).json()

    ball = walk_today()["ball"]
    advance_to_next_morning()
    collects = all_at_once(lambda c: c.post(f"{server}/v1/me/balls/{ball['id']}/collect", headers=me))
    assert sorted(r.status_code for r in collects) == [200] + [409] * (THREADS - 1)
    assert http.get("/v1/me/forest", headers=me).json()["balance_g"] == 296

    nursery = next(p for p in http.get("/v1/projects").json()["items"] if p["name"] == "Alxa nursery")
    tree = http.post(
        "/v1/me/trees",
        json={"project_id": nursery["id"], "species_id": nursery["species"][0]["species_id"]},
        headers=me,
    ).json()
    balance = 296
    while balance < 17_900:
        walk_today()
        advance_to_next_morning()
        balance = http.post("/v1/me/balls/collect", headers=me).json()["balance_g"]
    plants = all_at_once(lambda c: c.post(f"{server}/v1/me/trees/{tree['id']}/plant", headers=me))
    assert sorted(r.status_code for r in plants) == [200] + [409] * (THREADS - 1)
    assert http.get("/v1/me/forest", headers=me).json()["balance_g"] == balance - 17_900
    audit = http.get("/v1/admin/ledger/audit", headers=operator).json()
    assert audit["ok"] and audit["spent_g"] == 17_900, audit
