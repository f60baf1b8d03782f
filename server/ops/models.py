"""What the operations domain keeps: the last run of each scheduled job (SPEC 12.4 health)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel


class JobRun(SQLModel, table=True):
    """One row per job, overwritten by each run (on demand or by the scheduler), wall-clock times.

    `finished_at` is null while a run is under way (or after one that was killed); `ok` and
    `counts` are those of the last run that finished, `last_success_at` the last run that did
    not raise.
    """

    __tablename__ = "job_runs"

    name: str = Field(primary_key=True, max_length=40)
    started_at: datetime
    finished_at: datetime | None = None
    ok: bool | None = None
    counts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}"))
    error: str | None = Field(default=None, max_length=200)
    last_success_at: datetime | None = None
