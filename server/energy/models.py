"""Energy balls, the day's steps and the record of verified actions."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from server.db import new_id


class Ball(SQLModel, table=True):
    """One ball per user, action type and local day; its grams are a ledger account.

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


class DailySteps(SQLModel, table=True):
    __tablename__ = "daily_steps"

    user_id: str = Field(foreign_key="users.id", primary_key=True, max_length=36)
    local_day: date = Field(primary_key=True)
    steps: int = 0
    energy_g: int = 0


class ActionRecord(SQLModel, table=True):
    """A verified action and the energy it earned (0 g when a cap cut it entirely)."""

    __tablename__ = "action_records"
    __table_args__ = (
        Index("ix_action_records_user_id_id", "user_id", "id"),
        Index("ix_action_records_user_action_day", "user_id", "action_code", "local_day"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    user_id: str = Field(foreign_key="users.id", max_length=36)
    action_code: str = Field(foreign_key="action_types.code", max_length=40)
    quantity: int
    energy_g: int
    capped: bool = False
    source: str = Field(max_length=10)
    local_day: date
    ball_id: str | None = Field(default=None, max_length=36)
    # The partner report (partner_reports.id) that recorded this action; NULL for device actions.
    report_id: str | None = Field(default=None, max_length=36, index=True)
    occurred_at: datetime
    created_at: datetime
