"""Energy shapes (SPEC 4)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import Field
from sqlmodel import SQLModel

from server.trees.schemas import TreePublic
from server.validation import IntOnly, RequestModel


class StepsRequest(RequestModel):
    # The upper bound is a setting (CANOPY_MAX_STEPS_PER_DAY); the service enforces it too.
    steps: Annotated[int, IntOnly, Field(ge=0, le=10_000_000)]


class BallPublic(SQLModel):
    id: str
    action: str
    amount_g: int
    remaining_g: int
    stolen_g: int
    ripens_at: datetime
    expires_at: datetime
    state: str


class StepsPublic(SQLModel):
    date: date
    steps: int
    energy_g: int
    ball: BallPublic | None


class ForestPublic(SQLModel):
    balance_g: int
    owed_g: int
    shields: int
    shield_until: datetime | None
    streak_days: int
    tree: TreePublic | None
    balls: list[BallPublic]


class CollectedOne(SQLModel):
    collected_g: int
    balance_g: int


class CollectedAll(SQLModel):
    collected_g: int
    balance_g: int
    balls: list[str]


class ActionPublic(SQLModel):
    id: str
    action: str
    quantity: int
    energy_g: int
    capped: bool
    source: str
    date: date
    occurred_at: datetime
    created_at: datetime
