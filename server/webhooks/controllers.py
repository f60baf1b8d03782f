"""`GET /admin/webhook-deliveries?status=`: what was sent, what is retrying, what gave up; and
`POST /admin/webhook-deliveries/{id}/retry`: send one again (SPEC 12.4)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from litestar import get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import OperatorController
from server.errors import problems
from server.pagination import Cursor, Limit, Page
from server.validation import ResourceId
from server.webhooks import service
from server.webhooks.schemas import DeliveryPublic

Status = Annotated[Literal["pending", "delivered", "failed"] | None, QueryParameter()]


class AdminWebhookController(OperatorController):
    path = "/admin/webhook-deliveries"

    @get("/")
    async def deliveries(
        self,
        db_session: NamedDependency[AsyncSession],
        status: FromQuery[Status] = None,
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> Page[DeliveryPublic]:
        """Operator: webhook deliveries, newest first, optionally by `status` (pending, delivered, failed) (SPEC
        8.4)."""
        deliveries, next_cursor = await service.deliveries_page(db_session, status, cursor, limit)
        return Page(items=[DeliveryPublic.model_validate(d) for d in deliveries], next_cursor=next_cursor)

    @post("/{delivery_id:str}/retry", status_code=202, responses=problems("not-found"))
    async def retry(
        self,
        db_session: NamedDependency[AsyncSession],
        now: NamedDependency[datetime],
        delivery_id: FromPath[ResourceId],
    ) -> DeliveryPublic:
        """Operator: send an event again with the whole retry schedule (SPEC 8.4); a delivery still pending is left
        as it is, so it may be repeated."""
        return DeliveryPublic.model_validate(await service.send_again(db_session, delivery_id, now))
