"""`GET /admin/emails?status=`: the outbox, for the operator (bodies only in development)."""

from __future__ import annotations

from typing import Annotated, Literal

from litestar import get
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import OperatorController
from server.mail import service
from server.mail.schemas import EmailPublic
from server.pagination import Cursor, Limit, Page
from server.settings import Settings

Status = Annotated[Literal["pending", "sent", "failed"] | None, QueryParameter()]


class AdminEmailController(OperatorController):
    path = "/admin/emails"

    @get("/")
    async def emails(
        self,
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
        status: FromQuery[Status] = None,
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> Page[EmailPublic]:
        """Operator: the outbox, newest first. Without CANOPY_SMTP_URL (development) with the text and HTML bodies,
        links included; with an SMTP server without them, as they hold live single-use links."""
        return await service.list_emails(db_session, settings, status, cursor, limit)
