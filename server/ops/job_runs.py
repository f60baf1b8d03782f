"""The record of each job's last run, written around every run (server/scheduler.py run_job).

Each write is a transaction of its own, outside the job's: the job's work commits or not on its
own terms, and the record says what happened. Times are the wall clock's (when it really ran),
not the test clock's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

from server.db import Database, dialect_insert
from server.openapi import examples
from server.ops.models import JobRun

ERROR_MAX = 200


class LastRun(SQLModel):
    started_at: datetime
    finished_at: datetime | None
    ok: bool | None
    counts: dict[str, int]
    error: str | None
    last_success_at: datetime | None


class JobStatus(SQLModel):
    """A job, how often the scheduler runs it, and its last run (null if it never ran)."""

    model_config = examples(
        {
            "job": "batch-planting-orders",
            "interval_s": 900,
            "last_run": {
                "started_at": "2026-03-14T07:00:00Z",
                "finished_at": "2026-03-14T07:00:01Z",
                "ok": True,
                "counts": {"orders_created": 1, "trees_ordered": 50},
                "error": None,
                "last_success_at": "2026-03-14T07:00:01Z",
            },
        }
    )

    job: str
    interval_s: int
    last_run: LastRun | None


async def started(database: Database, name: str, at: datetime) -> None:
    """A run begins: the job's row is made, or marked as running again."""
    values = {"started_at": at, "finished_at": None}
    async with database.transaction() as session:
        statement = dialect_insert(session)(JobRun).values(name=name, **values)
        await session.execute(statement.on_conflict_do_update(index_elements=["name"], set_=values))


async def finished(
    database: Database, name: str, at: datetime, counts: dict[str, int] | None, error: BaseException | None = None
) -> None:
    """The run's outcome on the row `started` made: its counts, or the kind of error that stopped
    it (never its message, which may quote data)."""
    values: dict[str, Any] = {"finished_at": at, "ok": error is None, "counts": counts or {}, "error": None}
    if error is None:
        values["last_success_at"] = at
    else:
        values["error"] = type(error).__name__[:ERROR_MAX]
    async with database.transaction() as session:
        await session.execute(update(JobRun).where(col(JobRun.name) == name).values(**values))


async def job_statuses(session: AsyncSession, intervals: dict[str, int]) -> list[JobStatus]:
    """Each job of `intervals` (name -> seconds between runs) with its last run, in that order."""
    rows = await session.execute(select(JobRun).where(col(JobRun.name).in_(intervals)))
    runs = {run.name: LastRun.model_validate(run, from_attributes=True) for run in rows.scalars()}
    return [JobStatus(job=name, interval_s=seconds, last_run=runs.get(name)) for name, seconds in intervals.items()]
