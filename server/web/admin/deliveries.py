"""`/admin/deliveries`: webhook deliveries by status (with "send again"), and the emails and
pushes that gave up."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from litestar import get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from server.mail import service as mail
from server.ops import console
from server.pagination import Cursor
from server.partners import onboarding
from server.settings import Settings
from server.validation import ResourceId
from server.web.admin.common import (
    PAGE_SIZE,
    AnyRequest,
    ConsolePage,
    console_page,
    ngo_names,
    see,
)
from server.web.session import PortalMember, read_portal_form
from server.webhooks import service as webhooks

DeliveryStatusQuery = Annotated[Literal["pending", "delivered", "failed"], QueryParameter()]


class ConsoleDeliveries(ConsolePage):
    path = "/admin/deliveries"

    @get("/")
    async def webhooks(
        self,
        request: AnyRequest,
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        status: FromQuery[DeliveryStatusQuery] = "failed",
        cursor: Cursor = None,
    ) -> Template:
        """Webhook deliveries of a status (failed ones by default), newest first, with "send again"."""
        deliveries, next_cursor = await webhooks.deliveries_page(db_session, status, cursor, PAGE_SIZE)
        receivers = await ngo_names(db_session) | {p.id: p.name for p in await onboarding.list_partners(db_session)}
        context = {"deliveries": deliveries, "next_cursor": next_cursor, "status": status, "receivers": receivers}
        return console_page(request, member, "deliveries.html", "deliveries", context)

    @post("/{delivery_id:str}/retry", status_code=303)
    async def send_again(
        self,
        request: AnyRequest,
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        now: NamedDependency[datetime],
        delivery_id: FromPath[ResourceId],
    ) -> Redirect:
        """As `POST /v1/admin/webhook-deliveries/{id}/retry`: the event again, with the whole schedule."""
        await read_portal_form(request, member, ())
        await webhooks.send_again(db_session, delivery_id, now)
        return see("/admin/deliveries?done=sent")

    @get("/emails")
    async def emails(
        self,
        request: AnyRequest,
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        settings: NamedDependency[Settings],
        cursor: Cursor = None,
    ) -> Template:
        """Emails that gave up, as `GET /v1/admin/emails?status=failed` (never their bodies here)."""
        page = await mail.list_emails(db_session, settings, "failed", cursor, PAGE_SIZE)
        return _failed_page(request, member, "emails", page.items, page.next_cursor)

    @get("/pushes")
    async def pushes(
        self,
        request: AnyRequest,
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        cursor: Cursor = None,
    ) -> Template:
        """Pushes the relay never accepted."""
        pushes, next_cursor = await console.failed_pushes_page(db_session, cursor, PAGE_SIZE)
        return _failed_page(request, member, "pushes", pushes, next_cursor)


def _failed_page(
    request: AnyRequest, member: PortalMember, outbox: str, failed: Sequence[Any], next_cursor: str | None
) -> Template:
    """The emails or the pushes that gave up, a page at a time (one template for both outboxes)."""
    context = {"outbox": outbox, "failed": failed, "next_cursor": next_cursor}
    return console_page(request, member, "failed.html", "deliveries", context)
