"""Writing and reading the feed. Every domain records its events with `add_feed_item`
(or `add_feed_items` from set-based jobs), in the same transaction as the change it reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.util.typing import TupleAny
from sqlmodel import col

from server.db import new_id, new_ids_sql, table_of
from server.feed.models import FeedItem, FeedType
from server.feed.schemas import FeedFriend, FeedItemPublic
from server.pagination import Ordering, newest_first, page_of
from server.users.models import User


def _row(
    user_id: str,
    type: FeedType | str,
    *,
    friend_id: str | None = None,
    amount_g: int | None = None,
    tree_id: str | None = None,
    now: datetime,
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "user_id": user_id,
        "type": FeedType(type).value,
        "friend_id": friend_id,
        "amount_g": amount_g,
        "tree_id": tree_id,
        "created_at": now,
    }


async def add_feed_item(
    session: AsyncSession,
    user_id: str,
    type: FeedType | str,
    *,
    friend_id: str | None = None,
    amount_g: int | None = None,
    tree_id: str | None = None,
    now: datetime,
) -> None:
    """Append one item to `user_id`'s feed (`type` is one of SPEC 1's feed types)."""
    await session.execute(
        insert(FeedItem).values(_row(user_id, type, friend_id=friend_id, amount_g=amount_g, tree_id=tree_id, now=now))
    )


async def add_feed_items(session: AsyncSession, items: list[dict[str, Any]], *, now: datetime) -> None:
    """Append many items in one statement; each dict has user_id, type and optionally
    friend_id, amount_g, tree_id."""
    if items:  # Core, not the ORM's bulk insert: that splits the rows at every change of NULL columns
        await session.execute(
            insert(table_of(FeedItem)),
            [
                _row(
                    item["user_id"],
                    item["type"],
                    friend_id=item.get("friend_id"),
                    amount_g=item.get("amount_g"),
                    tree_id=item.get("tree_id"),
                    now=now,
                )
                for item in items
            ],
        )


async def add_feed_items_from(
    session: AsyncSession, rows: Select[*TupleAny], type: FeedType | str, *, now: datetime
) -> None:
    """Append one item of `type` per row of `rows` (a SELECT of user_id, tree_id) in one
    INSERT ... SELECT: the rows never travel through Python."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    source = rows.subquery()
    await session.execute(
        insert(FeedItem).from_select(
            ["id", "user_id", "type", "tree_id", "created_at"],
            select(
                new_ids_sql(dialect),
                source.c.user_id,
                literal(FeedType(type).value),
                source.c.tree_id,
                bindparam("created_at", now, type_=table_of(FeedItem).c.created_at.type),
            ),
        )
    )


async def feed_page(
    session: AsyncSession, user_id: str, cursor: str | None, limit: int, order: Ordering = newest_first
) -> tuple[list[FeedItemPublic], str | None]:
    friend = aliased(User)
    query = (
        select(FeedItem, col(friend.handle), col(friend.display_name))
        .outerjoin(friend, col(friend.id) == col(FeedItem.friend_id))
        .where(col(FeedItem.user_id) == user_id)
    )
    rows = list((await session.execute(order(query, col(FeedItem.id), cursor, limit))).all())
    rows, next_cursor = page_of(rows, limit, id_of=lambda row: row[0].id)
    return [
        FeedItemPublic(
            id=item.id,
            type=item.type,
            created_at=item.created_at,
            friend=FeedFriend(handle=handle, display_name=display_name) if item.friend_id else None,
            amount_g=item.amount_g,
            tree_id=item.tree_id,
        )
        for item, handle, display_name in rows
    ], next_cursor
