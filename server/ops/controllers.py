"""Operations (SPEC 10): liveness, readiness, the operator's job runner, and the test clock."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from server.auth import OperatorController
from server.clock import Clock
from server.db import Database
from server.errors import problem_response, problems
from server.migrations import current_revision, head_revision, is_behind
from server.openapi import examples, json_example
from server.ops.job_runs import JobStatus, job_statuses
from server.pagination import Page
from server.scheduler import job_intervals, run_job
from server.settings import Settings
from server.validation import IntOnly, RequestModel, ResourceId


class HealthController(Controller):
    path = "/"
    tags = ["operations"]
    include_in_schema = True

    @get("/health", skip_idempotency=True, responses={200: json_example({"status": "ok"}, "Alive")})
    async def health(self) -> dict[str, str]:
        """Liveness (SPEC 10): the process answers; it does not touch the database."""
        return {"status": "ok"}

    @get(
        "/ready",
        responses={
            200: json_example({"status": "ready", "revision": "0018_ngo_portal_photo_names"}, "Ready"),
            **problems("not-ready"),
        },
    )
    async def ready(self, database: NamedDependency[Database]) -> Response[Any]:
        """The database answers and has every migration this code needs (it may have newer ones: a
        rollout migrates before it replaces the previous release's replicas)."""
        try:
            async with database.reader.connect() as connection:
                current = await current_revision(connection)
        except Exception as exc:  # any failure to reach the database means not ready
            return problem_response(503, "not-ready", f"The database is unreachable: {type(exc).__name__}.")
        if is_behind(current):
            needed = head_revision()
            return problem_response(503, "not-ready", f"The database is at {current}, the code needs {needed}.")
        return Response({"status": "ready", "revision": current})


class JobsController(OperatorController):
    path = "/admin/jobs"

    @get("/")
    async def jobs(
        self, settings: NamedDependency[Settings], db_session: NamedDependency[AsyncSession]
    ) -> Page[JobStatus]:
        """Operator: every scheduled job with its interval and its last run (wall-clock times; returned whole)."""
        return Page(items=await job_statuses(db_session, job_intervals(settings)))

    @post(
        "/{name:str}/run",
        status_code=200,
        responses={
            200: json_example(
                {"job": "batch-planting-orders", "orders_created": 1, "trees_ordered": 50}, "The run's own counts"
            ),
            **problems("job-not-found"),
        },
    )
    async def run(
        self,
        database: NamedDependency[Database],
        clock: NamedDependency[Clock],
        settings: NamedDependency[Settings],
        name: FromPath[ResourceId],
    ) -> dict[str, str | int]:
        """Operator: run a job now (SPEC 8.2, 9); it answers its own counts, zero when another run already did the
        work, so it is safe to repeat."""
        return await run_job(name, database, clock, settings)


class ClockAdvance(RequestModel):
    model_config = examples({"advance_seconds": 86400})

    advance_seconds: Annotated[int, IntOnly, Field(ge=1, le=31_536_000)]


class ClockNow(SQLModel):
    model_config = examples({"now": "2026-03-15T07:00:00Z"})

    now: datetime


class TestClockController(OperatorController):
    """`/admin/clock`: only mounted when the server starts with CANOPY_TEST_CLOCK=1."""

    __test__ = False
    path = "/admin/clock"

    @get("/")
    async def read(self, now: NamedDependency[datetime]) -> ClockNow:
        """Operator, test clock only: the server's product-rule time (SPEC 9)."""
        return ClockNow(now=now)

    @post("/", status_code=200)
    async def advance(
        self, clock: NamedDependency[Clock], db_session: NamedDependency[AsyncSession], data: JSONBody[ClockAdvance]
    ) -> ClockNow:
        """Operator, test clock only: move the product-rule clock forward by `advance_seconds` (SPEC 9); it never
        goes back."""
        return ClockNow(now=await clock.advance(db_session, data.advance_seconds))
