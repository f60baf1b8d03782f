"""`canopy ngo create` prints the key once; `canopy jobs run` runs the planting jobs."""

from __future__ import annotations

import json
from pathlib import Path

from tests.ops.test_cli import canopy


def test_ngo_create_and_planting_jobs_from_the_command_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    assert canopy(url, "migrate").returncode == 0
    created = canopy(url, "ngo", "create", "--name", "Cli NGO", "--contact-email", "cli@example.org")
    assert created.returncode == 0, created.stderr
    body = json.loads(created.stdout)
    assert body["api_key"].startswith("ngo_") and body["key_id"] and body["id"]
    again = canopy(url, "ngo", "create", "--name", "Cli NGO", "--contact-email", "cli@example.org")
    assert again.returncode != 0 and "exists" in again.stderr
    bad = canopy(url, "ngo", "create", "--name", "X", "--contact-email", "nope")
    assert bad.returncode != 0
    batch = canopy(url, "jobs", "run", "batch-planting-orders")
    assert json.loads(batch.stdout) == {"job": "batch-planting-orders", "orders_created": 0, "trees_ordered": 0}
    reminders = canopy(url, "jobs", "run", "order-reminders")
    assert json.loads(reminders.stdout) == {"job": "order-reminders", "orders_overdue": 0}
