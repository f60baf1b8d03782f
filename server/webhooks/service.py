"""Writing events to the outbox (SPEC 8.4). Delivery is the `deliver-webhooks` job's work, so a
request never waits on a receiver; callers enqueue inside their own transaction."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.db import new_id
from server.pagination import newest_first, page_of
from server.webhooks.models import WebhookDelivery

TargetKind = Literal["ngo", "partner"]


async def enqueue(
    session: AsyncSession,
    *,
    target_kind: TargetKind,
    target_id: str,
    event_type: str,
    data: dict[str, Any],
    now: datetime,
) -> str:
    """Record an event {id, type, created_at, data} for one receiver; returns the event id."""
    event_id = new_id()
    payload = {
        "id": event_id,
        "type": event_type,
        "created_at": now.isoformat().replace("+00:00", "Z"),
        "data": data,
    }
    await session.execute(
        insert(WebhookDelivery).values(
            id=event_id,
            target_kind=target_kind,
            target_id=target_id,
            event_type=event_type,
            payload=json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str),
            status="pending",
            next_attempt_at=now,
            created_at=now,
        )
    )
    return event_id


async def deliveries_page(
    session: AsyncSession, status: str | None, cursor: str | None, limit: int
) -> tuple[list[WebhookDelivery], str | None]:
    """Deliveries, newest first, optionally of one status, one page."""
    query = select(WebhookDelivery)
    if status is not None:
        query = query.where(col(WebhookDelivery.status) == status)
    rows = list((await session.execute(newest_first(query, col(WebhookDelivery.id), cursor, limit))).scalars())
    return page_of(rows, limit)
