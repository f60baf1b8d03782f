"""Public numbers (SPEC 8.5), read with a handful of aggregate queries."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.catalog.models import Project
from server.energy.models import ActionRecord
from server.ledger.models import Account, Ball, LedgerEntry, TransactionKind
from server.trees.models import Tree, TreeStatus
from server.users.models import User


async def public_stats(session: AsyncSession) -> dict[str, Any]:
    users = (
        await session.execute(select(func.count()).select_from(User).where(col(User.deleted_at).is_(None)))
    ).scalar()
    actions = (await session.execute(select(func.count()).select_from(ActionRecord))).scalar()
    issued = (
        await session.execute(
            select(func.coalesce(func.sum(col(LedgerEntry.amount_g)), 0)).where(
                col(LedgerEntry.account) == Account.ISSUED
            )
        )
    ).scalar()
    by_status = dict(
        (
            await session.execute(
                select(col(Tree.status), func.count())
                .where(col(Tree.status).in_([TreeStatus.QUEUED, TreeStatus.ORDERED, TreeStatus.PLANTED]))
                .group_by(col(Tree.status))
            )
        ).all()
    )
    return {
        "users": int(users or 0),
        "actions": int(actions or 0),
        "co2_avoided_g": -int(issued or 0),  # issued net of voids
        "trees": {
            status.value: int(by_status.get(status.value, 0))
            for status in (TreeStatus.QUEUED, TreeStatus.ORDERED, TreeStatus.PLANTED)
        },
        "projects": await trees_planted_by_project(session),
    }


async def trees_planted_by_project(session: AsyncSession, *, active_only: bool = False) -> list[dict[str, Any]]:
    """Every project (or only those open for planting: the home page) with its trees planted, by name."""
    planted = func.count(col(Tree.id)).filter(col(Tree.status) == TreeStatus.PLANTED)
    query = (
        select(col(Project.id), col(Project.name), planted)
        .outerjoin(Tree, col(Tree.project_id) == col(Project.id))
        .group_by(col(Project.id), col(Project.name))
        .order_by(col(Project.name))
    )
    if active_only:
        query = query.where(col(Project.status) == "active")
    rows = await session.execute(query)
    return [{"id": p_id, "name": name, "trees_planted": int(count)} for p_id, name, count in rows]


async def co2_avoided_by(session: AsyncSession, user_id: str) -> int:
    """One user's share of `co2_avoided_g`: the energy issued for their actions net of voids
    (1 g of energy is 1 g CO2e avoided, SPEC 1). An award or a void books `issued` against the
    user's own legs (their ball, balance and debt), except what a void takes back from an expired
    ball, which sits on the `expired` leg of that ball; both are read through the user's indexes,
    so the sum matches what `issued` moved for them without scanning every transaction."""
    own_legs = select(func.coalesce(func.sum(col(LedgerEntry.amount_g)), 0)).where(
        col(LedgerEntry.user_id) == user_id,
        col(LedgerEntry.kind).in_([TransactionKind.AWARD.value, TransactionKind.VOID.value]),
        col(LedgerEntry.account).in_([Account.BALL.value, Account.BALANCE.value, Account.OWED.value]),
    )
    from_expired = select(func.coalesce(func.sum(col(LedgerEntry.amount_g)), 0)).where(
        col(LedgerEntry.kind) == TransactionKind.VOID.value,
        col(LedgerEntry.account) == Account.EXPIRED.value,
        col(LedgerEntry.ball_id).in_(select(col(Ball.id)).where(col(Ball.user_id) == user_id)),
    )
    return int((await session.execute(own_legs)).scalar_one()) + int((await session.execute(from_expired)).scalar_one())
