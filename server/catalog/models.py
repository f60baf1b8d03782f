"""The catalogue: action types with their emission-factor citations, species and projects."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column
from sqlmodel import Field, SQLModel

from server.db import new_id
from server.i18n import Language


def translations_column() -> Column[Any]:
    """A name's translations, {language: text}, English (the name itself) not among them."""
    return Column(JSON, nullable=False, server_default="{}")


class ActionType(SQLModel, table=True):
    __tablename__ = "action_types"
    __table_args__ = (
        CheckConstraint("grams_per_unit >= 0", name="grams_per_unit_non_negative"),
        CheckConstraint("per_units >= 1", name="per_units_positive"),
    )

    code: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=80)
    unit: str = Field(max_length=10)
    grams_per_unit: int
    per_units: int = 1
    daily_cap_g: int | None = None
    daily_cap_count: int | None = None
    monthly_cap_count: int | None = None
    verification: str = Field(max_length=10)
    factor_source: str = Field(max_length=500)
    factor_year: int | None = None
    baseline: str = Field(max_length=200)
    retired_at: datetime | None = None
    names: dict[str, str] = Field(default_factory=dict, sa_column=translations_column())

    def name_in(self, language: Language) -> str:
        """The name in `language`, or the English one where it has no translation."""
        return self.names.get(language) or self.name


class Species(SQLModel, table=True):
    __tablename__ = "species"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    common_name: str = Field(max_length=80, unique=True)
    scientific_name: str = Field(max_length=120)
    co2_lifetime_kg: int
    common_names: dict[str, str] = Field(default_factory=dict, sa_column=translations_column())

    def common_name_in(self, language: Language) -> str:
        """The common name in `language`, or the English one where it has no translation."""
        return self.common_names.get(language) or self.common_name


class Project(SQLModel, table=True):
    __tablename__ = "projects"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=36)
    ngo_id: str = Field(foreign_key="ngos.id", index=True, max_length=36)
    name: str = Field(max_length=120, unique=True)
    region: str = Field(max_length=120)
    lat: float
    lon: float
    radius_km: float
    capacity_per_season: int
    # [{"start": "MM-DD", "end": "MM-DD"}, ...], UTC dates, inclusive (SPEC 8.1)
    seasons: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="active", max_length=10)
    created_at: datetime


class ProjectSpecies(SQLModel, table=True):
    """A species a project offers, at its cost in grams."""

    __tablename__ = "project_species"
    __table_args__ = (CheckConstraint("cost_g > 0", name="cost_positive"),)

    project_id: str = Field(foreign_key="projects.id", primary_key=True, max_length=36)
    species_id: str = Field(foreign_key="species.id", primary_key=True, max_length=36)
    cost_g: int
