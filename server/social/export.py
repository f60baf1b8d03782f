"""The social domain's part of GET /me/export: the user's friends and every friend request to or
from them. Other users appear only as the handle and display name the user already sees."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.pagination import ExportPage, oldest_first, page_of
from server.social.friends import list_friends, requests_public
from server.social.models import FriendRequest


async def export_friends(session: AsyncSession, user_id: str, cursor: str | None, limit: int) -> ExportPage:
    friends, next_cursor = await list_friends(session, user_id, cursor, limit, order=oldest_first)
    return [friend.model_dump(mode="json") for friend in friends], next_cursor


async def export_friend_requests(session: AsyncSession, user_id: str, cursor: str | None, limit: int) -> ExportPage:
    """Both directions, every status."""
    query = select(FriendRequest).where(
        or_(col(FriendRequest.from_user_id) == user_id, col(FriendRequest.to_user_id) == user_id)
    )
    rows = list((await session.execute(oldest_first(query, col(FriendRequest.id), cursor, limit))).scalars())
    rows, next_cursor = page_of(rows, limit)
    return [r.model_dump(mode="json") for r in await requests_public(session, rows)], next_cursor
