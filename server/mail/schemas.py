"""Shapes of `GET /admin/emails`."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import SQLModel

from server.openapi import examples


class EmailPublic(SQLModel):
    model_config = examples(
        {
            "id": "0193e9f4-7a8b-7c9d-8e0f-1a2b3c4d5e6f",
            "to": "mei@example.org",
            "kind": "verify-email",
            "language": "zh-Hans",
            "subject": "确认你的邮箱地址",
            "status": "sent",
            "attempts": 1,
            "last_error": None,
            "created_at": "2026-03-14T07:00:00Z",
            "sent_at": "2026-03-14T07:00:02Z",
            "text": None,
            "html": None,
        }
    )

    id: str
    to: str
    kind: str
    language: str
    subject: str
    status: str
    attempts: int
    last_error: str | None = None
    created_at: datetime
    sent_at: datetime | None = None
    # Only in development (no CANOPY_SMTP_URL): with an SMTP server the bodies hold live links.
    text: str | None = None
    html: str | None = None
