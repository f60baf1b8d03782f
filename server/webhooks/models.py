"""The webhook outbox: events are written in the transaction that caused them and delivered later."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from server.db import new_id


class WebhookDelivery(SQLModel, table=True):
    """One event for one receiver (an NGO or a partner); `payload` is the exact JSON body sent."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)  # the event id
    target_kind: str = Field(max_length=10)  # "ngo" | "partner"
    target_id: str = Field(max_length=36, index=True)
    event_type: str = Field(max_length=40)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default="pending", max_length=10)  # pending | delivered | failed
    attempts: int = 0
    next_attempt_at: datetime
    first_attempt_at: datetime | None = None
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=500)
    delivered_at: datetime | None = None
    created_at: datetime
