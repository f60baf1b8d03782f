"""The day's steps and the record of verified actions (balls are the ledger's: `server/ledger/models.py`)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Column, Index
from sqlmodel import Field, SQLModel

from server.db import new_id


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
    # What a void of that report took back of this action's energy (partner reports only).
    voided_g: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    occurred_at: datetime
    created_at: datetime
