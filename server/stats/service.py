"""Public numbers (SPEC 8.5), read with a handful of aggregate queries."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.catalog.models import Project
from server.energy.models import ActionRecord
from server.ledger.models import Account, LedgerEntry
from server.trees.models import Tree, TreeStatus
from server.users.models import User


async def public_stats(session: AsyncSession) -> dict[str, Any]:
    users = (await session.execute(select(func.count()).select_from(User).where(User.deleted_at.is_(None)))).scalar()
    actions = (await session.execute(select(func.count()).select_from(ActionRecord))).scalar()
    issued = (
        await session.execute(
            select(func.coalesce(func.sum(LedgerEntry.amount_g), 0)).where(LedgerEntry.account == Account.ISSUED)
        )
    ).scalar()
    by_status = dict(
        (
            await session.execute(
                select(Tree.status, func.count())
                .where(Tree.status.in_([TreeStatus.QUEUED, TreeStatus.ORDERED, TreeStatus.PLANTED]))
                .group_by(Tree.status)
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
    planted = func.count(Tree.id).filter(Tree.status == TreeStatus.PLANTED)
    query = (
        select(Project.id, Project.name, planted)
        .outerjoin(Tree, Tree.project_id == Project.id)
        .group_by(Project.id, Project.name)
        .order_by(Project.name)
    )
    if active_only:
        query = query.where(Project.status == "active")
    rows = await session.execute(query)
    return [{"id": p_id, "name": name, "trees_planted": int(count)} for p_id, name, count in rows]
