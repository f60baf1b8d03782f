"""The ledger: append-only, zero-sum transactions, and the balances they add up to."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, Column, Index
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
    """A user's spendable grams and debt. Only the ledger service writes these rows."""

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
