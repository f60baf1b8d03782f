"""Leaderboards (SPEC 5): the user and their friends by grams collected plus stolen, from the ledger."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Literal

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.ledger.models import Account, LedgerEntry, TransactionKind
from server.social.models import Friendship
from server.social.schemas import Leaderboard, LeaderboardItem
from server.users.models import User
from server.users.timezones import local_day, local_time_on, user_zone

COUNTED_KINDS = (TransactionKind.COLLECT.value, TransactionKind.STEAL.value)
COUNTED_ACCOUNTS = (Account.BALANCE.value, Account.OWED.value)


def period_start(user: User, period: Literal["day", "week", "all"], now: datetime) -> datetime | None:
    """Local midnight of the user's today (day) or of this week's Monday (week); None for all."""
    if period == "all":
        return None
    zone = user_zone(user, now)
    today = local_day(user, now)
    first = today if period == "day" else today - timedelta(days=today.weekday())
    return local_time_on(first, time(0), zone)


async def collected_g(
    session: AsyncSession, user_ids: list[str], now: datetime, starts_at: datetime | None = None
) -> dict[str, int]:
    """Grams each user collected plus stole from `starts_at` (or ever) to `now`: credits to their
    balance or debt (`owed`, when a collection repaid it) of kind collect or steal. A user with
    none is left out."""
    conditions = [
        col(LedgerEntry.kind).in_(COUNTED_KINDS),
        col(LedgerEntry.account).in_(COUNTED_ACCOUNTS),
        col(LedgerEntry.user_id).in_(user_ids),
        col(LedgerEntry.created_at) <= now,
    ]
    if starts_at is not None:
        conditions.append(col(LedgerEntry.created_at) >= starts_at)
    rows = await session.execute(
        select(col(LedgerEntry.user_id), func.sum(col(LedgerEntry.amount_g)))
        .where(*conditions)
        .group_by(col(LedgerEntry.user_id))
    )
    return {str(user_id): int(grams or 0) for user_id, grams in rows.all()}


async def leaderboard(
    session: AsyncSession, user: User, period: Literal["day", "week", "all"], now: datetime
) -> Leaderboard:
    """The user and their friends by grams collected plus stolen in the period (`collected_g`).
    Equal totals share a rank (1, 2, 2, 4); within a tie, by handle."""
    starts_at = period_start(user, period, now)
    friend_ids = select(col(Friendship.friend_id)).where(col(Friendship.user_id) == user.id)
    members = (
        await session.execute(
            select(col(User.id), col(User.handle), col(User.display_name)).where(
                or_(col(User.id) == user.id, col(User.id).in_(friend_ids)), col(User.deleted_at).is_(None)
            )
        )
    ).all()
    totals = await collected_g(session, [m.id for m in members], now, starts_at)
    ordered = sorted(members, key=lambda m: (-totals.get(m.id, 0), m.handle or ""))
    items: list[LeaderboardItem] = []
    for position, member in enumerate(ordered, start=1):
        grams = totals.get(member.id, 0)
        rank = items[-1].rank if items and items[-1].collected_g == grams else position
        items.append(
            LeaderboardItem(rank=rank, handle=member.handle or "", display_name=member.display_name, collected_g=grams)
        )
    return Leaderboard(period=period, starts_at=starts_at, items=items)
