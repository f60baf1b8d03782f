"""`canopy jobs run batch-planting-orders` killed with SIGKILL mid-run, then run again (SPEC 8.2:
"safe to kill at any moment: a rerun finishes the work, and no tree is lost or ordered twice")."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from datetime import timedelta
from pathlib import Path

import pytest

from server.settings import Settings
from tests.api import Api
from tests.faults.helpers import assert_orders_whole, batching_progress, database, queue_many
from tests.planting.helpers import create_ngo, create_project
from tests.processes import Canopy

TREES = 600
ORDER_SIZE = 10
KILL_AFTER = 5  # orders committed


# One small order per transaction (settings an operator has too): the run commits 60 times over a
# few seconds, so the kill lands in the middle of the run, most likely inside a transaction.
@pytest.mark.settings(order_max_trees=ORDER_SIZE, order_min_trees=ORDER_SIZE, order_batch_orders=1)
async def test_a_run_killed_mid_way_is_finished_by_the_next(api: Api, settings: Settings, tmp_path: Path) -> None:
    ngo = await create_ngo(api, webhook_url="https://ngo.example.org/hooks")
    project = await create_project(api, ngo, capacity=10 * TREES)
    user = await api.register()
    await queue_many(settings, user, project, TREES, queued_at=await api.now() - timedelta(days=1))

    async with database(settings) as db:
        run = Canopy(settings, "jobs", "run", "batch-planting-orders", log=tmp_path / "killed.log")
        try:
            deadline = time.monotonic() + 60
            while (progress := await batching_progress(db))[0] < KILL_AFTER:
                assert run.process.poll() is None, f"the run ended before the kill:\n{run.output()}"
                assert time.monotonic() < deadline, f"not {KILL_AFTER} orders after 60 s:\n{run.output()}"
                await asyncio.sleep(0.01)
            run.process.send_signal(signal.SIGKILL)
            assert run.process.wait(timeout=10) == -signal.SIGKILL, run.output()  # it was still running
        finally:
            run.stop()
        orders, queued = await batching_progress(db)
        assert orders >= KILL_AFTER and queued > 0, (orders, queued)  # killed in the middle
        assert orders >= progress[0] and queued <= progress[1]
        assert "orders_created" not in run.output()  # it never got to print its counts
        sizes, statuses = await assert_orders_whole(db)  # what was committed is whole
        killed = len(sizes)
        assert statuses == {"ordered": killed * ORDER_SIZE, "queued": TREES - killed * ORDER_SIZE}, statuses

        rerun = Canopy(settings, "jobs", "run", "batch-planting-orders", log=tmp_path / "rerun.log")
        assert rerun.process.wait(timeout=120) == 0, rerun.output()
        rerun.stop()
        counts = json.loads(rerun.output())
        sizes, statuses = await assert_orders_whole(db)
    assert statuses == {"ordered": TREES}, statuses  # none lost, none left queued
    assert counts == {
        "job": "batch-planting-orders",
        "orders_created": TREES // ORDER_SIZE - killed,
        "trees_ordered": TREES - killed * ORDER_SIZE,
    }
    assert set(sizes.values()) == {ORDER_SIZE}
    assert (await api.audit())["ok"]
