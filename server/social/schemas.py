"""Shapes for friends and play (SPEC 1, 5)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Literal

from litestar.params import PathParameter
from pydantic import Field, create_model
from sqlmodel import SQLModel

from server.openapi import examples
from server.trees.schemas import ProjectRef, SpeciesRef
from server.validation import IntOnly, RequestModel, Text

HandlePath = Annotated[str, PathParameter(min_length=1, max_length=30, pattern=r"^[A-Za-z0-9_]+$")]
"""A user's handle in a path (case-insensitive)."""

WATER_AMOUNTS = (10, 18, 33, 66)


# OpenAPI examples: realistic values, valid against the schemas (tests/ops/test_openapi_docs.py).
FRIEND_EXAMPLE = {"handle": "arjun_k", "display_name": "Arjun K."}


class FriendRequestCreate(RequestModel):
    model_config = examples({"handle": FRIEND_EXAMPLE["handle"]})

    handle: Annotated[Text, Field(min_length=1, max_length=30)]


class WaterRequest(RequestModel):
    model_config = examples({"amount_g": 33})

    # exactly one of 10, 18, 33, 66, as a JSON integer (not true, "10" or 10.0)
    amount_g: Annotated[Literal[10, 18, 33, 66], IntOnly]


class UserRef(SQLModel):
    handle: str | None
    display_name: str


# SPEC 1 names a field `from`, a Python keyword: the model is built with create_model, and the
# type checker sees a class with the other fields (`from` is passed as `**{"from": ...}`).
if TYPE_CHECKING:

    class FriendRequestPublic(SQLModel):
        id: str
        to: UserRef
        status: str  # one of the three below, checked when the model is built
        created_at: datetime

else:

    class _WithExample(SQLModel):
        """create_model takes a configuration only through its base."""

        model_config = examples(
            {
                "id": "0193e5b0-3c4d-7e5f-8a6b-7c8d9e0f1a2b",
                "from": {"handle": "mei_lin", "display_name": "Mei Lin"},
                "to": FRIEND_EXAMPLE,
                "status": "pending",
                "created_at": "2026-03-14T07:00:00Z",
            }
        )

    FriendRequestPublic = create_model(
        "FriendRequestPublic",
        __base__=_WithExample,
        id=(str, ...),
        **{"from": (UserRef, ...)},
        to=(UserRef, ...),
        status=(Literal["pending", "accepted", "declined"], ...),
        created_at=(datetime, ...),
    )


class FriendPublic(SQLModel):
    model_config = examples({**FRIEND_EXAMPLE, "since": "2026-02-20T12:00:00Z"})

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
    model_config = examples(
        {
            **FRIEND_EXAMPLE,
            "shielded": False,
            "tree": {
                "id": "0193e3f1-02aa-7d13-9e40-5b6c7d8e9f01",
                "species": {"id": "0193c19f-8e22-7b41-a0d9-3f6e2c1b5d48", "common_name": "Saxaul"},
                "project": {"id": "0193c1a0-2d4e-7f10-b6a3-7e9d5c4b3a21", "name": "Alxa Desert Belt"},
                "stage": "young",
                "stage_name": "Young tree",
            },
            "balls": [
                {
                    "id": "0193e4a3-77c1-7f20-a5b4-0c9d8e7f6a15",
                    "action": "bus_ride",
                    "amount_g": 160,
                    "remaining_g": 144,
                    "stolen_g": 16,
                    "ripens_at": "2026-03-14T07:00:00+05:30",
                    "expires_at": "2026-03-17T07:00:00+05:30",
                    "state": "ripe",
                    "can_steal": True,
                    "can_help_collect": False,
                }
            ],
        }
    )

    handle: str
    display_name: str
    shielded: bool
    tree: FriendTree | None
    balls: list[FriendBall]


class Stolen(SQLModel):
    model_config = examples({"stolen_g": 16})

    stolen_g: int


class HelpCollected(SQLModel):
    model_config = examples({"collected_g": 144})

    collected_g: int


class Watered(SQLModel):
    model_config = examples({"amount_g": 33, "balance_g": 8063})

    amount_g: int
    balance_g: int


class ShieldPublic(SQLModel):
    model_config = examples({"shields": 0, "shield_until": "2026-03-15T07:00:00Z"})

    shields: int
    shield_until: datetime


class LeaderboardItem(SQLModel):
    rank: int
    handle: str
    display_name: str
    collected_g: int


class Leaderboard(SQLModel):
    model_config = examples(
        {
            "period": "week",
            "starts_at": "2026-03-09T00:00:00+08:00",
            "items": [
                {"rank": 1, **FRIEND_EXAMPLE, "collected_g": 1890},
                {"rank": 2, "handle": "mei_lin", "display_name": "Mei Lin", "collected_g": 1412},
            ],
        }
    )

    period: Literal["day", "week", "all"]
    starts_at: datetime | None
    items: list[LeaderboardItem]
