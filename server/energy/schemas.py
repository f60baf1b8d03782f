"""Energy shapes (SPEC 4)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import Field
from sqlmodel import SQLModel

from server.openapi import examples
from server.trees.schemas import TREE_EXAMPLE, TreePublic
from server.validation import IntOnly, RequestModel

# OpenAPI examples: realistic values, valid against the schemas (tests/ops/test_openapi_docs.py).
BALL_EXAMPLE = {
    "id": "0193e4a2-1f08-7a6b-9c3d-8e2f1a0b7c56",
    "action": "walk",
    "amount_g": 204,
    "remaining_g": 204,
    "stolen_g": 0,
    "ripens_at": "2026-03-15T07:00:00+08:00",
    "expires_at": "2026-03-18T07:00:00+08:00",
    "state": "growing",
}
RIPE_BALL_EXAMPLE = {
    **BALL_EXAMPLE,
    "id": "0193e4a3-77c1-7f20-a5b4-0c9d8e7f6a15",
    "action": "metro_ride",
    "amount_g": 104,
    "remaining_g": 94,
    "stolen_g": 10,
    "ripens_at": "2026-03-14T07:00:00+08:00",
    "expires_at": "2026-03-17T07:00:00+08:00",
    "state": "ripe",
}


class StepsRequest(RequestModel):
    model_config = examples({"steps": 10240})

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
    model_config = examples({"date": "2026-03-14", "steps": 10240, "energy_g": 204, "ball": BALL_EXAMPLE})

    date: date
    steps: int
    energy_g: int
    ball: BallPublic | None


class ForestPublic(SQLModel):
    model_config = examples(
        {
            "balance_g": 8096,
            "owed_g": 0,
            "shields": 1,
            "shield_until": None,
            "streak_days": 9,
            "tree": TREE_EXAMPLE,
            "balls": [RIPE_BALL_EXAMPLE, BALL_EXAMPLE],
        }
    )

    balance_g: int
    owed_g: int
    shields: int
    shield_until: datetime | None
    streak_days: int
    tree: TreePublic | None
    balls: list[BallPublic]


class CollectedOne(SQLModel):
    model_config = examples({"collected_g": 94, "balance_g": 8190})

    collected_g: int
    balance_g: int


class CollectedAll(SQLModel):
    model_config = examples({"collected_g": 94, "balance_g": 8190, "balls": [RIPE_BALL_EXAMPLE["id"]]})

    collected_g: int
    balance_g: int
    balls: list[str]


class ActionPublic(SQLModel):
    model_config = examples(
        {
            "id": "0193e4a2-0e1f-7a2b-8c3d-4e5f6a7b8c9d",
            "action": "metro_ride",
            "quantity": 2,
            "energy_g": 104,
            "capped": False,
            "source": "partner",
            "date": "2026-03-13",
            "occurred_at": "2026-03-13T08:41:00Z",
            "created_at": "2026-03-13T08:41:05Z",
        }
    )

    id: str
    action: str
    quantity: int
    energy_g: int
    capped: bool
    source: str
    date: date
    occurred_at: datetime
    created_at: datetime
