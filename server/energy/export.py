"""The energy domain's part of GET /me/export: the verified actions and the steps of each day."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.energy.models import ActionRecord, DailySteps
from server.pagination import ExportPage, decode_cursor, export_rows, page_of

ACTION_FIELDS = (
    "id",
    "action_code",
    "quantity",
    "energy_g",
    "capped",
    "source",
    "local_day",
    "ball_id",
    "occurred_at",
    "created_at",
)


async def export_actions(session: AsyncSession, user_id: str, cursor: str | None, limit: int) -> ExportPage:
    query = select(ActionRecord).where(col(ActionRecord.user_id) == user_id)
    return await export_rows(session, query, col(ActionRecord.id), ACTION_FIELDS, cursor, limit)


async def export_steps(session: AsyncSession, user_id: str, cursor: str | None, limit: int) -> ExportPage:
    """Keyed by the local day (a row a day has no id of its own)."""
    query = select(DailySteps).where(col(DailySteps.user_id) == user_id)
    if cursor:
        query = query.where(col(DailySteps.local_day) > date.fromisoformat(decode_cursor(cursor)))
    rows = list((await session.execute(query.order_by(col(DailySteps.local_day)).limit(limit + 1))).scalars())
    rows, next_cursor = page_of(rows, limit, id_of=lambda row: row.local_day.isoformat())
    return [row.model_dump(mode="json", include={"local_day", "steps", "energy_g"}) for row in rows], next_cursor
