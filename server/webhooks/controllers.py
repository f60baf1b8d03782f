"""`GET /admin/webhook-deliveries?status=`: what was sent, what is retrying, what gave up."""

from __future__ import annotations

from typing import Annotated, Literal

from litestar import get
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.auth import OperatorController
from server.pagination import Cursor, Limit, Page, newest_first, page_of
from server.webhooks.models import WebhookDelivery
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
        query = select(WebhookDelivery)
        if status is not None:
            query = query.where(col(WebhookDelivery.status) == status)
        rows = list((await db_session.execute(newest_first(query, col(WebhookDelivery.id), cursor, limit))).scalars())
        deliveries, next_cursor = page_of(rows, limit)
        return Page(items=[DeliveryPublic.model_validate(d) for d in deliveries], next_cursor=next_cursor)
