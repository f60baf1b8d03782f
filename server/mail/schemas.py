"""Shapes of `GET /admin/emails`."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import SQLModel


class EmailPublic(SQLModel):
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
