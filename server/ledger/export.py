"""The ledger's part of GET /me/export: the balance, every ball and every ledger entry of the user."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.ledger.models import Ball, LedgerEntry
from server.ledger.schemas import LedgerEntryPublic
from server.ledger.service import balance_of
from server.pagination import ExportPage, export_rows

BALL_FIELDS = (
    "id",
    "action_code",
    "local_day",
    "amount_g",
    "remaining_g",
    "stolen_g",
    "collected_g",
    "expired_g",
    "ripens_at",
    "expires_at",
    "collected_at",
    "settled_at",
    "created_at",
)


async def export_balance(session: AsyncSession, user_id: str) -> dict[str, Any]:
    state = await balance_of(session, user_id)
    return {"balance_g": state.balance_g, "owed_g": state.owed_g}


async def export_balls(session: AsyncSession, user_id: str, cursor: str | None, limit: int) -> ExportPage:
    query = select(Ball).where(col(Ball.user_id) == user_id)
    return await export_rows(session, query, col(Ball.id), BALL_FIELDS, cursor, limit)


async def export_ledger_entries(session: AsyncSession, user_id: str, cursor: str | None, limit: int) -> ExportPage:
    query = select(LedgerEntry).where(col(LedgerEntry.user_id) == user_id)
    return await export_rows(session, query, col(LedgerEntry.id), LedgerEntryPublic.model_fields, cursor, limit)
