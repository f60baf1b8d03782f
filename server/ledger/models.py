"""The ledger: append-only, zero-sum transactions, the balances they add up to, and the balls
that hold a user's energy until it is collected."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from server.db import new_id


class Account(StrEnum):
    """Where grams can sit. `issued` is the source of all energy (it only goes negative);
    `owed` is a user's debt after a void took more than their balance (it only goes negative)."""

    ISSUED = "issued"
    BALL = "ball"
    BALANCE = "balance"
    OWED = "owed"
    SPENT = "spent"
    EXPIRED = "expired"


class TransactionKind(StrEnum):
    AWARD = "award"
    COLLECT = "collect"
    STEAL = "steal"
    HELP_COLLECT = "help_collect"
    WATER = "water"
    PLANT = "plant"
    REFUND = "refund"
    EXPIRE = "expire"
    VOID = "void"


class Balance(SQLModel, table=True):
    """A user's spendable grams and debt. Only the ledger writes these rows."""

    __tablename__ = "balances"
    __table_args__ = (
        CheckConstraint("balance_g >= 0", name="balance_non_negative"),
        CheckConstraint("owed_g >= 0", name="owed_non_negative"),
    )

    user_id: str = Field(foreign_key="users.id", primary_key=True, max_length=36)
    balance_g: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    owed_g: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))


class LedgerTransaction(SQLModel, table=True):
    __tablename__ = "ledger_transactions"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    kind: str = Field(max_length=20)
    user_id: str | None = Field(default=None, max_length=36)
    reference: str | None = Field(default=None, max_length=80)
    created_at: datetime


class LedgerEntry(SQLModel, table=True):
    """One leg of a transaction; `amount_g` is signed and a transaction's legs sum to zero."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        Index("ix_ledger_entries_user_id_id", "user_id", "id"),
        Index("ix_ledger_entries_account_user", "account", "user_id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    transaction_id: str = Field(foreign_key="ledger_transactions.id", index=True, max_length=36)
    kind: str = Field(max_length=20)
    account: str = Field(max_length=10)
    # The user whose ball, balance, debt or spending this leg touches (NULL for `issued`/`expired`).
    user_id: str | None = Field(default=None, max_length=36)
    ball_id: str | None = Field(default=None, max_length=36, index=True)
    tree_id: str | None = Field(default=None, max_length=36)
    amount_g: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_at: datetime


class Ball(SQLModel, table=True):
    """One ball per user, action type and local day: energy held for the user until collected.
    Its grams are a ledger account, so only the ledger (`balls.py`) writes them; energy decides
    when a ball ripens and expires, and reads balls.

    `remaining_g` is what it still holds. `collected_at` / `settled_at` are written once, by the
    guarded UPDATE that moves its grams out (collect, or the expire job).
    """

    __tablename__ = "balls"
    __table_args__ = (
        UniqueConstraint("user_id", "action_code", "local_day", name="uq_balls_user_action_day"),
        CheckConstraint("remaining_g >= 0", name="remaining_non_negative"),
        CheckConstraint("amount_g >= 0", name="amount_non_negative"),
        Index("ix_balls_user_id_ripens_at", "user_id", "ripens_at"),
        Index("ix_balls_unsettled_expiry", "expires_at", "collected_at", "settled_at"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    user_id: str = Field(foreign_key="users.id", max_length=36)
    action_code: str = Field(foreign_key="action_types.code", max_length=40)
    local_day: date
    amount_g: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    remaining_g: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    stolen_g: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    collected_g: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    expired_g: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    ripens_at: datetime
    expires_at: datetime
    collected_at: datetime | None = None
    settled_at: datetime | None = None
    created_at: datetime
