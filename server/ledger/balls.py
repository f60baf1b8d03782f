"""Balls: the grams a user has earned and not yet collected (SPEC 4.2, 5).

Every write of a ball's grams is here, each a guarded statement with its ledger legs in the same
transaction: issuing into the day's ball, collecting one or all (and, on PostgreSQL, collecting one
in a single statement), a friend's steal and help-collect, and the settlement of expired balls.
The rules that decide them (when a ball ripens, how much a thief may take, the streak, auto-plant)
belong to the callers, which pass their results in or run them after.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Row, Select, bindparam, exists, insert, literal, null, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.db import dialect_name, for_each_dialect, new_id
from server.ledger.models import Account, Balance, Ball, LedgerEntry, LedgerTransaction, TransactionKind
from server.ledger.service import BalanceState, Leg, balance_of, credit_user, post_many


def ripe_at(now: Any) -> list[Any]:
    """WHERE conditions of a ball that can be collected or stolen from at `now` (a time, or a
    parameter of a statement built once): ripe, and neither collected nor settled."""
    balls = Ball.__table__.c
    return [balls.collected_at.is_(None), balls.settled_at.is_(None), balls.ripens_at <= now, balls.expires_at > now]


# --- issuing ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Issue:
    """`grams` to issue into the user's ball of that action and local day (created ripening and
    expiring at the given times when it does not exist yet)."""

    user_id: str
    action_code: str
    day: date
    grams: int
    ripens_at: datetime
    expires_at: datetime


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


async def issue(session: AsyncSession, issues: list[Issue], now: datetime) -> list[str | None]:
    """Issue into many balls in one upsert and one ledger posting (a request's round trips do not
    grow with its users). Returns each issue's ball id, None where that day's ball has already
    ripened and nothing was issued into it.

    Rows go in (user, action, day) order, so concurrent requests lock shared balls in the same
    order; two issues of one call must not name the same ball.
    """
    rows = [
        {
            "id": new_id(),
            "user_id": i.user_id,
            "action_code": i.action_code,
            "local_day": i.day,
            "amount_g": i.grams,
            "remaining_g": i.grams,
            "ripens_at": i.ripens_at,
            "expires_at": i.expires_at,
            "created_at": now,
            "award_now": now,
        }
        for i in sorted(issues, key=lambda i: (i.user_id, i.action_code, i.day))
    ]
    if not rows:
        return []
    # executemany: one compiled statement, sent as multi-row INSERTs by the driver's batching
    result = await session.execute(ISSUE_INTO_BALLS[dialect_name(session)], rows)
    ids = {(row.user_id, row.action_code, row.local_day): row.id for row in result}
    ball_ids = [ids.get((i.user_id, i.action_code, i.day)) for i in issues]
    await post_many(
        session,
        TransactionKind.AWARD,
        [
            (
                i.user_id,
                i.action_code,
                [Leg(Account.ISSUED, -i.grams), Leg(Account.BALL, i.grams, i.user_id, ball_id=b)],
            )
            for i, b in zip(issues, ball_ids, strict=True)
            if b is not None
        ],
        now,
    )
    return ball_ids


# --- collecting -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Collected:
    """What a collect moved from the user's balls into their balance, and the balance after."""

    grams: int
    balance: BalanceState
    ball_ids: list[str]


# The collect's statements are built once, with named parameters: building a statement costs
# more CPU than sending it (bench/inprocess.py). No parameter is named after a column of the
# table it writes: an UPDATE would add it to its SET clause. A caller's own part of the
# single-statement collect may use `NOW` and `COLLECTOR_ID`.
NOW = bindparam("now", type_=Ball.__table__.c.collected_at.type)
COLLECTOR_ID = bindparam("collector_id", type_=Ball.__table__.c.user_id.type)
_BALL_ID = bindparam("collected_ball_id", type_=Ball.__table__.c.id.type)


def _claim_ripe_ball() -> Any:
    """Take all of a ripe ball's grams (one guarded UPDATE: of racing collects, one wins)."""
    balls = Ball.__table__
    return (
        update(balls)
        .where(balls.c.id == _BALL_ID, balls.c.user_id == COLLECTOR_ID, *ripe_at(NOW))
        .values(collected_g=balls.c.remaining_g, remaining_g=0, collected_at=NOW)
        .returning(balls.c.id, balls.c.collected_g)
    )


CLAIM_RIPE_BALL = _claim_ripe_ball()


async def _credit_claimed(
    session: AsyncSession,
    payee_id: str,
    owner_id: str,
    kind: TransactionKind,
    claimed: list[tuple[str, int]],
    now: datetime,
    reference: str | None = None,
) -> BalanceState:
    """Credit the grams claimed from (ball id, grams) of `owner_id`'s balls to `payee_id`."""
    legs = [Leg(Account.BALL, -grams, owner_id, ball_id=ball_id) for ball_id, grams in claimed]
    total = sum(grams for _, grams in claimed)
    return await credit_user(session, payee_id, total, kind, legs, now=now, reference=reference)


async def collect_one(session: AsyncSession, user_id: str, ball_id: str, now: datetime) -> Collected | None:
    """Claim one ripe ball of the user's and credit its grams (debt first); None when it was not
    claimed (not the user's, not ripe, or a racing collect won)."""
    parameters = {"collected_ball_id": ball_id, "collector_id": user_id, "now": now}
    claimed = (await session.execute(CLAIM_RIPE_BALL, parameters)).one_or_none()
    if claimed is None:
        return None
    balance = await _credit_claimed(
        session, user_id, user_id, TransactionKind.COLLECT, [(ball_id, claimed.collected_g)], now
    )
    return Collected(claimed.collected_g, balance, [ball_id])


async def collect_all(session: AsyncSession, user_id: str, now: datetime) -> Collected:
    """Claim all the user's ripe balls and credit their grams (debt first), as one transaction."""
    claimed = (
        await session.execute(
            update(Ball)
            .where(Ball.user_id == user_id, *ripe_at(now))
            .values(collected_g=Ball.remaining_g, remaining_g=0, collected_at=now)
            .returning(Ball.id, Ball.collected_g)
        )
    ).all()
    if not claimed:
        return Collected(0, await balance_of(session, user_id), [])
    balls = [(row.id, row.collected_g) for row in claimed]
    balance = await _credit_claimed(session, user_id, user_id, TransactionKind.COLLECT, balls, now)
    return Collected(sum(grams for _, grams in balls), balance, sorted(row.id for row in claimed))


def _insert_from(table: Any, values: dict[str, Any], source: Any) -> Any:
    """INSERT INTO table (keys) SELECT values FROM source: one row per row of `source`."""
    columns = [
        value if hasattr(value, "compile") else literal(value, table.c[name].type) if value is not None else null()
        for name, value in values.items()
    ]
    return insert(table).from_select(list(values), select(*columns).select_from(source))


def collect_statement(extra_columns: Callable[[Any], list[Any]]) -> Select[Any]:
    """PostgreSQL: the claim of one ripe ball, the credit and both ledger legs as data-modifying
    CTEs of one statement, built once. Its row has `collected_g` and `balance_g` (NULL when the
    balance is in debt or the ball empty: `collect_in_one_statement` then credits it) and the
    caller's `extra_columns(claimed)`, which may be scalar subqueries of the caller's own
    data-modifying CTEs (they see the `claimed` CTE: `claimed.c.collected_g`)."""
    balances = Balance.__table__
    user_id, now = COLLECTOR_ID, NOW
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
    return select(
        claimed.c.collected_g,
        select(credited.c.balance_g).scalar_subquery().label("balance_g"),
        *extra_columns(claimed),
    ).add_cte(posted.cte("posted"), *(leg.cte(f"leg_{i}") for i, leg in enumerate(legs)))


async def collect_in_one_statement(
    session: AsyncSession,
    statement: Select[Any],
    user_id: str,
    ball_id: str,
    now: datetime,
    parameters: dict[str, Any],
) -> tuple[Collected, Row[Any]] | None:
    """PostgreSQL: `collect_one` as one statement (`collect_statement`), so a collect costs BEGIN,
    the user, this and COMMIT: four round trips instead of nine, each of which costs the server
    far more CPU than the database (bench/inprocess.py). `parameters` are those of the caller's
    columns. Returns what was collected and the statement's row; None when the ball was not
    claimed.

    A balance in debt, or an empty ball, is not credited in the statement; it is credited here
    in the same transaction, as `collect_one` does. Same rows, same ledger, same guards.
    """
    row = (
        await session.execute(
            statement,
            {
                **parameters,
                "now": now,
                "collector_id": user_id,
                "collected_ball_id": ball_id,
                "transaction_id": new_id(),
                "ball_leg_id": new_id(),
                "balance_leg_id": new_id(),
            },
        )
    ).one_or_none()
    if row is None:
        return None
    if row.balance_g is None:
        balance = await _credit_claimed(
            session, user_id, user_id, TransactionKind.COLLECT, [(ball_id, row.collected_g)], now
        )
    else:
        balance = BalanceState(row.balance_g, 0)
    return Collected(row.collected_g, balance, [ball_id]), row


# --- a friend's ball --------------------------------------------------------------------------


async def steal(
    session: AsyncSession,
    thief_id: str,
    owner_id: str,
    ball_id: str,
    take: int,
    guards: Sequence[Any],
    now: datetime,
) -> BalanceState | None:
    """Move `take` g of the owner's ripe ball into the thief's balance (debt first): one guarded
    UPDATE of the ball, whose WHERE also holds the caller's `guards` (the steal allowance, the
    owner's consent), then the credit. None, and nothing written, when the WHERE fails."""
    taken = await session.execute(
        update(Ball)
        .where(Ball.id == ball_id, Ball.user_id == owner_id, *ripe_at(now), *guards, Ball.remaining_g >= take)
        .values(remaining_g=Ball.remaining_g - take, stolen_g=Ball.stolen_g + take)
        .returning(Ball.id)
        .execution_options(synchronize_session=False)
    )
    if taken.scalar() is None:
        return None
    return await _credit_claimed(
        session, thief_id, owner_id, TransactionKind.STEAL, [(ball_id, take)], now, reference=ball_id
    )


async def help_collect(
    session: AsyncSession, owner_id: str, ball_id: str, expires_by: datetime, now: datetime
) -> int | None:
    """Collect the owner's ripe ball that expires by `expires_by` into the owner's balance (debt
    first), for a friend; the grams, or None when it was not claimed."""
    claimed = (
        await session.execute(
            update(Ball)
            .where(Ball.id == ball_id, Ball.user_id == owner_id, *ripe_at(now), Ball.expires_at <= expires_by)
            .values(collected_g=Ball.remaining_g, remaining_g=0, collected_at=now)
            .returning(Ball.collected_g)
            .execution_options(synchronize_session=False)
        )
    ).scalar()
    if claimed is None:
        return None
    await _credit_claimed(
        session, owner_id, owner_id, TransactionKind.HELP_COLLECT, [(ball_id, claimed)], now, reference=ball_id
    )
    return int(claimed)


# --- expiry -----------------------------------------------------------------------------------


async def settle_expired(session: AsyncSession, now: datetime, limit: int) -> list[Row[Any]]:
    """Move the grams of up to `limit` balls that expired uncollected to `expired`; returns the
    settled balls (id, user_id, expired_g), none when nothing is left to settle.

    One guarded set-based UPDATE (`settled_at IS NULL`; on PostgreSQL the chunk is picked with
    `FOR UPDATE SKIP LOCKED`), so runs at once never settle a ball twice.
    """
    chunk = (
        select(Ball.id)
        .where(Ball.collected_at.is_(None), Ball.settled_at.is_(None), Ball.expires_at <= now)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    settled = (
        await session.execute(
            update(Ball)
            .where(Ball.id.in_(chunk.scalar_subquery()), Ball.collected_at.is_(None), Ball.settled_at.is_(None))
            .values(expired_g=Ball.remaining_g, remaining_g=0, settled_at=now)
            .returning(Ball.id, Ball.user_id, Ball.expired_g)
            .execution_options(synchronize_session=False)
        )
    ).all()
    await post_many(
        session,
        TransactionKind.EXPIRE,
        [
            (
                row.user_id,
                row.id,
                [
                    Leg(Account.BALL, -row.expired_g, row.user_id, ball_id=row.id),
                    Leg(Account.EXPIRED, row.expired_g),
                ],
            )
            for row in settled
        ],
        now,
    )
    return list(settled)
