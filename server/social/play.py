"""Play between friends (SPEC 5): stealing, help-collect, watering, shields, a friend's forest.

Every rule that must hold under concurrency is decided by the database in the same transaction
as the change: a steal is one guarded UPDATE of the ball (the allowance re-checked in its WHERE,
`ledger_balls.steal`) plus an insert under a unique (ball, thief) constraint; daily limits are
counter rows raised by a guarded upsert; a watering debits with a guarded UPDATE. The grams move
in the ledger; auto-plant (trees) runs after each credit. A refusal raises, and the request's
transaction is rolled back as a whole.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.catalog.models import Project, Species
from server.db import dialect_insert, new_id
from server.energy.balls import ball_state, forest_balls
from server.errors import Conflict, NotFound, Unprocessable
from server.feed.models import FeedType
from server.feed.service import add_feed_item
from server.i18n import Language
from server.ledger import balls as ledger_balls
from server.ledger import service as ledger
from server.ledger.models import Ball, TransactionKind
from server.notifications.service import notify
from server.settings import Settings
from server.social.friends import friend_by_handle
from server.social.models import PlayCounter, Steal
from server.social.schemas import FriendBall, FriendForest, FriendTree
from server.trees import service as trees
from server.trees.schemas import ProjectRef, SpeciesRef
from server.users.models import User
from server.users.timezones import local_day

STEAL = "steal"
WATER = "water"
# A steal re-reads the ball and retries when a concurrent thief changed it first; every retry
# means another thief succeeded, and a ball allows only a few steals, so this is never reached
# in practice (a last resort answers 409 conflict, nothing written).
MAX_STEAL_ATTEMPTS = 50


# --- limits -----------------------------------------------------------------------------------


async def _use_daily_allowance(
    session: AsyncSession, user_id: str, kind: str, subject_id: str, day: date, limit: int
) -> bool:
    """Count one more use today; False (nothing changed) when `limit` is reached. One guarded
    upsert: concurrent requests of the same user queue on the counter row."""
    if limit <= 0:
        return False
    insert = dialect_insert(session)
    statement = insert(PlayCounter).values(user_id=user_id, kind=kind, subject_id=subject_id, local_day=day, count=1)
    statement = statement.on_conflict_do_update(
        index_elements=[
            col(PlayCounter.user_id),
            col(PlayCounter.kind),
            col(PlayCounter.subject_id),
            col(PlayCounter.local_day),
        ],
        set_={"count": col(PlayCounter.count) + 1},
        where=col(PlayCounter.count) < limit,
    ).returning(col(PlayCounter.count))
    return (await session.execute(statement)).scalar() is not None


async def _used_today(session: AsyncSession, user_id: str, kind: str, subject_id: str, day: date) -> int:
    used = (
        await session.execute(
            select(col(PlayCounter.count)).where(
                col(PlayCounter.user_id) == user_id,
                col(PlayCounter.kind) == kind,
                col(PlayCounter.subject_id) == subject_id,
                col(PlayCounter.local_day) == day,
            )
        )
    ).scalar()
    return used or 0


# --- stealing ---------------------------------------------------------------------------------


def steal_take(settings: Settings, amount_g: int, stolen_g: int, remaining_g: int) -> int:
    """ceil(10%) of the ball's amount, trimmed to what is left of the floor(30%) allowance and to
    what the ball still holds (settings)."""
    per_steal = -(-amount_g * settings.steal_percent // 100)
    allowance = amount_g * settings.steal_max_percent // 100
    return max(0, min(per_steal, allowance - stolen_g, remaining_g))


def is_shielded(user: User, now: datetime) -> bool:
    return user.shield_until is not None and user.shield_until > now


def _state_conflict(state: str) -> Conflict:
    if state == "growing":
        return Conflict("This ball is not ripe yet.", problem="not-ripe")
    return Conflict(f"This ball is {state}.", problem=f"ball-{state}")


def _check_owner(owner: User, now: datetime) -> None:
    if owner.suspended_at is not None:
        raise Unprocessable("This friend's account is suspended.", problem="user-suspended")
    if not owner.allow_steal:
        raise Conflict("This friend does not allow stealing.", problem="opted-out")
    if is_shielded(owner, now):
        raise Conflict("This friend's forest is shielded.", problem="shielded")


async def _friend_ball(session: AsyncSession, owner_id: str, ball_id: str) -> Ball:
    ball = (
        await session.execute(
            select(Ball)
            .where(col(Ball.id) == ball_id, col(Ball.user_id) == owner_id)
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if ball is None:
        raise NotFound("No such ball.", problem="ball-not-found")
    return ball


async def steal(
    session: AsyncSession, settings: Settings, thief: User, handle: str, ball_id: str, now: datetime
) -> int:
    owner = await friend_by_handle(session, thief.id, handle)
    ball = await _friend_ball(session, owner.id, ball_id)
    _check_owner(owner, now)
    state = ball_state(ball, now)
    if state != "ripe":
        raise _state_conflict(state)
    stolen_before = await session.execute(
        select(col(Steal.id)).where(col(Steal.ball_id) == ball_id, col(Steal.thief_id) == thief.id)
    )
    if stolen_before.first() is not None:
        raise Conflict("You have stolen from this ball already.", problem="already-stolen")
    if steal_take(settings, ball.amount_g, ball.stolen_g, ball.remaining_g) == 0:
        raise Conflict("Nothing is left to steal from this ball.", problem="nothing-left-to-steal")
    day = local_day(thief, now)
    if not await _use_daily_allowance(session, thief.id, STEAL, "", day, settings.steals_per_day):
        raise Conflict(f"You may steal {settings.steals_per_day} times a day.", problem="daily-limit")

    take = await _take_from_ball(session, settings, thief.id, owner.id, ball_id, now)
    recorded = await session.execute(
        dialect_insert(session)(Steal)
        .values(
            id=new_id(),
            ball_id=ball_id,
            owner_id=owner.id,
            thief_id=thief.id,
            grams=take,
            local_day=day,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=[col(Steal.ball_id), col(Steal.thief_id)])
        .returning(col(Steal.id))
    )
    if recorded.scalar() is None:  # the same thief, in a parallel request, got there first
        raise Conflict("You have stolen from this ball already.", problem="already-stolen")
    await trees.plant_if_affordable(session, thief.id, now)
    await add_feed_item(session, owner.id, FeedType.BALL_STOLEN, friend_id=thief.id, amount_g=take, now=now)
    await notify(session, owner.id, "ball.stolen", ball_id, {"friend_id": thief.id, "amount_g": take}, now=now)
    return take


async def _take_from_ball(
    session: AsyncSession, settings: Settings, thief_id: str, owner_id: str, ball_id: str, now: datetime
) -> int:
    """Move this thief's share into their balance with one guarded UPDATE whose WHERE re-checks
    the bound (`ledger_balls.steal`).

    `take` comes from a read; stolen_g only rises and remaining_g only falls, so a take that
    still passes `stolen_g <= allowance - take AND remaining_g >= take` is exactly what a fresh
    read would give. When a concurrent thief got there first the WHERE fails, and we re-read.
    """
    owner_open = (
        select(col(User.id))
        .where(
            col(User.id) == owner_id,
            col(User.allow_steal).is_(True),
            col(User.suspended_at).is_(None),
            or_(col(User.shield_until).is_(None), col(User.shield_until) <= now),
        )
        .exists()
    )
    for _ in range(MAX_STEAL_ATTEMPTS):
        row = (
            await session.execute(
                select(col(Ball.amount_g), col(Ball.stolen_g), col(Ball.remaining_g)).where(col(Ball.id) == ball_id)
            )
        ).one()
        take = steal_take(settings, row.amount_g, row.stolen_g, row.remaining_g)
        if take <= 0:
            raise Conflict("Nothing is left to steal from this ball.", problem="nothing-left-to-steal")
        allowance = row.amount_g * settings.steal_max_percent // 100
        guards = [col(Ball.amount_g) == row.amount_g, col(Ball.stolen_g) <= allowance - take, owner_open]
        if await ledger_balls.steal(session, thief_id, owner_id, ball_id, take, guards, now) is not None:
            return take
        ball = await _friend_ball(session, owner_id, ball_id)
        state = ball_state(ball, now)
        if state != "ripe":
            raise _state_conflict(state)
        owner = (
            await session.execute(
                select(User).where(col(User.id) == owner_id).execution_options(populate_existing=True)
            )
        ).scalar_one()
        _check_owner(owner, now)
    raise Conflict("Too many thieves at once; try again.", problem="conflict")


# --- help-collect and water -------------------------------------------------------------------


async def help_collect(
    session: AsyncSession, settings: Settings, helper: User, handle: str, ball_id: str, now: datetime
) -> int:
    """Collect a friend's ripe ball that expires within the window, into the friend's balance."""
    owner = await friend_by_handle(session, helper.id, handle)
    window = timedelta(hours=settings.help_collect_window_h)
    claimed = await ledger_balls.help_collect(session, owner.id, ball_id, now + window, now)
    if claimed is None:
        ball = await _friend_ball(session, owner.id, ball_id)
        state = ball_state(ball, now)
        if state != "ripe":
            raise _state_conflict(state)
        raise Conflict(
            f"Friends may help collect a ball only in its last {settings.help_collect_window_h} hours.",
            problem="not-expiring-soon",
        )
    await trees.plant_if_affordable(session, owner.id, now)
    await add_feed_item(session, owner.id, FeedType.BALL_HELPED, friend_id=helper.id, amount_g=claimed, now=now)
    return claimed


async def water(
    session: AsyncSession, settings: Settings, user: User, handle: str, amount_g: int, now: datetime
) -> int:
    """Give `amount_g` of the user's balance to a friend; returns the user's new balance."""
    friend = await friend_by_handle(session, user.id, handle)
    day = local_day(user, now)
    if not await _use_daily_allowance(session, user.id, WATER, friend.id, day, settings.waterings_per_friend_per_day):
        raise Conflict(
            f"You may water a friend {settings.waterings_per_friend_per_day} times a day.", problem="daily-limit"
        )
    result = await ledger.transfer(session, user.id, friend.id, amount_g, TransactionKind.WATER, now=now)
    if result is None:
        raise Conflict(f"Your balance is below {amount_g} g.", problem="short-balance")
    await trees.plant_if_affordable(session, friend.id, now)
    await add_feed_item(session, friend.id, FeedType.FRIEND_WATERED, friend_id=user.id, amount_g=amount_g, now=now)
    await notify(session, friend.id, "friend.watered", new_id(), {"friend_id": user.id, "amount_g": amount_g}, now=now)
    return result[0]


# --- shields ----------------------------------------------------------------------------------


async def use_shield(session: AsyncSession, settings: Settings, user: User, now: datetime) -> tuple[int, datetime]:
    """shield_until = max(now, shield_until) + 24 h, using one shield; none held -> 409."""
    row = (
        await session.execute(
            select(col(User.shields), col(User.shield_until)).where(col(User.id) == user.id).with_for_update()
        )
    ).one()
    if row.shields <= 0:
        raise Conflict("You hold no shield.", problem="no-shield")
    start = row.shield_until if row.shield_until is not None and row.shield_until > now else now
    until = start + timedelta(hours=settings.shield_hours)
    result = (
        await session.execute(
            update(User)
            .where(col(User.id) == user.id, col(User.shields) > 0)
            .values(shields=col(User.shields) - 1, shield_until=until)
            .returning(col(User.shields))
            .execution_options(synchronize_session=False)
        )
    ).scalar()
    if result is None:  # pragma: no cover - the row is locked above
        raise Conflict("You hold no shield.", problem="no-shield")
    return result, until


# --- a friend's forest ------------------------------------------------------------------------


async def friend_forest(
    session: AsyncSession, settings: Settings, viewer: User, handle: str, now: datetime, language: Language
) -> FriendForest:
    owner = await friend_by_handle(session, viewer.id, handle)
    balls = await forest_balls(session, owner.id, now)
    stolen_by_me = set(
        (
            await session.execute(
                select(col(Steal.ball_id)).where(
                    col(Steal.thief_id) == viewer.id, col(Steal.ball_id).in_([b.id for b in balls])
                )
            )
        ).scalars()
    )
    steals_left = settings.steals_per_day - await _used_today(session, viewer.id, STEAL, "", local_day(viewer, now))
    owner_open = owner.allow_steal and owner.suspended_at is None and not is_shielded(owner, now)
    window = timedelta(hours=settings.help_collect_window_h)
    items = []
    for ball in balls:
        state = ball_state(ball, now)
        ripe = state == "ripe"
        items.append(
            FriendBall(
                id=ball.id,
                action=ball.action_code,
                amount_g=ball.amount_g,
                remaining_g=ball.remaining_g,
                stolen_g=ball.stolen_g,
                ripens_at=ball.ripens_at,
                expires_at=ball.expires_at,
                state=state,
                can_steal=ripe
                and owner_open
                and steals_left > 0
                and ball.id not in stolen_by_me
                and steal_take(settings, ball.amount_g, ball.stolen_g, ball.remaining_g) > 0,
                can_help_collect=ripe and ball.expires_at <= now + window,
            )
        )
    tree = await trees.growing_tree(session, owner.id)
    friend_tree = None
    if tree is not None:
        stage, _ = trees.stage_and_progress(tree, (await ledger.balance_of(session, owner.id)).balance_g)
        species = await session.get_one(Species, tree.species_id)
        project = await session.get_one(Project, tree.project_id)
        friend_tree = FriendTree(
            id=tree.id,
            species=SpeciesRef(id=species.id, common_name=species.common_name_in(language)),
            project=ProjectRef(id=project.id, name=project.name),
            stage=stage,
            stage_name=trees.stage_name(stage, language),
        )
    return FriendForest(
        handle=owner.handle or "",
        display_name=owner.display_name,
        shielded=is_shielded(owner, now),
        tree=friend_tree,
        balls=items,
    )
