"""Leaderboards (SPEC 5): the user and their friends by grams collected plus stolen, from the ledger."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Literal

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

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


async def leaderboard(
    session: AsyncSession, user: User, period: Literal["day", "week", "all"], now: datetime
) -> Leaderboard:
    """The user and their friends by grams collected plus stolen in the period, from the ledger:
    credits to their balance or debt (`owed`, when a collection repaid it) of kind collect or
    steal. Equal totals share a rank (1, 2, 2, 4); within a tie, by handle."""
    starts_at = period_start(user, period, now)
    friend_ids = select(Friendship.friend_id).where(Friendship.user_id == user.id)
    members = (
        await session.execute(
            select(User.id, User.handle, User.display_name).where(
                or_(User.id == user.id, User.id.in_(friend_ids)), User.deleted_at.is_(None)
            )
        )
    ).all()
    conditions = [
        LedgerEntry.kind.in_(COUNTED_KINDS),
        LedgerEntry.account.in_(COUNTED_ACCOUNTS),
        LedgerEntry.user_id.in_([m.id for m in members]),
        LedgerEntry.created_at <= now,
    ]
    if starts_at is not None:
        conditions.append(LedgerEntry.created_at >= starts_at)
    totals = dict(
        (
            await session.execute(
                select(LedgerEntry.user_id, func.sum(LedgerEntry.amount_g))
                .where(*conditions)
                .group_by(LedgerEntry.user_id)
            )
        ).all()
    )
    ordered = sorted(members, key=lambda m: (-int(totals.get(m.id) or 0), m.handle or ""))
    items: list[LeaderboardItem] = []
    for position, member in enumerate(ordered, start=1):
        grams = int(totals.get(member.id) or 0)
        rank = items[-1].rank if items and items[-1].collected_g == grams else position
        items.append(
            LeaderboardItem(rank=rank, handle=member.handle or "", display_name=member.display_name, collected_g=grams)
        )
    return Leaderboard(period=period, starts_at=starts_at, items=items)
