"""Adopting, growing, planting and refunding trees.

Planting spends energy, so every path here goes through the ledger. Auto-plant (SPEC 6) is the
step a caller runs after the ledger credited a user (`plant_after_credit`, `plant_if_affordable`):
in the same transaction, it plants an `auto_plant` tree the credit has paid for.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.catalog.models import Project, ProjectSpecies, Species
from server.db import rowcount
from server.errors import Conflict, NotFound, Unprocessable
from server.feed.models import FeedType
from server.feed.service import add_feed_item
from server.i18n import Language, gettext
from server.ledger import service as ledger
from server.ledger.models import Account, TransactionKind
from server.ledger.service import BalanceState, Leg
from server.notifications.service import notify
from server.pagination import newest_first, page_of
from server.trees import images
from server.trees.models import Tree, TreeStatus
from server.trees.schemas import AdoptTreeRequest, ProjectRef, SpeciesRef, TreePublic

ON_THEIR_WAY = (TreeStatus.PLANTED, TreeStatus.ORDERED, TreeStatus.QUEUED)  # paid for: the forest shows them
LISTED_STATUSES = (
    TreeStatus.GROWING,
    TreeStatus.QUEUED,
    TreeStatus.ORDERED,
    TreeStatus.PLANTED,
    TreeStatus.REFUNDED,
    TreeStatus.CANCELLED,
)
STAGES = ((0.1, "seed"), (0.3, "sprout"), (0.6, "sapling"), (1.0, "young"))
STAGE_NAMES = {"seed": "Seed", "sprout": "Sprout", "sapling": "Sapling", "young": "Young tree", "grown": "Grown tree"}
"""What a person reads for each stage code: message ids of locales/*/catalog.po."""


def stage_name(stage: str, language: Language) -> str:
    return gettext(language, STAGE_NAMES[stage])


def stage_and_progress(tree: Tree, balance_g: int) -> tuple[str, float]:
    """A growing tree shows how much of its cost the balance covers; later states are grown."""
    if tree.status != TreeStatus.GROWING:
        return "grown", 1.0
    progress = round(min(balance_g, tree.cost_g) / tree.cost_g, 4)
    for bound, stage in STAGES:
        if progress < bound:
            return stage, progress
    return "grown", 1.0


async def to_public(session: AsyncSession, trees: list[Tree], balance_g: int, language: Language) -> list[TreePublic]:
    species = {
        s.id: s
        for s in (
            await session.execute(select(Species).where(col(Species.id).in_({t.species_id for t in trees})))
        ).scalars()
    }
    projects = {
        p.id: p
        for p in (
            await session.execute(select(Project).where(col(Project.id).in_({t.project_id for t in trees})))
        ).scalars()
    }
    result = []
    for tree in trees:
        stage, progress = stage_and_progress(tree, balance_g)
        result.append(
            TreePublic(
                id=tree.id,
                species=SpeciesRef(id=tree.species_id, common_name=species[tree.species_id].common_name_in(language)),
                project=ProjectRef(id=tree.project_id, name=projects[tree.project_id].name),
                cost_g=tree.cost_g,
                status=tree.status,
                stage=stage,
                stage_name=stage_name(stage, language),
                progress=progress,
                auto_plant=tree.auto_plant,
                order_id=tree.order_id,
                rejections=tree.rejections,
                queued_at=tree.queued_at,
                planted_at=tree.planted_at,
                refunded_at=tree.refunded_at,
                certificate_number=tree.certificate_number,
            )
        )
    return result


async def adopt(session: AsyncSession, user_id: str, data: AdoptTreeRequest, now: datetime) -> Tree:
    """Checks in the SPEC's order: unknown -> 404, not offered -> 422, inactive or one growing -> 409."""
    project = await session.get(Project, data.project_id)
    species = await session.get(Species, data.species_id)
    if project is None or species is None:
        raise NotFound("No such project or species.", problem="project-or-species-not-found")
    offer = await session.get(ProjectSpecies, (project.id, species.id))
    if offer is None:
        raise Unprocessable("This project does not offer that species.", problem="species-not-offered")
    if project.status != "active":
        raise Conflict("This project is not accepting new trees.", problem="project-not-active")
    growing = await session.execute(
        select(col(Tree.id)).where(col(Tree.user_id) == user_id, col(Tree.status) == TreeStatus.GROWING)
    )
    if growing.first():
        raise Conflict("You already have a growing tree.", problem="tree-already-growing")
    tree = Tree(
        user_id=user_id,
        project_id=project.id,
        species_id=species.id,
        cost_g=offer.cost_g,
        auto_plant=data.auto_plant,
        created_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(tree)
            await session.flush()
    except IntegrityError as exc:  # a concurrent adoption won the one-growing-tree index
        raise Conflict("You already have a growing tree.", problem="tree-already-growing") from exc
    if tree.auto_plant:
        await plant_if_affordable(session, user_id, now)
    return tree


async def get_own(session: AsyncSession, user_id: str, tree_id: str) -> Tree:
    tree = (
        await session.execute(select(Tree).where(col(Tree.id) == tree_id, col(Tree.user_id) == user_id))
    ).scalar_one_or_none()
    if tree is None or tree.status not in LISTED_STATUSES:
        raise NotFound("No such tree.", problem="tree-not-found")
    return tree


async def growing_tree(session: AsyncSession, user_id: str) -> Tree | None:
    return (
        await session.execute(select(Tree).where(col(Tree.user_id) == user_id, col(Tree.status) == TreeStatus.GROWING))
    ).scalar_one_or_none()


async def abandon(session: AsyncSession, user_id: str, tree_id: str) -> None:
    """Drop a growing tree (no energy was spent on it); a guarded DELETE so a racing plant wins."""
    result = await session.execute(
        delete(Tree).where(
            col(Tree.id) == tree_id, col(Tree.user_id) == user_id, col(Tree.status) == TreeStatus.GROWING
        )
    )
    if rowcount(result) == 0:
        await get_own(session, user_id, tree_id)
        raise Conflict("Only a growing tree can be abandoned.", problem="tree-not-growing")


async def plant(session: AsyncSession, user_id: str, tree_id: str, now: datetime) -> Tree:
    """Spend the tree's cost and queue it, in one transaction; only one of many racing calls wins."""
    cost = (
        await session.execute(
            update(Tree)
            .where(col(Tree.id) == tree_id, col(Tree.user_id) == user_id, col(Tree.status) == TreeStatus.GROWING)
            .values(status=TreeStatus.QUEUED, queued_at=now)
            .returning(col(Tree.cost_g))
        )
    ).scalar()
    if cost is None:
        await get_own(session, user_id, tree_id)  # 404 when it is not the user's
        raise Conflict("Only a growing tree can be planted.", problem="tree-not-growing")
    spent = await ledger.debit_user(
        session,
        user_id,
        cost,
        TransactionKind.PLANT,
        [Leg(Account.SPENT, cost, user_id, tree_id=tree_id)],
        now=now,
        reference=tree_id,
    )
    if spent is None:
        raise Conflict("Your balance does not cover this tree yet.", problem="short-balance")
    await add_feed_item(session, user_id, FeedType.TREE_QUEUED, amount_g=cost, tree_id=tree_id, now=now)
    return await get_own(session, user_id, tree_id)


def _auto_plant_tree(user_id: Any) -> Any:
    return select(col(Tree.id), col(Tree.cost_g)).where(
        col(Tree.user_id) == user_id, col(Tree.status) == TreeStatus.GROWING, col(Tree.auto_plant).is_(True)
    )


# Built once: every credit of energy runs it.
AUTO_PLANT_TREE = _auto_plant_tree(bindparam("grower_id"))


def auto_plant_cost(user_id: Any) -> Any:
    """The cost of the user's growing `auto_plant` tree (NULL without one), as a scalar subquery."""
    return _auto_plant_tree(user_id).with_only_columns(col(Tree.cost_g)).scalar_subquery()


async def plant_if_affordable(session: AsyncSession, user_id: str, now: datetime) -> bool:
    """Auto-plant: queue the user's `auto_plant` tree once the balance covers it."""
    tree = (await session.execute(AUTO_PLANT_TREE, {"grower_id": user_id})).first()
    if tree is None:
        return False
    balance = await ledger.balance_of(session, user_id)
    if balance.balance_g < tree.cost_g:
        return False
    await plant(session, user_id, tree.id, now)
    return True


async def plant_after_credit(session: AsyncSession, user_id: str, state: BalanceState, now: datetime) -> BalanceState:
    """Auto-plant, the step after a credit of a user (the ledger pays; this rule spends): the
    balance after it, `state` when nothing was planted."""
    if await plant_if_affordable(session, user_id, now):
        return await ledger.balance_of(session, user_id)
    return state


async def refund(session: AsyncSession, tree_id: str, now: datetime) -> bool:
    """Return a queued (or rejected) tree's energy to its owner; False if it was not refundable."""
    row = (
        await session.execute(
            update(Tree)
            .where(col(Tree.id) == tree_id, col(Tree.status) == TreeStatus.QUEUED)
            .values(status=TreeStatus.REFUNDED, refunded_at=now, order_id=None)
            .returning(col(Tree.user_id), col(Tree.cost_g))
        )
    ).first()
    if row is None:
        return False
    await ledger.credit_user(
        session,
        row.user_id,
        row.cost_g,
        TransactionKind.REFUND,
        [Leg(Account.SPENT, -row.cost_g, row.user_id, tree_id=tree_id)],
        now=now,
        reference=tree_id,
    )
    await plant_if_affordable(session, row.user_id, now)
    await add_feed_item(session, row.user_id, FeedType.TREE_REFUNDED, amount_g=row.cost_g, tree_id=tree_id, now=now)
    await notify(session, row.user_id, "tree.refunded", tree_id, {"tree_id": tree_id, "amount_g": row.cost_g}, now=now)
    return True


async def close_project(session: AsyncSession, project_id: str, now: datetime) -> dict[str, int]:
    """SPEC 6: growing trees are cancelled, queued trees refunded, ordered trees stay in their orders."""
    cancelled = await session.execute(
        update(Tree)
        .where(col(Tree.project_id) == project_id, col(Tree.status) == TreeStatus.GROWING)
        .values(status=TreeStatus.CANCELLED)
        .returning(col(Tree.id))
    )
    queued = (
        (
            await session.execute(
                select(col(Tree.id)).where(col(Tree.project_id) == project_id, col(Tree.status) == TreeStatus.QUEUED)
            )
        )
        .scalars()
        .all()
    )
    refunded = 0
    for tree_id in queued:
        refunded += await refund(session, tree_id, now)
    return {"trees_cancelled": len(cancelled.all()), "trees_refunded": refunded}


# Pictures (SPEC 6) ---------------------------------------------------------------------------


async def species_keys(session: AsyncSession, species_ids: set[str]) -> dict[str, str]:
    """The sprite set of each species (a species added later falls back to its genus or `generic`)."""
    if not species_ids:
        return {}
    rows = await session.execute(
        select(col(Species.id), col(Species.common_name), col(Species.scientific_name)).where(
            col(Species.id).in_(species_ids)
        )
    )
    return {row.id: images.species_key(row.common_name, row.scientific_name) for row in rows}


async def tree_picture(session: AsyncSession, user_id: str, tree_id: str) -> tuple[str, str]:
    """(species key, stage) of one of the user's trees; 404 when it is not theirs."""
    tree = await get_own(session, user_id, tree_id)
    balance_g = (await ledger.balance_of(session, user_id)).balance_g if tree.status == TreeStatus.GROWING else 0
    stage, _ = stage_and_progress(tree, balance_g)
    return (await species_keys(session, {tree.species_id}))[tree.species_id], stage


async def forest_trees(
    session: AsyncSession, user_id: str, balance_g: int
) -> tuple[tuple[str, str] | None, list[tuple[str, bool]]]:
    """The growing tree as (species key, stage), and every paid-for tree as (species key, planted yet?),
    the planted ones first."""
    growing = await growing_tree(session, user_id)
    counts = (
        await session.execute(
            select(col(Tree.species_id), col(Tree.status), func.count())
            .where(col(Tree.user_id) == user_id, col(Tree.status).in_(ON_THEIR_WAY))
            .group_by(col(Tree.species_id), col(Tree.status))
        )
    ).all()
    keys = await species_keys(session, {row[0] for row in counts} | ({growing.species_id} if growing else set()))
    tree = (keys[growing.species_id], stage_and_progress(growing, balance_g)[0]) if growing else None
    order: dict[str, int] = {status: index for index, status in enumerate(ON_THEIR_WAY)}
    planted: list[tuple[str, bool]] = []
    for species_id, status, count in sorted(counts, key=lambda row: (order[row[1]], keys[row[0]], row[0])):
        planted.extend([(keys[species_id], status == TreeStatus.PLANTED)] * count)
    return tree, planted


async def own_trees_page(
    session: AsyncSession, user_id: str, cursor: str | None, limit: int
) -> tuple[list[Tree], str | None]:
    """A user's listed trees, newest first, one page."""
    query = select(Tree).where(col(Tree.user_id) == user_id, col(Tree.status).in_(LISTED_STATUSES))
    rows = list((await session.execute(newest_first(query, col(Tree.id), cursor, limit))).scalars())
    return page_of(rows, limit)
