"""Operations (SPEC 10): liveness, readiness, and the operator's job runner."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath

from server.auth import OperatorController
from server.errors import problem_response, problems
from server.migrations import current_revision, head_revision
from server.scheduler import run_job
from server.validation import ResourceId


class HealthController(Controller):
    path = "/"
    tags = ["operations"]
    include_in_schema = True

    @get("/health", skip_idempotency=True)
    async def health(self) -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @get("/ready", responses=problems(503))
    async def ready(self, state: State) -> Response[Any]:
        """The database answers and is migrated to the code's head revision."""
        try:
            async with state.database.reader.connect() as connection:
                current = await current_revision(connection)
        except Exception as exc:  # any failure to reach the database means not ready
            return problem_response(503, "not-ready", f"The database is unreachable: {type(exc).__name__}.")
        head = head_revision()
        if current != head:
            return problem_response(503, "not-ready", f"The database is at {current}, the code needs {head}.")
        return Response({"status": "ready", "revision": current})


class JobsController(OperatorController):
    path = "/admin/jobs"

    @post("/{name:str}/run", status_code=200)
    async def run(self, state: State, name: FromPath[ResourceId]) -> dict[str, Any]:
        """Run a job now; it answers its own counts (zero when another run already did the work)."""
        return await run_job(name, state)
