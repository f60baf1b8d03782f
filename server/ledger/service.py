"""The postings (credit, debit, transfer, clawback) and the audit.

With `balls.py` (the claims of balls' grams) this package is the only code that moves energy.
Every movement is one zero-sum transaction of legs. Balances live in stored columns (a ball's
`remaining_g`, a user's `balance_g` and `owed_g`) that are changed only in this package, each by
a guarded UPDATE whose legs are written in the same database transaction; the audit proves the
stored values equal the sums of their legs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.db import new_id, table_of
from server.ledger.models import Account, Balance, Ball, LedgerEntry, LedgerTransaction, TransactionKind
from server.pagination import newest_first, page_of


@dataclass(frozen=True, slots=True)
class Leg:
    account: Account
    amount_g: int
    user_id: str | None = None
    ball_id: str | None = None
    tree_id: str | None = None


@dataclass(frozen=True, slots=True)
class BalanceState:
    balance_g: int
    owed_g: int


class LedgerImbalance(RuntimeError):
    """A programming error: a transaction whose legs do not sum to zero is never written."""


async def open_balance(session: AsyncSession, user_id: str) -> None:
    await session.execute(insert(Balance).values(user_id=user_id, balance_g=0, owed_g=0))


async def post(
    session: AsyncSession,
    kind: TransactionKind,
    legs: list[Leg],
    *,
    now: datetime,
    user_id: str | None = None,
    reference: str | None = None,
) -> str:
    """Append one transaction; legs of 0 g are dropped. Returns its id ("" when nothing moved)."""
    ids = await post_many(session, kind, [(user_id, reference, legs)], now)
    return ids[0] if ids else ""


async def post_many(
    session: AsyncSession,
    kind: TransactionKind,
    batch: list[tuple[str | None, str | None, list[Leg]]],
    now: datetime,
) -> list[str]:
    """Append many transactions, each (user_id, reference, legs), in two statements."""
    transactions: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    for user_id, reference, all_legs in batch:
        legs = [leg for leg in all_legs if leg.amount_g != 0]
        if sum(leg.amount_g for leg in legs) != 0:
            raise LedgerImbalance(f"{kind} legs sum to {sum(leg.amount_g for leg in legs)}")
        if not legs:
            continue
        transaction_id = new_id()
        transactions.append(
            {"id": transaction_id, "kind": kind.value, "user_id": user_id, "reference": reference, "created_at": now}
        )
        entries.extend(
            {
                "id": new_id(),
                "transaction_id": transaction_id,
                "kind": kind.value,
                "account": leg.account.value,
                "user_id": leg.user_id,
                "ball_id": leg.ball_id,
                "tree_id": leg.tree_id,
                "amount_g": leg.amount_g,
                "created_at": now,
            }
            for leg in legs
        )
    if transactions:
        # Core inserts of the tables: the ORM's bulk insert leaves NULL columns out and splits the
        # rows into one statement per run of equal column sets (an award's two legs alternate).
        await session.execute(insert(table_of(LedgerTransaction)), transactions)
        await session.execute(insert(table_of(LedgerEntry)), entries)
    return [row["id"] for row in transactions]


# Built once (every credit runs it; building costs more CPU than sending it). The parameters are
# not named after columns of `balances`: an UPDATE would add them to its SET clause.
CREDIT_WITHOUT_DEBT = (
    update(table_of(Balance))
    .where(table_of(Balance).c.user_id == bindparam("payee_id"), table_of(Balance).c.owed_g == 0)
    .values(balance_g=table_of(Balance).c.balance_g + bindparam("grams", type_=table_of(Balance).c.balance_g.type))
    .returning(table_of(Balance).c.balance_g)
)


async def credit_user(
    session: AsyncSession,
    user_id: str,
    grams: int,
    kind: TransactionKind,
    source_legs: list[Leg],
    *,
    now: datetime,
    reference: str | None = None,
) -> BalanceState:
    """Credit `grams` to a user, paying their debt (`owed_g`) first (SPEC 4.3).

    `source_legs` say where the grams come from and must sum to -grams.
    """
    new_balance = (await session.execute(CREDIT_WITHOUT_DEBT, {"payee_id": user_id, "grams": grams})).scalar()
    if new_balance is not None:
        await post(
            session,
            kind,
            [*source_legs, Leg(Account.BALANCE, grams, user_id)],
            now=now,
            user_id=user_id,
            reference=reference,
        )
        return BalanceState(new_balance, 0)

    # In debt: lock the row (PostgreSQL; SQLite already holds the write lock) and split the credit.
    row = (
        await session.execute(select(col(Balance.owed_g)).where(col(Balance.user_id) == user_id).with_for_update())
    ).one()
    repaid = min(row.owed_g, grams)
    result = (
        await session.execute(
            update(Balance)
            .where(col(Balance.user_id) == user_id)
            .values(owed_g=col(Balance.owed_g) - repaid, balance_g=col(Balance.balance_g) + (grams - repaid))
            .returning(col(Balance.balance_g), col(Balance.owed_g))
        )
    ).one()
    await post(
        session,
        kind,
        [*source_legs, Leg(Account.OWED, repaid, user_id), Leg(Account.BALANCE, grams - repaid, user_id)],
        now=now,
        user_id=user_id,
        reference=reference,
    )
    return BalanceState(result.balance_g, result.owed_g)


async def debit_user(
    session: AsyncSession,
    user_id: str,
    grams: int,
    kind: TransactionKind,
    destination_legs: list[Leg],
    *,
    now: datetime,
    reference: str | None = None,
) -> int | None:
    """Take `grams` from a user's balance if it holds them; None (and nothing written) if short."""
    result = await session.execute(
        update(Balance)
        .where(col(Balance.user_id) == user_id, col(Balance.balance_g) >= grams)
        .values(balance_g=col(Balance.balance_g) - grams)
        .returning(col(Balance.balance_g))
    )
    new_balance = result.scalar()
    if new_balance is None:
        return None
    await post(
        session,
        kind,
        [Leg(Account.BALANCE, -grams, user_id), *destination_legs],
        now=now,
        user_id=user_id,
        reference=reference,
    )
    return new_balance


async def transfer(
    session: AsyncSession,
    from_user_id: str,
    to_user_id: str,
    grams: int,
    kind: TransactionKind,
    *,
    now: datetime,
    reference: str | None = None,
) -> tuple[int, BalanceState] | None:
    """Move `grams` from one user's balance to another's (whose debt is paid first), as ONE
    zero-sum transaction. None (and nothing written) when the sender's balance is short.

    Both balance rows are locked in id order first (PostgreSQL; SQLite holds the write lock),
    so transfers crossing in opposite directions cannot deadlock.
    """
    await session.execute(
        select(col(Balance.user_id))
        .where(col(Balance.user_id).in_([from_user_id, to_user_id]))
        .order_by(col(Balance.user_id))
        .with_for_update()
    )
    debited = (
        await session.execute(
            update(Balance)
            .where(col(Balance.user_id) == from_user_id, col(Balance.balance_g) >= grams)
            .values(balance_g=col(Balance.balance_g) - grams)
            .returning(col(Balance.balance_g))
        )
    ).scalar()
    if debited is None:
        return None
    state = await credit_user(
        session,
        to_user_id,
        grams,
        kind,
        [Leg(Account.BALANCE, -grams, from_user_id)],
        now=now,
        reference=reference,
    )
    return debited, state


@dataclass(frozen=True, slots=True)
class Clawback:
    from_ball_g: int
    from_expired_g: int
    from_balance_g: int
    owed_g: int


async def clawback(
    session: AsyncSession,
    user_id: str,
    wanted: list[tuple[str, int]],
    *,
    now: datetime,
    reference: str | None = None,
) -> Clawback:
    """Take back issued energy (a void, SPEC 7.2): `wanted` lists (ball id, grams) to take back.

    Each ball's grams come first from the ball while it holds them (not collected, not settled by
    the expire job; a ball past `expires_at` but not yet settled counts as expired), then from what
    of that ball the expire job moved to `expired`, then from the user's balance; the rest becomes
    debt (`owed_g`). One zero-sum transaction: ball -b, expired -e, balance -u, owed -o,
    issued +(b+e+u+o). The user's balance row is locked first, so voids of one user serialize.
    """
    balance = (
        await session.execute(
            select(col(Balance.balance_g), col(Balance.owed_g)).where(col(Balance.user_id) == user_id).with_for_update()
        )
    ).one()
    legs: list[Leg] = []
    from_ball = from_expired = rest = 0
    for ball_id, grams in wanted:
        if grams <= 0:
            continue
        ball = (
            await session.execute(
                select(
                    col(Ball.remaining_g),
                    col(Ball.expired_g),
                    col(Ball.expires_at),
                    col(Ball.collected_at),
                    col(Ball.settled_at),
                )
                .where(col(Ball.id) == ball_id)
                .with_for_update()
            )
        ).one()
        taken = 0
        if ball.collected_at is None and ball.settled_at is None and ball.remaining_g > 0:
            taken = min(grams, ball.remaining_g)
            await session.execute(
                update(Ball)
                .where(col(Ball.id) == ball_id, col(Ball.remaining_g) >= taken)
                .values(remaining_g=col(Ball.remaining_g) - taken)
            )
            legs.append(Leg(Account.BALL, -taken, user_id, ball_id=ball_id))
            if ball.expires_at <= now:
                from_expired += taken
            else:
                from_ball += taken
        elif ball.settled_at is not None and ball.expired_g > 0:
            already = -int(
                (
                    await session.execute(
                        select(func.coalesce(func.sum(col(LedgerEntry.amount_g)), 0)).where(
                            col(LedgerEntry.account) == Account.EXPIRED.value,
                            col(LedgerEntry.ball_id) == ball_id,
                            col(LedgerEntry.kind) == TransactionKind.VOID.value,
                        )
                    )
                ).scalar_one()
            )
            taken = max(0, min(grams, ball.expired_g - already))
            legs.append(Leg(Account.EXPIRED, -taken, ball_id=ball_id))
            from_expired += taken
        rest += grams - taken
    from_balance = min(rest, balance.balance_g)
    owed = rest - from_balance
    if from_balance or owed:
        await session.execute(
            update(Balance)
            .where(col(Balance.user_id) == user_id)
            .values(balance_g=col(Balance.balance_g) - from_balance, owed_g=col(Balance.owed_g) + owed)
        )
    legs += [Leg(Account.BALANCE, -from_balance, user_id), Leg(Account.OWED, -owed, user_id)]
    legs.append(Leg(Account.ISSUED, from_ball + from_expired + from_balance + owed))
    await post(session, TransactionKind.VOID, legs, now=now, user_id=user_id, reference=reference)
    return Clawback(from_ball, from_expired, from_balance, owed)


async def balance_of(session: AsyncSession, user_id: str) -> BalanceState:
    row = (
        await session.execute(
            select(col(Balance.balance_g), col(Balance.owed_g)).where(col(Balance.user_id) == user_id)
        )
    ).one()
    return BalanceState(row.balance_g, row.owed_g)


async def audit(session: AsyncSession, *, max_mismatches: int = 100) -> dict[str, Any]:
    """Check the ledger's invariants (SPEC 4.3) and report the totals.

    Its several reads must see one snapshot, or writes committed between them show as false
    mismatches under live traffic: REPEATABLE READ on PostgreSQL (a SQLite read transaction is a
    snapshot already).
    """
    if session.bind is not None and session.bind.dialect.name == "postgresql" and not session.in_transaction():
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    totals = dict(
        (
            await session.execute(
                select(col(LedgerEntry.account), func.coalesce(func.sum(col(LedgerEntry.amount_g)), 0)).group_by(
                    col(LedgerEntry.account)
                )
            )
        ).all()
    )
    issued_g = -int(totals.get(Account.ISSUED.value, 0))
    stored = (
        await session.execute(
            select(func.coalesce(func.sum(col(Balance.balance_g)), 0), func.coalesce(func.sum(col(Balance.owed_g)), 0))
        )
    ).one()
    in_balls_g = int((await session.execute(select(func.coalesce(func.sum(col(Ball.remaining_g)), 0)))).scalar_one())
    in_balances_g, owed_g = int(stored[0]), int(stored[1])
    spent_g = int(totals.get(Account.SPENT.value, 0))
    expired_g = int(totals.get(Account.EXPIRED.value, 0))

    mismatches: list[dict[str, Any]] = []
    unbalanced = await session.execute(
        select(col(LedgerEntry.transaction_id), func.sum(col(LedgerEntry.amount_g)))
        .group_by(col(LedgerEntry.transaction_id))
        .having(func.sum(col(LedgerEntry.amount_g)) != 0)
        .limit(max_mismatches)
    )
    mismatches += [{"kind": "transaction", "id": t, "sum_g": int(s)} for t, s in unbalanced]

    def leg_sum(account: Account) -> Any:
        return (
            select(col(LedgerEntry.user_id), func.sum(col(LedgerEntry.amount_g)).label("total"))
            .where(col(LedgerEntry.account) == account.value)
            .group_by(col(LedgerEntry.user_id))
            .subquery()
        )

    for account, column, sign in (
        (Account.BALANCE, col(Balance.balance_g), 1),
        (Account.OWED, col(Balance.owed_g), -1),
    ):
        sums = leg_sum(account)
        derived = sign * func.coalesce(sums.c.total, 0)
        rows = await session.execute(
            select(col(Balance.user_id), column, derived)
            .outerjoin(sums, sums.c.user_id == col(Balance.user_id))
            .where(column != derived)
            .limit(max_mismatches)
        )
        mismatches += [{"kind": account.value, "id": u, "stored_g": int(s), "ledger_g": int(d)} for u, s, d in rows]

    ball_sums = (
        select(col(LedgerEntry.ball_id), func.sum(col(LedgerEntry.amount_g)).label("total"))
        .where(col(LedgerEntry.account) == Account.BALL.value)
        .group_by(col(LedgerEntry.ball_id))
        .subquery()
    )
    ball_derived = func.coalesce(ball_sums.c.total, 0)
    rows = await session.execute(
        select(col(Ball.id), col(Ball.remaining_g), ball_derived)
        .outerjoin(ball_sums, ball_sums.c.ball_id == col(Ball.id))
        .where(col(Ball.remaining_g) != ball_derived)
        .limit(max_mismatches)
    )
    mismatches += [{"kind": "ball", "id": b, "stored_g": int(s), "ledger_g": int(d)} for b, s, d in rows]

    # Stored balances must also agree with the account totals (no entries for unknown rows).
    if int(totals.get(Account.BALANCE.value, 0)) != in_balances_g:
        mismatches.append(
            {"kind": "balances_total", "stored_g": in_balances_g, "ledger_g": int(totals.get(Account.BALANCE.value, 0))}
        )
    if int(totals.get(Account.BALL.value, 0)) != in_balls_g:
        mismatches.append(
            {"kind": "balls_total", "stored_g": in_balls_g, "ledger_g": int(totals.get(Account.BALL.value, 0))}
        )

    identity_holds = issued_g == in_balls_g + in_balances_g + spent_g + expired_g - owed_g
    if not identity_holds:
        mismatches.append({"kind": "identity", "detail": "issued != balls + balances + spent + expired - owed"})
    return {
        "ok": not mismatches,
        "issued_g": issued_g,
        "in_balls_g": in_balls_g,
        "in_balances_g": in_balances_g,
        "spent_g": spent_g,
        "expired_g": expired_g,
        "owed_g": owed_g,
        "mismatches": mismatches[:max_mismatches],
    }


async def entries_page(
    session: AsyncSession, user_id: str, cursor: str | None, limit: int
) -> tuple[list[LedgerEntry], str | None]:
    """A user's own entries, newest first, one page."""
    query = select(LedgerEntry).where(col(LedgerEntry.user_id) == user_id)
    rows = list((await session.execute(newest_first(query, col(LedgerEntry.id), cursor, limit))).scalars())
    return page_of(rows, limit)
