"""Webhook delivery shapes for operators."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import SQLModel

from server.openapi import examples


class DeliveryPublic(SQLModel):
    model_config = examples(
        {
            "id": "0193f2e3-5e6f-7a7b-8c9d-0e1f2a3b4c5d",
            "target_kind": "ngo",
            "target_id": "0193c19e-4a10-7d35-9f82-6b1c0e7d2a93",
            "event_type": "order.issued",
            "status": "failed",
            "attempts": 7,
            "next_attempt_at": "2026-03-11T16:15:00Z",
            "first_attempt_at": "2026-03-10T00:15:02Z",
            "last_error": "HTTP 502",
            "delivered_at": None,
            "created_at": "2026-03-10T00:15:00Z",
        }
    )

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
