"""The `canopy` command, run as a newcomer would run it (a real subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def canopy(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CANOPY_DATABASE_URL": database_url, "CANOPY_SCHEDULER_ENABLED": "0"}
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def empty_sqlite(tmp_path) -> str:
    return f"sqlite:///{tmp_path}/cli.db"


def test_migrate_seed_twice_and_run_a_job(empty_sqlite: str) -> None:
    assert canopy(empty_sqlite, "migrate").returncode == 0
    first = canopy(empty_sqlite, "seed-demo")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["created"] == {
        "action_types": 12,
        "species": 4,
        "ngos": 1,
        "projects": 2,
        "translations": 0,
    }
    second = canopy(empty_sqlite, "seed-demo")
    assert json.loads(second.stdout)["created"] == {
        "action_types": 0,
        "species": 0,
        "ngos": 0,
        "projects": 0,
        "translations": 0,
    }
    job = canopy(empty_sqlite, "jobs", "run", "expire-balls")
    assert job.returncode == 0, job.stderr
    assert json.loads(job.stdout) == {"job": "expire-balls", "balls_expired": 0, "expired_g": 0}
    unknown = canopy(empty_sqlite, "jobs", "run", "nope")
    assert unknown.returncode != 0 and "No job named" in unknown.stderr


def test_help_lists_the_commands() -> None:
    result = subprocess.run([sys.executable, "-m", "server.cli", "--help"], capture_output=True, text=True)
    for command in ("migrate", "seed-demo", "serve", "jobs"):
        assert command in result.stdout
