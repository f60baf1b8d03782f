"""The background jobs: where each lives, how to run one now, and the APScheduler wiring.

APScheduler 3 does not stop two replicas from running the same tick; every job therefore
claims its rows in the database (guarded UPDATEs / SKIP LOCKED) and a second run finds nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from server.energy.jobs import expire_balls
from server.errors import NotFound
from server.mail.jobs import send_email
from server.ops.prune import prune
from server.planting.jobs import batch_planting_orders, order_reminders
from server.webhooks.jobs import deliver_webhooks

logger = logging.getLogger("canopy.scheduler")

Job = Callable[[Any, Any, Any], Awaitable[dict[str, Any]]]

JOBS: dict[str, Job] = {
    "expire-balls": expire_balls,
    "batch-planting-orders": batch_planting_orders,
    "order-reminders": order_reminders,
    "deliver-webhooks": deliver_webhooks,
    "send-email": send_email,
    "prune": prune,
}


def job_intervals(settings: Any) -> dict[str, int]:
    return {
        "expire-balls": settings.expire_balls_interval_s,
        "batch-planting-orders": settings.batch_planting_orders_interval_s,
        "order-reminders": settings.order_reminders_interval_s,
        "deliver-webhooks": settings.deliver_webhooks_interval_s,
        "send-email": settings.send_email_interval_s,
        "prune": settings.prune_interval_s,
    }


async def run_job(name: str, state: Any) -> dict[str, Any]:
    job = JOBS.get(name)
    if job is None:
        raise NotFound(f"No job named {name!r}; jobs: {', '.join(sorted(JOBS))}.", problem="job-not-found")
    return await job(state.database, state.clock, state.settings)


def start_scheduler(state: Any) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler(timezone="UTC")
    for name, seconds in job_intervals(state.settings).items():

        async def tick(job_name: str = name) -> None:
            try:
                counts = await run_job(job_name, state)
                logger.info("job %s: %s", job_name, counts)
            except Exception:
                logger.exception("job %s failed; the next tick retries", job_name)

        scheduler.add_job(tick, "interval", seconds=seconds, id=name, name=name, max_instances=1, coalesce=True)
    scheduler.start()
    return scheduler
