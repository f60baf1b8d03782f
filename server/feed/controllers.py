"""`/me/feed` (SPEC 5)."""

from __future__ import annotations

from litestar import get
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import UserController
from server.feed import service
from server.feed.schemas import FeedItemPublic
from server.pagination import Cursor, Limit, Page
from server.users.models import User


class FeedController(UserController):
    path = "/me/feed"
    tags = ["play"]

    @get("/")
    async def feed(
        self,
        db_session: NamedDependency[AsyncSession],
        current_user: NamedDependency[User],
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> Page[FeedItemPublic]:
        """The user's feed, newest first: steals, help, watering, voids, tree news, friend requests, shields (SPEC
        5)."""
        items, next_cursor = await service.feed_page(db_session, current_user.id, cursor, limit)
        return Page(items=items, next_cursor=next_cursor)
