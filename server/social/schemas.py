"""Shapes for friends and play (SPEC 1, 5)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from litestar.params import PathParameter
from pydantic import Field, create_model
from sqlmodel import SQLModel

from server.trees.schemas import ProjectRef, SpeciesRef
from server.validation import IntOnly, RequestModel, Text

HandlePath = Annotated[str, PathParameter(min_length=1, max_length=30, pattern=r"^[A-Za-z0-9_]+$")]
"""A user's handle in a path (case-insensitive)."""

WATER_AMOUNTS = (10, 18, 33, 66)


class FriendRequestCreate(RequestModel):
    handle: Annotated[Text, Field(min_length=1, max_length=30)]


class WaterRequest(RequestModel):
    # exactly one of 10, 18, 33, 66, as a JSON integer (not true, "10" or 10.0)
    amount_g: Annotated[Literal[10, 18, 33, 66], IntOnly]


class UserRef(SQLModel):
    handle: str | None
    display_name: str


# SPEC 1 names a field `from`, a Python keyword: the model is built with create_model.
FriendRequestPublic = create_model(
    "FriendRequestPublic",
    __base__=SQLModel,
    id=(str, ...),
    **{"from": (UserRef, ...)},
    to=(UserRef, ...),
    status=(Literal["pending", "accepted", "declined"], ...),
    created_at=(datetime, ...),
)


class FriendPublic(SQLModel):
    handle: str
    display_name: str
    since: datetime


class FriendTree(SQLModel):
    """A friend's growing tree: what it is and how far it has grown (no balance, no cost)."""

    id: str
    species: SpeciesRef
    project: ProjectRef
    stage: str
    stage_name: str = Field(description="The stage in words, in the language of the answer")


class FriendBall(SQLModel):
    id: str
    action: str
    amount_g: int
    remaining_g: int
    stolen_g: int
    ripens_at: datetime
    expires_at: datetime
    state: str
    can_steal: bool
    can_help_collect: bool


class FriendForest(SQLModel):
    handle: str
    display_name: str
    shielded: bool
    tree: FriendTree | None
    balls: list[FriendBall]


class Stolen(SQLModel):
    stolen_g: int


class HelpCollected(SQLModel):
    collected_g: int


class Watered(SQLModel):
    amount_g: int
    balance_g: int


class ShieldPublic(SQLModel):
    shields: int
    shield_until: datetime


class LeaderboardItem(SQLModel):
    rank: int
    handle: str
    display_name: str
    collected_g: int


class Leaderboard(SQLModel):
    period: Literal["day", "week", "all"]
    starts_at: datetime | None
    items: list[LeaderboardItem]
