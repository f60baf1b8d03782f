"""Tree shapes (SPEC 6)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field
from sqlmodel import SQLModel

from server.openapi import examples
from server.validation import RequestModel, StrictBool, Text

Id = Annotated[Text, Field(min_length=1, max_length=64)]


# OpenAPI examples: realistic values, valid against the schemas (tests/ops/test_openapi_docs.py).
TREE_EXAMPLE: dict[str, Any] = {
    "id": "0193e3f0-7c21-7e44-8b1a-2d9f6e5c4b70",
    "species": {"id": "0193c19f-8e22-7b41-a0d9-3f6e2c1b5d48", "common_name": "Saxaul"},
    "project": {"id": "0193c1a0-2d4e-7f10-b6a3-7e9d5c4b3a21", "name": "Alxa Desert Belt"},
    "cost_g": 17900,
    "status": "growing",
    "stage": "sapling",
    "stage_name": "Sapling",
    "progress": 0.4523,
    "auto_plant": True,
    "order_id": None,
    "rejections": 0,
    "queued_at": None,
    "planted_at": None,
    "refunded_at": None,
    "certificate_number": None,
}


class AdoptTreeRequest(RequestModel):
    model_config = examples(
        {
            "project_id": TREE_EXAMPLE["project"]["id"],
            "species_id": TREE_EXAMPLE["species"]["id"],
            "auto_plant": True,
        }
    )

    project_id: Id
    species_id: Id
    auto_plant: StrictBool = False


class UpdateTreeRequest(RequestModel):
    model_config = examples({"auto_plant": False})

    auto_plant: StrictBool


class SpeciesRef(SQLModel):
    id: str
    common_name: str


class ProjectRef(SQLModel):
    id: str
    name: str


class TreePublic(SQLModel):
    model_config = examples(TREE_EXAMPLE)

    id: str
    species: SpeciesRef
    project: ProjectRef
    cost_g: int
    status: str
    stage: str
    stage_name: str = Field(description="The stage in words, in the language of the answer")
    progress: float
    auto_plant: bool
    order_id: str | None
    rejections: int
    queued_at: datetime | None
    planted_at: datetime | None
    refunded_at: datetime | None
    certificate_number: str | None
