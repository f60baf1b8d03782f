"""The feed's part of GET /me/export: every item of the user's feed, oldest first."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from server.feed.service import feed_page
from server.pagination import ExportPage, oldest_first


async def export_feed(session: AsyncSession, user_id: str, cursor: str | None, limit: int) -> ExportPage:
    items, next_cursor = await feed_page(session, user_id, cursor, limit, order=oldest_first)
    return [item.model_dump(mode="json") for item in items], next_cursor
