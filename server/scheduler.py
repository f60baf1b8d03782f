"""The background jobs: where each lives, how to run one now, and the APScheduler wiring.

APScheduler 3 does not stop two replicas from running the same tick; every job therefore
claims its rows in the database (guarded UPDATEs / SKIP LOCKED) and a second run finds nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from server.clock import Clock, wall_clock
from server.db import Database
from server.energy.jobs import expire_balls
from server.errors import NotFound
from server.mail.jobs import send_email
from server.notifications.jobs import send_notifications
from server.ops import job_runs
from server.ops.prune import prune
from server.planting.jobs import batch_planting_orders, order_reminders
from server.settings import Settings
from server.webhooks.jobs import deliver_webhooks

logger = logging.getLogger("canopy.scheduler")

Job = Callable[[Database, Clock, Settings], Awaitable[dict[str, int]]]
"""A job gets what it needs as arguments and answers its counts (what it did, by name)."""

JOBS: dict[str, Job] = {
    "expire-balls": expire_balls,
    "batch-planting-orders": batch_planting_orders,
    "order-reminders": order_reminders,
    "deliver-webhooks": deliver_webhooks,
    "send-notifications": send_notifications,
    "send-email": send_email,
    "prune": prune,
}


def job_intervals(settings: Settings) -> dict[str, int]:
    return {
        "expire-balls": settings.expire_balls_interval_s,
        "batch-planting-orders": settings.batch_planting_orders_interval_s,
        "order-reminders": settings.order_reminders_interval_s,
        "deliver-webhooks": settings.deliver_webhooks_interval_s,
        "send-notifications": settings.send_notifications_interval_s,
        "send-email": settings.send_email_interval_s,
        "prune": settings.prune_interval_s,
    }


async def run_job(name: str, database: Database, clock: Clock, settings: Settings) -> dict[str, str | int]:
    """Run the job `name` now: its name, then its counts. The run is recorded (ops.job_runs) for
    the console's health page, whether it ends well or raises."""
    job = JOBS.get(name)
    if job is None:
        raise NotFound(f"No job named {name!r}; jobs: {', '.join(sorted(JOBS))}.", problem="job-not-found")
    await job_runs.started(database, name, wall_clock())
    try:
        counts = await job(database, clock, settings)
    except Exception as exc:
        await job_runs.finished(database, name, wall_clock(), None, exc)
        raise
    await job_runs.finished(database, name, wall_clock(), counts)
    return {"job": name, **counts}


class Scheduler:
    """APScheduler's ticks, and the jobs running now, so that a stopping process lets them finish:
    a job cut short rolls back and the next run redoes it, but it should not have to."""

    SHUTDOWN_GRACE_S = 10

    def __init__(self, database: Database, clock: Clock, settings: Settings) -> None:
        self._ticks = AsyncIOScheduler(timezone="UTC")
        self._running: set[asyncio.Task[None]] = set()
        for name, seconds in job_intervals(settings).items():

            async def tick(job_name: str = name) -> None:
                task = asyncio.current_task()
                assert task is not None
                self._running.add(task)
                try:
                    counts = await run_job(job_name, database, clock, settings)
                    logger.info("job %s: %s", job_name, counts)
                except asyncio.CancelledError:  # the process stops: no traceback for an expected end
                    logger.warning("job %s cut short by the shutdown; the next run redoes its work", job_name)
                except Exception:
                    logger.exception("job %s failed; the next tick retries", job_name)
                finally:
                    self._running.discard(task)

            self._ticks.add_job(tick, "interval", seconds=seconds, id=name, name=name, max_instances=1, coalesce=True)

    def start(self) -> None:
        self._ticks.start()

    async def stop(self) -> None:
        """No new ticks; the running jobs get SHUTDOWN_GRACE_S to finish before the database closes."""
        self._ticks.shutdown(wait=False)
        if self._running:
            await asyncio.wait(set(self._running), timeout=self.SHUTDOWN_GRACE_S)


def start_scheduler(database: Database, clock: Clock, settings: Settings) -> Scheduler:
    scheduler = Scheduler(database, clock, settings)
    scheduler.start()
    return scheduler
