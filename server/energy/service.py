"""Earning energy into balls, and collecting them (SPEC 4.1, 4.2).

Collecting is the 07:00 hot path: one guarded `UPDATE ... RETURNING` claims the ball's grams,
then the ledger legs are inserted; there is no read-modify-write of ORM objects and no shared
counter row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, bindparam, case, exists, func, insert, literal, null, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.catalog.models import ActionType
from server.catalog.service import get_action
from server.db import dialect_name, for_each_dialect, new_id
from server.energy.models import ActionRecord, Ball, DailySteps
from server.energy.schemas import BallPublic, StepsPublic
from server.errors import Conflict, NotFound, Unprocessable
from server.feed.models import FeedType
from server.feed.service import add_feed_item
from server.ledger import service as ledger
from server.ledger.models import Account, Balance, LedgerEntry, LedgerTransaction, TransactionKind
from server.ledger.service import BalanceState, Leg
from server.notifications.service import notify
from server.settings import Settings
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


def ripe_at(now: Any) -> list:
    """WHERE conditions of a ball that can be collected or stolen from at `now` (a time, or a
    parameter of a statement built once): `ball_state` "ripe", and not settled."""
    balls = Ball.__table__.c
    return [balls.collected_at.is_(None), balls.settled_at.is_(None), balls.ripens_at <= now, balls.expires_at > now]


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


def _issue_into_balls(insert_of: Any) -> Any:
    """Create the day's ball or add to it, unless it has ripened (a ripe ball is frozen)."""
    balls = Ball.__table__
    statement = insert_of(balls)
    return statement.on_conflict_do_update(
        index_elements=[balls.c.user_id, balls.c.action_code, balls.c.local_day],
        set_={
            "amount_g": balls.c.amount_g + statement.excluded.amount_g,
            "remaining_g": balls.c.remaining_g + statement.excluded.remaining_g,
        },
        where=balls.c.ripens_at > bindparam("award_now", type_=balls.c.ripens_at.type),
    ).returning(balls.c.id, balls.c.user_id, balls.c.action_code, balls.c.local_day)


ISSUE_INTO_BALLS = for_each_dialect(_issue_into_balls)  # built once: every award runs it


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
                "award_now": now,
            }
        )
    if not rows:
        return []
    # executemany: one compiled statement, sent as multi-row INSERTs by the driver's batching
    result = await session.execute(ISSUE_INTO_BALLS[dialect_name(session)], rows)
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


def _walk_statements() -> tuple[dict[str, Any], Any, Any, Any]:
    """The steps report's statements, built once (named parameters, none named after a column)."""
    steps, records = DailySteps.__table__, ActionRecord.__table__
    walker_id, walk_day = (
        bindparam("walker_id", type_=steps.c.user_id.type),
        bindparam("walk_day", type_=steps.c.local_day.type),
    )

    def lock(insert_of: Any) -> Any:
        # no change on conflict: takes the day's row lock and returns the row
        statement = insert_of(steps).values(user_id=walker_id, local_day=walk_day, steps=0, energy_g=0)
        return statement.on_conflict_do_update(
            index_elements=[steps.c.user_id, steps.c.local_day], set_={"steps": steps.c.steps}
        ).returning(steps.c.steps, steps.c.energy_g)

    raise_steps = (
        update(steps)
        .where(steps.c.user_id == walker_id, steps.c.local_day == walk_day)
        .values(steps=bindparam("new_steps"), energy_g=bindparam("new_energy_g"))
    )
    update_record = (
        update(records)
        .where(records.c.user_id == walker_id, records.c.action_code == "walk", records.c.local_day == walk_day)
        .values(
            {
                **{
                    name: bindparam(f"walk_{name}", type_=records.c[name].type)
                    for name in ("quantity", "energy_g", "capped", "occurred_at")
                },
                "ball_id": func.coalesce(bindparam("walk_ball_id", type_=records.c.ball_id.type), records.c.ball_id),
            }
        )
    )
    walk_ball = select(Ball).where(Ball.user_id == walker_id, Ball.action_code == "walk", Ball.local_day == walk_day)
    return for_each_dialect(lock), raise_steps, update_record, walk_ball


LOCK_DAILY_STEPS, RAISE_DAILY_STEPS, UPDATE_WALK_RECORD, WALK_BALL = _walk_statements()


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

    the_day = {"walker_id": user.id, "walk_day": day}
    stored = (await session.execute(LOCK_DAILY_STEPS[dialect_name(session)], the_day)).one()
    stored_steps, stored_energy_g = stored.steps, stored.energy_g
    if steps > stored_steps:
        energy_g, capped = walking_energy(walk, steps)
        delta = energy_g - stored_energy_g
        await session.execute(RAISE_DAILY_STEPS, {**the_day, "new_steps": steps, "new_energy_g": energy_g})
        stored_steps, stored_energy_g = steps, energy_g
        ball_id = await award(session, settings, user, walk.code, day, delta, now) if delta > 0 else None
        await _record_walk(session, user, day, steps, energy_g, capped, ball_id, now)

    ball = (await session.execute(WALK_BALL, the_day)).scalar_one_or_none()
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
    updated = await session.execute(
        UPDATE_WALK_RECORD,
        {"walker_id": user.id, "walk_day": day, "walk_ball_id": ball_id, **{f"walk_{k}": v for k, v in values.items()}},
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
                ball_id=ball_id,
                **values,
            )
        )


async def collect(
    session: AsyncSession, settings: Settings, user: User, ball_id: str, now: datetime
) -> tuple[int, int]:
    if dialect_name(session) == "postgresql":
        collected = await _collect_in_one_statement(session, settings, user, ball_id, now)
        if collected is not None:
            return collected
        claimed = None
    else:
        parameters = {"collected_ball_id": ball_id, "collector_id": user.id, "now": now}
        claimed = (await session.execute(CLAIM_RIPE_BALL, parameters)).one_or_none()
        claimed = claimed.collected_g if claimed is not None else None
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


# The collect's statements are built once, with named parameters: building a statement costs
# more CPU than sending it (bench/inprocess.py). No parameter is named after a column of the
# table it writes: an UPDATE would add it to its SET clause.
_NOW = bindparam("now", type_=Ball.__table__.c.collected_at.type)
_COLLECTOR_ID = bindparam("collector_id", type_=User.__table__.c.id.type)
_TODAY = bindparam("today", type_=User.__table__.c.last_collect_day.type)
_BALL_ID = bindparam("collected_ball_id", type_=Ball.__table__.c.id.type)


def _claim_ripe_ball() -> Any:
    """Take all of a ripe ball's grams (one guarded UPDATE: of racing collects, one wins)."""
    balls = Ball.__table__
    return (
        update(balls)
        .where(
            balls.c.id == _BALL_ID,
            balls.c.user_id == _COLLECTOR_ID,
            *ripe_at(_NOW),
        )
        .values(collected_g=balls.c.remaining_g, remaining_g=0, collected_at=_NOW)
        .returning(balls.c.id, balls.c.collected_g)
    )


def _extend_streak(*conditions: Any) -> Any:
    """The first own collection of a local day extends (or restarts) the streak."""
    users = User.__table__
    return (
        update(users)
        .where(
            users.c.id == _COLLECTOR_ID,
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


def _streak_parameters(user: User, now: datetime) -> dict[str, Any]:
    today = local_day(user, now)
    return {"collector_id": user.id, "today": today, "yesterday": today - timedelta(days=1)}


def _insert_from(table: Any, values: dict[str, Any], source: Any) -> Any:
    """INSERT INTO table (keys) SELECT values FROM source: one row per row of `source`."""
    columns = [
        value if hasattr(value, "compile") else literal(value, table.c[name].type) if value is not None else null()
        for name, value in values.items()
    ]
    return insert(table).from_select(list(values), select(*columns).select_from(source))


def _collect_statement() -> Any:
    """PostgreSQL: the claim, the credit, the ledger legs and the streak as data-modifying CTEs."""
    balances = Balance.__table__
    user_id, now = _COLLECTOR_ID, _NOW
    transaction_id = bindparam("transaction_id", type_=balances.c.user_id.type)
    claimed = _claim_ripe_ball().cte("claimed")
    something = exists().where(claimed.c.collected_g > 0)
    credited = (
        update(balances)
        .where(balances.c.user_id == user_id, balances.c.owed_g == 0, something)
        .values(balance_g=balances.c.balance_g + select(claimed.c.collected_g).scalar_subquery())
        .returning(balances.c.balance_g)
        .cte("credited")
    )
    claimed_and_credited = claimed.join(credited, true())
    kind = TransactionKind.COLLECT.value
    posted = _insert_from(
        LedgerTransaction.__table__,
        {"id": transaction_id, "kind": kind, "user_id": user_id, "created_at": now},
        claimed_and_credited,
    )
    legs = [
        _insert_from(
            LedgerEntry.__table__,
            {
                "id": bindparam(f"{account.value}_leg_id", type_=transaction_id.type),
                "transaction_id": transaction_id,
                "kind": kind,
                "account": account.value,
                "user_id": user_id,
                "ball_id": leg_ball_id,
                "amount_g": sign * claimed.c.collected_g,
                "created_at": now,
            },
            claimed_and_credited,
        )
        # the ball's id from the row, not the parameter: the client's id may be any length
        for account, leg_ball_id, sign in ((Account.BALL, claimed.c.id, -1), (Account.BALANCE, None, 1))
    ]
    streak = _extend_streak(something).cte("streak")
    return select(
        claimed.c.collected_g,
        select(credited.c.balance_g).scalar_subquery().label("balance_g"),
        select(streak.c.streak_days).scalar_subquery().label("streak_days"),
        trees.auto_plant_cost(user_id).label("auto_plant_cost"),
    ).add_cte(posted.cte("posted"), *(leg.cte(f"leg_{i}") for i, leg in enumerate(legs)))


CLAIM_RIPE_BALL = _claim_ripe_ball()
EXTEND_STREAK = _extend_streak()
COLLECT_IN_ONE_STATEMENT = _collect_statement()


async def _collect_in_one_statement(
    session: AsyncSession, settings: Settings, user: User, ball_id: str, now: datetime
) -> tuple[int, int] | None:
    """PostgreSQL: the 07:00 collect as one statement of data-modifying CTEs (claim the ball,
    credit the balance, post both ledger legs, extend the streak), so a collect costs BEGIN, the
    user, this and COMMIT: four round trips instead of nine, each of which costs the server far
    more CPU than the database (bench/inprocess.py). None when the ball was not claimed.

    A balance in debt, or an empty ball, is not credited here; `trees.credit` then does it in
    the same transaction, as on SQLite. Same rows, same ledger, same guards as the general path.
    """
    parameters = {
        **_streak_parameters(user, now),
        "now": now,
        "collected_ball_id": ball_id,
        "transaction_id": new_id(),
        "ball_leg_id": new_id(),
        "balance_leg_id": new_id(),
    }
    row = (await session.execute(COLLECT_IN_ONE_STATEMENT, parameters)).one_or_none()
    if row is None:
        return None
    if row.streak_days is not None:
        await _shield_for_streak(session, settings, user, row.streak_days, now)
    if row.balance_g is None:  # in debt, or an empty ball: the general path, in this transaction
        legs_of_ball = [Leg(Account.BALL, -row.collected_g, user.id, ball_id=ball_id)]
        balance = await trees.credit(session, user.id, row.collected_g, TransactionKind.COLLECT, legs_of_ball, now=now)
        return row.collected_g, balance.balance_g
    if row.auto_plant_cost is not None and row.balance_g >= row.auto_plant_cost:
        await trees.plant_if_affordable(session, user.id, now)
        return row.collected_g, (await ledger.balance_of(session, user.id)).balance_g
    return row.collected_g, row.balance_g


async def collect_all(
    session: AsyncSession, settings: Settings, user: User, now: datetime
) -> tuple[int, int, list[str]]:
    claimed = (
        await session.execute(
            update(Ball)
            .where(Ball.user_id == user.id, *ripe_at(now))
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
        await _count_streak_day(session, settings, user, now)
    return balance


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
            .where(User.id == user.id, User.shields < settings.max_shields)
            .values(shields=User.shields + 1)
            .returning(User.shields)
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
            Ball.user_id == user_id,
            or_(
                and_(Ball.collected_at.is_(None), Ball.expires_at > now - RECENT),
                Ball.collected_at > now - RECENT,
            ),
        )
        .order_by(Ball.ripens_at, Ball.id)
    )
    return list(rows.scalars())
