"""Earning energy into balls, and collecting them (SPEC 4.1, 4.2).

Collecting is the 07:00 hot path: one guarded `UPDATE ... RETURNING` claims the ball's grams,
then the ledger legs are inserted; there is no read-modify-write of ORM objects and no shared
counter row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.catalog.models import ActionType
from server.catalog.service import get_action
from server.db import dialect_insert, new_id
from server.energy.models import ActionRecord, Ball, DailySteps
from server.energy.schemas import BallPublic, StepsPublic
from server.errors import Conflict, NotFound, Unprocessable
from server.feed.models import FeedType
from server.feed.service import add_feed_item
from server.ledger import service as ledger
from server.ledger.models import Account, TransactionKind
from server.ledger.service import BalanceState, Leg
from server.settings import Settings
from server.trees import service as trees
from server.users.models import User
from server.users.service import local_day, local_time_on, user_zone

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
    """Issue many awards in one upsert of their balls and one ledger posting (a request's round
    trips do not grow with its users). Returns each award's ball id, None where that day's ball
    has already ripened (a ripe ball is frozen) and nothing was issued for it.

    Rows go in (user, action, day) order, so concurrent requests lock shared balls in the same
    order; two awards of one request must not name the same ball.
    """
    rows = []
    for a in sorted(awards, key=lambda a: (a.user.id, a.action_code, a.day)):
        ripens_at, expires_at = ripening_of(settings, a.day, user_zone(a.user, now))
        rows.append(
            {
                "id": new_id(),
                "user_id": a.user.id,
                "action_code": a.action_code,
                "local_day": a.day,
                "amount_g": a.grams,
                "remaining_g": a.grams,
                "ripens_at": ripens_at,
                "expires_at": expires_at,
                "created_at": now,
            }
        )
    if not rows:
        return []
    statement = dialect_insert(session)(Ball.__table__)
    statement = statement.on_conflict_do_update(
        index_elements=[Ball.user_id, Ball.action_code, Ball.local_day],
        set_={
            "amount_g": Ball.amount_g + statement.excluded.amount_g,
            "remaining_g": Ball.remaining_g + statement.excluded.remaining_g,
        },
        where=Ball.ripens_at > now,  # a ripe ball is frozen
    ).returning(Ball.id, Ball.user_id, Ball.action_code, Ball.local_day)
    # executemany: one compiled statement, sent as multi-row INSERTs by the driver's batching
    result = await session.execute(statement, rows)
    ids = {(row.user_id, row.action_code, row.local_day): row.id for row in result}
    ball_ids = [ids.get((a.user.id, a.action_code, a.day)) for a in awards]
    await ledger.post_many(
        session,
        TransactionKind.AWARD,
        [
            (
                a.user.id,
                a.action_code,
                [Leg(Account.ISSUED, -a.grams), Leg(Account.BALL, a.grams, a.user.id, ball_id=b)],
            )
            for a, b in zip(awards, ball_ids, strict=True)
            if b is not None
        ],
        now,
    )
    return ball_ids


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


def walking_energy(walk: ActionType, steps: int) -> tuple[int, bool]:
    raw = steps * walk.grams_per_unit // walk.per_units
    if walk.daily_cap_g is not None and raw > walk.daily_cap_g:
        return walk.daily_cap_g, True
    return raw, False


async def report_steps(
    session: AsyncSession, settings: Settings, user: User, day: date, steps: int, now: datetime
) -> StepsPublic:
    """SPEC 4.1: today's total may rise; yesterday's until its ball ripens; lower totals are ignored."""
    zone = user_zone(user, now)
    today = local_day(user, now)
    yesterday_open = day == today - timedelta(days=1) and now < ripening_of(settings, day, zone)[0]
    if day != today and not yesterday_open:
        raise Unprocessable(
            "Steps can be reported for today, and for yesterday until 07:00 today.", problem="steps-date"
        )
    if steps > settings.max_steps_per_day:
        raise Unprocessable(f"At most {settings.max_steps_per_day} steps a day.", problem="steps-range")
    walk = await get_action(session, "walk")

    statement = dialect_insert(session)(DailySteps).values(user_id=user.id, local_day=day, steps=0, energy_g=0)
    stored = (
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[DailySteps.user_id, DailySteps.local_day],
                set_={"steps": DailySteps.steps},  # no change: takes the row lock and returns the row
            ).returning(DailySteps.steps, DailySteps.energy_g)
        )
    ).one()
    stored_steps, stored_energy_g = stored.steps, stored.energy_g
    if steps > stored_steps:
        energy_g, capped = walking_energy(walk, steps)
        delta = energy_g - stored_energy_g
        await session.execute(
            update(DailySteps)
            .where(DailySteps.user_id == user.id, DailySteps.local_day == day)
            .values(steps=steps, energy_g=energy_g)
            .execution_options(synchronize_session=False)
        )
        stored_steps, stored_energy_g = steps, energy_g
        ball_id = await award(session, settings, user, walk.code, day, delta, now) if delta > 0 else None
        await _record_walk(session, user, day, steps, energy_g, capped, ball_id, now)

    ball = (
        await session.execute(
            select(Ball).where(Ball.user_id == user.id, Ball.action_code == walk.code, Ball.local_day == day)
        )
    ).scalar_one_or_none()
    return StepsPublic(
        date=day, steps=stored_steps, energy_g=stored_energy_g, ball=to_public(ball, now) if ball else None
    )


async def _record_walk(
    session: AsyncSession,
    user: User,
    day: date,
    steps: int,
    energy_g: int,
    capped: bool,
    ball_id: str | None,
    now: datetime,
) -> None:
    """The day's walk is one verified action, updated as the step count rises (the day's
    `daily_steps` row lock serializes this, so an UPDATE that finds no row may insert)."""
    values = {"quantity": steps, "energy_g": energy_g, "capped": capped, "occurred_at": now}
    if ball_id is not None:
        values["ball_id"] = ball_id
    updated = await session.execute(
        update(ActionRecord)
        .where(ActionRecord.user_id == user.id, ActionRecord.action_code == "walk", ActionRecord.local_day == day)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if updated.rowcount == 0:
        await session.execute(
            insert(ActionRecord.__table__).values(
                id=new_id(),
                user_id=user.id,
                action_code="walk",
                source="device",
                local_day=day,
                created_at=now,
                **values,
            )
        )


def _ripe(now: datetime) -> list:
    return [
        Ball.collected_at.is_(None),
        Ball.settled_at.is_(None),
        Ball.ripens_at <= now,
        Ball.expires_at > now,
    ]


async def collect(
    session: AsyncSession, settings: Settings, user: User, ball_id: str, now: datetime
) -> tuple[int, int]:
    claimed = (
        await session.execute(
            update(Ball)
            .where(Ball.id == ball_id, Ball.user_id == user.id, *_ripe(now))
            .values(collected_g=Ball.remaining_g, remaining_g=0, collected_at=now)
            .returning(Ball.collected_g)
        )
    ).scalar()
    if claimed is None:
        ball = (
            await session.execute(select(Ball).where(Ball.id == ball_id, Ball.user_id == user.id))
        ).scalar_one_or_none()
        if ball is None:
            raise NotFound("No such ball.", problem="ball-not-found")
        state = ball_state(ball, now)
        raise Conflict(
            f"This ball is {state}, not ripe.", problem=f"ball-{state}" if state != "growing" else "not-ripe"
        )
    balance = await _credit_collected(session, settings, user, claimed, [(ball_id, claimed)], now)
    return claimed, balance.balance_g


async def collect_all(
    session: AsyncSession, settings: Settings, user: User, now: datetime
) -> tuple[int, int, list[str]]:
    claimed = (
        await session.execute(
            update(Ball)
            .where(Ball.user_id == user.id, *_ripe(now))
            .values(collected_g=Ball.remaining_g, remaining_g=0, collected_at=now)
            .returning(Ball.id, Ball.collected_g)
        )
    ).all()
    total = sum(row.collected_g for row in claimed)
    if not claimed:
        return 0, (await ledger.balance_of(session, user.id)).balance_g, []
    balance = await _credit_collected(session, settings, user, total, [(r.id, r.collected_g) for r in claimed], now)
    return total, balance.balance_g, sorted(row.id for row in claimed)


async def _credit_collected(
    session: AsyncSession,
    settings: Settings,
    user: User,
    total: int,
    balls: list[tuple[str, int]],
    now: datetime,
) -> BalanceState:
    legs = [Leg(Account.BALL, -grams, user.id, ball_id=ball_id) for ball_id, grams in balls]
    balance = await trees.credit(session, user.id, total, TransactionKind.COLLECT, legs, now=now)
    if total > 0:
        await _extend_streak(session, settings, user, now)
    return balance


async def _extend_streak(session: AsyncSession, settings: Settings, user: User, now: datetime) -> None:
    """Count consecutive local days with an own collection; every 7th day earns a shield (SPEC 5)."""
    today = local_day(user, now)
    if user.last_collect_day == today:  # counted by an earlier collection today (it only moves forward)
        return
    streak = (
        await session.execute(
            update(User)
            .where(User.id == user.id, or_(User.last_collect_day.is_(None), User.last_collect_day < today))
            .values(
                streak_days=case((User.last_collect_day == today - timedelta(days=1), User.streak_days + 1), else_=1),
                last_collect_day=today,
            )
            .returning(User.streak_days)
        )
    ).scalar()
    if streak is not None and streak % 7 == 0:
        earned = await session.execute(
            update(User)
            .where(User.id == user.id, User.shields < settings.max_shields)
            .values(shields=User.shields + 1)
            .returning(User.shields)
        )
        if earned.scalar() is not None:
            await add_feed_item(session, user.id, FeedType.SHIELD_EARNED, now=now)


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
            Ball.user_id == user_id,
            or_(
                and_(Ball.collected_at.is_(None), Ball.expires_at > now - RECENT),
                Ball.collected_at > now - RECENT,
            ),
        )
        .order_by(Ball.ripens_at, Ball.id)
    )
    return list(rows.scalars())
