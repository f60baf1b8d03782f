"""Earning energy into balls, and collecting them (SPEC 4.1, 4.2).

Energy decides a ball's life (when it ripens and expires, its state, the streak its collection
counts for); the ledger (`server/ledger/balls.py`) moves its grams. A collect goes down the layers
once: the ledger claims and credits, then trees' auto-plant rule runs, then the streak is counted.
Collecting is the 07:00 hot path: one guarded `UPDATE ... RETURNING` claims the ball's grams, then
the ledger legs are inserted; there is no read-modify-write of ORM objects and no shared counter
row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

from sqlalchemy import and_, bindparam, case, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.db import dialect_name, table_of
from server.energy.schemas import BallPublic
from server.errors import Conflict, NotFound
from server.feed.models import FeedType
from server.feed.service import add_feed_item
from server.ledger import balls as ledger_balls
from server.ledger.balls import COLLECTOR_ID, Collected, Issue
from server.ledger.models import Ball
from server.ledger.service import balance_of
from server.notifications.service import notify
from server.settings import Settings
from server.trees import images
from server.trees import service as trees
from server.users.models import User
from server.users.timezones import local_day, local_time_on, user_zone

RECENT = timedelta(hours=24)


def ball_state(ball: Ball, now: datetime) -> str:
    if ball.collected_at is not None:
        return "collected"
    if now < ball.ripens_at:
        return "growing"
    if now < ball.expires_at:
        return "ripe"
    return "expired"


def to_public(ball: Ball, now: datetime) -> BallPublic:
    return BallPublic(
        id=ball.id,
        action=ball.action_code,
        amount_g=ball.amount_g,
        remaining_g=ball.remaining_g,
        stolen_g=ball.stolen_g,
        ripens_at=ball.ripens_at,
        expires_at=ball.expires_at,
        state=ball_state(ball, now),
    )


def ripening_of(settings: Settings, day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """A ball of local day D ripens at 07:00 local on D+1 and expires 72 h later (settings)."""
    ripens_at = local_time_on(day + timedelta(days=1), time(settings.ball_ripens_hour), zone)
    return ripens_at, ripens_at + timedelta(hours=settings.ball_expires_after_h)


@dataclass(frozen=True, slots=True)
class Award:
    """`grams` to issue into the user's ball of that action and local day."""

    user: User
    action_code: str
    day: date
    grams: int


async def award_many(session: AsyncSession, settings: Settings, awards: list[Award], now: datetime) -> list[str | None]:
    """Issue many awards into their balls (`ledger_balls.issue`: one upsert, one posting). Returns
    each award's ball id, None where that day's ball has already ripened (a ripe ball is frozen)
    and nothing was issued for it."""
    issues = []
    for a in awards:
        ripens_at, expires_at = ripening_of(settings, a.day, user_zone(a.user, now))
        issues.append(Issue(a.user.id, a.action_code, a.day, a.grams, ripens_at, expires_at))
    return await ledger_balls.issue(session, issues, now)


async def award(
    session: AsyncSession,
    settings: Settings,
    user: User,
    action_code: str,
    day: date,
    grams: int,
    now: datetime,
) -> str:
    """Issue `grams` into the user's ball of that action and local day; returns the ball's id."""
    ball_id = (await award_many(session, settings, [Award(user, action_code, day, grams)], now))[0]
    if ball_id is None:
        raise Conflict("That day's ball has already ripened.", problem="ball-frozen")
    return ball_id


# The streak's statements are built once, like the ledger's collect (named parameters, none named
# after a column of `users`).
_TODAY = bindparam("today", type_=table_of(User).c.last_collect_day.type)


def _extend_streak(*conditions: Any) -> Any:
    """The first own collection of a local day extends (or restarts) the streak."""
    users = table_of(User)
    return (
        update(users)
        .where(
            users.c.id == COLLECTOR_ID,
            or_(users.c.last_collect_day.is_(None), users.c.last_collect_day < _TODAY),
            *conditions,
        )
        .values(
            streak_days=case(
                (users.c.last_collect_day == bindparam("yesterday", type_=_TODAY.type), users.c.streak_days + 1),
                else_=1,
            ),
            last_collect_day=_TODAY,
        )
        .returning(users.c.streak_days)
    )


def _streak_and_auto_plant(claimed: Any) -> list[Any]:
    """Energy's part of the single-statement collect: the streak (when the ball held grams) and
    the cost of an auto-plant tree (trees' rule runs after the credit when the balance covers it)."""
    streak = _extend_streak(exists().where(claimed.c.collected_g > 0)).cte("streak")
    return [
        select(streak.c.streak_days).scalar_subquery().label("streak_days"),
        trees.auto_plant_cost(COLLECTOR_ID).label("auto_plant_cost"),
    ]


EXTEND_STREAK = _extend_streak()
COLLECT_IN_ONE_STATEMENT = ledger_balls.collect_statement(_streak_and_auto_plant)


def _streak_parameters(user: User, now: datetime) -> dict[str, Any]:
    today = local_day(user, now)
    return {"collector_id": user.id, "today": today, "yesterday": today - timedelta(days=1)}


async def collect(
    session: AsyncSession, settings: Settings, user: User, ball_id: str, now: datetime
) -> tuple[int, int]:
    if dialect_name(session) == "postgresql":
        return await _collect_in_one_statement(session, settings, user, ball_id, now)
    collected = await ledger_balls.collect_one(session, user.id, ball_id, now)
    if collected is None:
        await _refuse_collect(session, user, ball_id, now)
    return await _after_collect(session, settings, user, collected, now)


async def _refuse_collect(session: AsyncSession, user: User, ball_id: str, now: datetime) -> NoReturn:
    """Say why a ball was not claimed: not the user's (404), or not ripe (409)."""
    ball = (
        await session.execute(select(Ball).where(col(Ball.id) == ball_id, col(Ball.user_id) == user.id))
    ).scalar_one_or_none()
    if ball is None:
        raise NotFound("No such ball.", problem="ball-not-found")
    state = ball_state(ball, now)
    raise Conflict(f"This ball is {state}, not ripe.", problem=f"ball-{state}" if state != "growing" else "not-ripe")


async def _collect_in_one_statement(
    session: AsyncSession, settings: Settings, user: User, ball_id: str, now: datetime
) -> tuple[int, int]:
    """PostgreSQL: the ledger's claim, credit and legs and this domain's streak in one statement
    (`ledger_balls.collect_in_one_statement`); auto-plant runs after it only when the statement
    found an auto-plant tree the new balance covers."""
    found = await ledger_balls.collect_in_one_statement(
        session, COLLECT_IN_ONE_STATEMENT, user.id, ball_id, now, _streak_parameters(user, now)
    )
    if found is None:
        await _refuse_collect(session, user, ball_id, now)
    collected, row = found
    if row.streak_days is not None:
        await _shield_for_streak(session, settings, user, row.streak_days, now)
    balance = collected.balance
    if row.auto_plant_cost is not None and balance.balance_g >= row.auto_plant_cost:
        balance = await trees.plant_after_credit(session, user.id, balance, now)
    return collected.grams, balance.balance_g


async def collect_all(
    session: AsyncSession, settings: Settings, user: User, now: datetime
) -> tuple[int, int, list[str]]:
    collected = await ledger_balls.collect_all(session, user.id, now)
    if not collected.ball_ids:
        return 0, collected.balance.balance_g, []
    grams, balance = await _after_collect(session, settings, user, collected, now)
    return grams, balance, collected.ball_ids


async def _after_collect(
    session: AsyncSession, settings: Settings, user: User, collected: Collected, now: datetime
) -> tuple[int, int]:
    """The steps after the ledger credited a collection: auto-plant, then the streak."""
    balance = await trees.plant_after_credit(session, user.id, collected.balance, now)
    if collected.grams > 0:
        await _count_streak_day(session, settings, user, now)
    return collected.grams, balance.balance_g


async def _count_streak_day(session: AsyncSession, settings: Settings, user: User, now: datetime) -> None:
    """Count consecutive local days with an own collection; every 7th day earns a shield (SPEC 5)."""
    parameters = _streak_parameters(user, now)
    if user.last_collect_day == parameters["today"]:  # counted earlier today (it only moves forward)
        return
    streak = (await session.execute(EXTEND_STREAK, parameters)).scalar()
    if streak is not None:
        await _shield_for_streak(session, settings, user, streak, now)


async def _shield_for_streak(session: AsyncSession, settings: Settings, user: User, streak: int, now: datetime) -> None:
    if streak % 7 == 0:
        earned = await session.execute(
            update(User)
            .where(col(User.id) == user.id, col(User.shields) < settings.max_shields)
            .values(shields=col(User.shields) + 1)
            .returning(col(User.shields))
        )
        if earned.scalar() is not None:
            await add_feed_item(session, user.id, FeedType.SHIELD_EARNED, now=now)
            await notify(session, user.id, "shield.earned", now.date().isoformat(), {}, now=now)


def streak_days(user: User, now: datetime) -> int:
    """A streak still counts today if the last collection was today or yesterday."""
    if user.last_collect_day is None or user.last_collect_day < local_day(user, now) - timedelta(days=1):
        return 0
    return user.streak_days


async def forest_balls(session: AsyncSession, user_id: str, now: datetime) -> list[Ball]:
    """Growing and ripe balls, and those collected or expired in the last 24 h."""
    rows = await session.execute(
        select(Ball)
        .where(
            col(Ball.user_id) == user_id,
            or_(
                and_(col(Ball.collected_at).is_(None), col(Ball.expires_at) > now - RECENT),
                col(Ball.collected_at) > now - RECENT,
            ),
        )
        .order_by(col(Ball.ripens_at), col(Ball.id))
    )
    return list(rows.scalars())


async def forest_picture(session: AsyncSession, user_id: str, now: datetime) -> images.Rendered:
    """The forest picture (SPEC 6): the growing tree, the ripe balls with their grams and the paid-for
    trees. A scene already drawn (for anyone) comes from the cache; a new one is rendered off the
    event loop. `GET /me/forest.png` and the public profile (SPEC 12.2) show it."""
    balance = await balance_of(session, user_id)
    tree, planted = await trees.forest_trees(session, user_id, balance.balance_g)
    ripe = [ball.remaining_g for ball in await forest_balls(session, user_id, now) if ball_state(ball, now) == "ripe"]
    scene = images.forest_scene(tree, ripe, planted)
    return await images.cached_png(images.FORESTS, scene, images.render_forest, scene)
