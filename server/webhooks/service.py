"""Writing events to the outbox (SPEC 8.4). Delivery is the `deliver-webhooks` job's work, so a
request never waits on a receiver; callers enqueue inside their own transaction."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.db import new_id
from server.errors import NotFound
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


Receiver = tuple[TargetKind, str]
"""An NGO's or a partner's own deliveries (their portal); None is every receiver's (the operator)."""


def _of_receiver(query: Any, receiver: Receiver | None) -> Any:
    if receiver is None:
        return query
    kind, target_id = receiver
    return query.where(col(WebhookDelivery.target_kind) == kind, col(WebhookDelivery.target_id) == target_id)


async def deliveries_page(
    session: AsyncSession,
    status: str | None,
    cursor: str | None,
    limit: int,
    receiver: Receiver | None = None,
) -> tuple[list[WebhookDelivery], str | None]:
    """Deliveries, newest first, optionally of one status and one receiver, one page."""
    query = _of_receiver(select(WebhookDelivery), receiver)
    if status is not None:
        query = query.where(col(WebhookDelivery.status) == status)
    rows = list((await session.execute(newest_first(query, col(WebhookDelivery.id), cursor, limit))).scalars())
    return page_of(rows, limit)


async def send_again(
    session: AsyncSession, delivery_id: str, now: datetime, receiver: Receiver | None = None
) -> WebhookDelivery:
    """Put a delivery back in the outbox with the whole retry schedule ahead of it (SPEC 12.4).

    The event keeps its id and body, so a receiver that got it before dedupes it. A delivery
    still pending is left as it is: asking twice is the same as asking once. Another receiver's
    delivery is not found.
    """
    query = _of_receiver(select(WebhookDelivery).where(col(WebhookDelivery.id) == delivery_id), receiver)
    delivery: WebhookDelivery | None = (await session.execute(query.with_for_update())).scalar_one_or_none()
    if delivery is None:
        raise NotFound("No such webhook delivery.", problem="not-found")
    if delivery.status != "pending":
        await session.execute(
            update(WebhookDelivery)
            .where(col(WebhookDelivery.id) == delivery_id)
            .values(status="pending", attempts=0, first_attempt_at=None, next_attempt_at=now)
        )
        await session.refresh(delivery)
    return delivery
