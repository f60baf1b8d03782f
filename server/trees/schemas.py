"""Tree shapes (SPEC 6)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field
from sqlmodel import SQLModel

from server.validation import RequestModel, StrictBool, Text

Id = Annotated[Text, Field(min_length=1, max_length=64)]


class AdoptTreeRequest(RequestModel):
    project_id: Id
    species_id: Id
    auto_plant: StrictBool = False


class UpdateTreeRequest(RequestModel):
    auto_plant: StrictBool


class SpeciesRef(SQLModel):
    id: str
    common_name: str


class ProjectRef(SQLModel):
    id: str
    name: str


class TreePublic(SQLModel):
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
