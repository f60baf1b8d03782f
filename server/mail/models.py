"""The mail outbox: one row per message, written with the change that caused it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from server.db import new_id


class Email(SQLModel, table=True):
    """A message to one recipient, rendered when it was written. The bodies hold single-use
    links, so they are encrypted at rest (server/crypto.py) like the other secrets."""

    __tablename__ = "emails"
    __table_args__ = (Index("ix_emails_due", "status", "next_attempt_at"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    to_address: str = Field(max_length=254)
    kind: str = Field(max_length=30)  # verify-email | password-reset
    language: str = Field(max_length=8)
    subject: str = Field(max_length=300)
    text_body: str = Field(sa_column=Column(Text, nullable=False))
    html_body: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default="pending", max_length=10)  # pending | sent | failed
    attempts: int = 0
    next_attempt_at: datetime
    first_attempt_at: datetime | None = None
    last_error: str | None = Field(default=None, max_length=500)
    sent_at: datetime | None = Field(default=None, index=True)  # `prune` deletes by it
    created_at: datetime
