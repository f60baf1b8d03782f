"""Writing mail to the outbox, and reading it back for the operator.

Callers enqueue inside their own transaction, so a mail exists exactly when the change that
caused it was committed; the `send-email` job sends it afterwards (server/mail/jobs.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.crypto import SecretBox
from server.db import new_id
from server.i18n import language_or_default
from server.mail.models import Email
from server.mail.rendering import render
from server.mail.schemas import EmailPublic
from server.pagination import Page, newest_first, page_of
from server.settings import Settings


async def enqueue(
    session: AsyncSession,
    settings: Settings,
    *,
    to: str,
    kind: str,
    language: str,
    context: dict[str, Any],
    now: datetime,
) -> str:
    """Render one mail in the recipient's language and write it to the outbox; returns its id."""
    language_code = language_or_default(language)
    rendered = render(kind, language_code, context)
    box = SecretBox(settings)
    email_id = new_id()
    await session.execute(
        insert(Email).values(
            id=email_id,
            to_address=to,
            kind=kind,
            language=language_code,
            subject=rendered.subject,
            text_body=box.encrypt(rendered.text),
            html_body=box.encrypt(rendered.html),
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
    return email_id


async def list_emails(
    session: AsyncSession, settings: Settings, status: str | None, cursor: str | None, limit: int
) -> Page[EmailPublic]:
    query = select(Email)
    if status is not None:
        query = query.where(col(Email.status) == status)
    rows = list((await session.execute(newest_first(query, col(Email.id), cursor, limit))).scalars())
    emails, next_cursor = page_of(rows, limit)
    show_bodies = settings.smtp_url is None
    box = SecretBox(settings)
    return Page(
        items=[
            EmailPublic(
                id=email.id,
                to=email.to_address,
                kind=email.kind,
                language=email.language,
                subject=email.subject,
                status=email.status,
                attempts=email.attempts,
                last_error=email.last_error,
                created_at=email.created_at,
                sent_at=email.sent_at,
                text=box.decrypt(email.text_body) if show_bodies else None,
                html=box.decrypt(email.html_body) if show_bodies else None,
            )
            for email in emails
        ],
        next_cursor=next_cursor,
    )
