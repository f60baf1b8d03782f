"""`GET /admin/webhook-deliveries?status=`: what was sent, what is retrying, what gave up."""

from __future__ import annotations

from typing import Annotated, Literal

from litestar import get
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import OperatorController
from server.pagination import Cursor, Limit, Page
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
        deliveries, next_cursor = await service.deliveries_page(db_session, status, cursor, limit)
        return Page(items=[DeliveryPublic.model_validate(d) for d in deliveries], next_cursor=next_cursor)
