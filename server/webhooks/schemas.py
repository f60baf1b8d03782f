"""Webhook delivery shapes for operators."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import SQLModel


class DeliveryPublic(SQLModel):
    id: str
    target_kind: str
    target_id: str
    event_type: str
    status: str
    attempts: int
    next_attempt_at: datetime
    first_attempt_at: datetime | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
