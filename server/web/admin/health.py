"""The console's first page, `/admin/`: the ledger's audit, the jobs (with "run now"), the
queues and the failures at a glance."""

from __future__ import annotations

from urllib.parse import urlencode

from litestar import get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from server.clock import Clock
from server.db import Database
from server.ledger import service as ledger
from server.ops import console, job_runs
from server.planting import orders
from server.scheduler import job_intervals, run_job
from server.settings import Settings
from server.validation import ResourceId
from server.web.admin.common import (
    AnyRequest,
    ConsolePage,
    console_page,
    see,
)
from server.web.session import PortalMember, read_portal_form


class ConsoleHealth(ConsolePage):
    path = "/admin"

    @get("/")
    async def health(
        self,
        request: AnyRequest,
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
    ) -> Template:
        audit = await ledger.audit(db_session)  # first: it sets the snapshot its reads share
        context = {
            "audit": audit,
            "jobs": await job_runs.job_statuses(db_session, job_intervals(settings)),
            "queued": await console.queued_by_project(db_session),
            "order_counts": await orders.order_counts(db_session),
            "failures": await console.failure_counts(db_session),
        }
        return console_page(request, member, "health.html", "health", context)

    @post("/jobs/{name:str}/run", status_code=303)
    async def run(
        self,
        request: AnyRequest,
        member: NamedDependency[PortalMember],
        database: NamedDependency[Database],
        clock: NamedDependency[Clock],
        settings: NamedDependency[Settings],
        name: FromPath[ResourceId],
    ) -> Redirect:
        """Run a job now, as `POST /v1/admin/jobs/{name}/run` does; its counts show in the table."""
        await read_portal_form(request, member, ())
        await run_job(name, database, clock, settings)
        return see("/admin/?" + urlencode({"done": "ran"}) + "#jobs")
