"""Catalogue shapes (SPEC 3)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field
from sqlmodel import SQLModel

from server.validation import RequestModel


class ActionTypePublic(SQLModel):
    code: str
    name: str
    unit: str
    grams_per_unit: int
    per_units: int
    daily_cap_g: int | None
    daily_cap_count: int | None
    monthly_cap_count: int | None
    verification: str
    factor_source: str
    factor_year: int | None
    baseline: str


class SpeciesPublic(SQLModel):
    id: str
    common_name: str
    scientific_name: str
    co2_lifetime_kg: int


class NgoRef(SQLModel):
    id: str
    name: str


class Location(SQLModel):
    lat: float
    lon: float


class ProjectSpeciesPublic(SQLModel):
    species_id: str
    common_name: str
    scientific_name: str
    cost_g: int


class Season(SQLModel):
    start: str
    end: str


class ProjectPublic(SQLModel):
    id: str
    name: str
    ngo: NgoRef
    region: str
    location: Location
    radius_km: float
    species: list[ProjectSpeciesPublic]
    seasons: list[Season]
    capacity_per_season: int
    remaining_capacity: int
    in_season: bool
    status: str


class ProjectStatusUpdate(RequestModel):
    status: Annotated[Literal["active", "paused", "closed"], Field()]


def feature_collection(projects: list[ProjectPublic]) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": project.id,
                "geometry": {"type": "Point", "coordinates": [project.location.lon, project.location.lat]},
                "properties": project.model_dump(exclude={"location"}),
            }
            for project in projects
        ],
    }
