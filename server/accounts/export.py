"""The accounts domain's part of GET /me/export: the email address's status, the sessions and the
mailed links, none with a token or its hash."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.accounts.models import AccountToken
from server.pagination import ExportPage, export_rows
from server.users.models import RefreshToken, User

SESSION_FIELDS = ("id", "created_at", "last_used_at", "expires_at", "revoked_at", "user_agent")
MAILED_LINK_FIELDS = ("id", "purpose", "email", "created_at", "expires_at", "used_at")


def export_email(user: User) -> dict[str, Any]:
    verified = user.email is not None and user.verified_email == user.email.lower()
    return {"address": user.email, "verified": verified, "verified_address": user.verified_email}


async def export_sessions(session: AsyncSession, user_id: str, cursor: str | None, limit: int) -> ExportPage:
    """Every session still on record, ended ones too (until `prune` deletes them)."""
    query = select(RefreshToken).where(col(RefreshToken.user_id) == user_id)
    return await export_rows(session, query, col(RefreshToken.id), SESSION_FIELDS, cursor, limit)


async def export_mailed_links(session: AsyncSession, user_id: str, cursor: str | None, limit: int) -> ExportPage:
    query = select(AccountToken).where(col(AccountToken.user_id) == user_id)
    return await export_rows(session, query, col(AccountToken.id), MAILED_LINK_FIELDS, cursor, limit)
