"""Catalogue shapes (SPEC 3)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field
from sqlmodel import SQLModel

from server.openapi import examples
from server.validation import IntOnly, Number, PatchModel, PrintableText, RequestModel, Text, matching

# OpenAPI examples: realistic values, valid against the schemas (tests/ops/test_openapi_docs.py).
ACTION_EXAMPLE = {
    "code": "metro_ride",
    "name": "Metro ride",
    "unit": "trip",
    "grams_per_unit": 52,
    "per_units": 1,
    "daily_cap_g": None,
    "daily_cap_count": 5,
    "monthly_cap_count": None,
    "verification": "partner",
    "factor_source": "Beijing Municipal Ecology and Environment Bureau, urban rail factors",
    "factor_year": 2024,
    "baseline": "the same trip by private car",
}
SPECIES_EXAMPLE = {
    "id": "0193c19f-8e22-7b41-a0d9-3f6e2c1b5d48",
    "common_name": "Saxaul",
    "scientific_name": "Haloxylon ammodendron",
    "co2_lifetime_kg": 110,
}
PROJECT_EXAMPLE = {
    "id": "0193c1a0-2d4e-7f10-b6a3-7e9d5c4b3a21",
    "name": "Alxa Desert Belt",
    "region": "Inner Mongolia, China",
    "location": {"lat": 38.85, "lon": 105.72},
    "radius_km": 50.0,
    "seasons": [{"start": "03-01", "end": "05-31"}, {"start": "10-01", "end": "11-15"}],
    "capacity_per_season": 20000,
    "status": "active",
}
NGO_ID_EXAMPLE = "0193c19e-4a10-7d35-9f82-6b1c0e7d2a93"


class ActionTypePublic(SQLModel):
    model_config = examples(ACTION_EXAMPLE)

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


class ActionTypeAdmin(ActionTypePublic):
    """The operator's view: the English `name` and every translation of it."""

    model_config = examples({**ACTION_EXAMPLE, "names": {"zh-Hans": "乘坐地铁"}, "retired_at": None})

    names: dict[str, str]
    retired_at: datetime | None


TranslatedLanguage = Literal["zh-Hans"]
"""Every language but English: a name's translations are keyed by these (English is the name itself)."""
ActionName = Annotated[PrintableText, Field(min_length=1, max_length=80)]
SpeciesName = Annotated[PrintableText, Field(min_length=1, max_length=80)]
TRANSLATIONS_NOTE = "Translations by language; a language left out shows the English name"
MERGE_NOTE = "Merged into the stored translations: a language set to null loses its translation"


Unit = Literal["step", "trip", "item", "bill", "km"]
Verification = Literal["device", "partner"]
PositiveCount = Annotated[int, IntOnly, Field(ge=1, le=1_000_000_000)]
GramsPerUnit = Annotated[int, IntOnly, Field(ge=0, le=1_000_000)]
FactorYear = Annotated[int, IntOnly, Field(ge=1900, le=2100)]


class ActionTypeCreate(RequestModel):
    model_config = examples(
        {
            "code": "bike_commute",
            "name": "Bike commute",
            "names": {"zh-Hans": "骑车通勤"},
            "unit": "km",
            "grams_per_unit": 150,
            "per_units": 1,
            "daily_cap_g": 600,
            "daily_cap_count": None,
            "monthly_cap_count": None,
            "verification": "partner",
            "factor_source": "EEA, average passenger car emissions",
            "factor_year": 2023,
            "baseline": "the same distance by private car",
        }
    )

    code: Annotated[Text, Field(min_length=2, max_length=40), matching(r"^[a-z][a-z0-9_]*$")]
    name: Annotated[PrintableText, Field(max_length=80)]
    names: Annotated[dict[TranslatedLanguage, ActionName], Field(description=TRANSLATIONS_NOTE)] = {}
    unit: Unit
    grams_per_unit: GramsPerUnit
    per_units: PositiveCount = 1
    daily_cap_g: PositiveCount | None = None
    daily_cap_count: PositiveCount | None = None
    monthly_cap_count: PositiveCount | None = None
    verification: Verification
    factor_source: Annotated[PrintableText, Field(max_length=500)]
    factor_year: FactorYear | None = None
    baseline: Annotated[PrintableText, Field(max_length=200)]


NULLABLE_ACTION_FIELDS = frozenset({"daily_cap_g", "daily_cap_count", "monthly_cap_count", "factor_year"})


class ActionTypeUpdate(PatchModel):
    """A partial change; only the caps and `factor_year` may be set to null (no cap, no year)."""

    model_config = examples({"daily_cap_count": 6, "names": {"zh-Hans": "乘坐地铁"}})

    nullable = NULLABLE_ACTION_FIELDS

    name: Annotated[PrintableText, Field(max_length=80)] | None = None
    names: Annotated[dict[TranslatedLanguage, ActionName | None], Field(description=MERGE_NOTE)] | None = None
    unit: Unit | None = None
    grams_per_unit: GramsPerUnit | None = None
    per_units: PositiveCount | None = None
    daily_cap_g: PositiveCount | None = None
    daily_cap_count: PositiveCount | None = None
    monthly_cap_count: PositiveCount | None = None
    verification: Verification | None = None
    factor_source: Annotated[PrintableText, Field(max_length=500)] | None = None
    factor_year: FactorYear | None = None
    baseline: Annotated[PrintableText, Field(max_length=200)] | None = None


class SpeciesPublic(SQLModel):
    model_config = examples(SPECIES_EXAMPLE)

    id: str
    common_name: str
    scientific_name: str
    co2_lifetime_kg: int


class SpeciesAdmin(SpeciesPublic):
    """The operator's view: the English `common_name` and every translation of it."""

    model_config = examples({**SPECIES_EXAMPLE, "common_names": {"zh-Hans": "梭梭"}})

    common_names: dict[str, str]


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


PROJECT_PUBLIC_EXAMPLE = {
    **PROJECT_EXAMPLE,
    "ngo": {"id": NGO_ID_EXAMPLE, "name": "Green Sands"},
    "species": [
        {
            "species_id": SPECIES_EXAMPLE["id"],
            "common_name": "Saxaul",
            "scientific_name": "Haloxylon ammodendron",
            "cost_g": 17900,
        }
    ],
    "remaining_capacity": 18240,
    "in_season": True,
}


class ProjectPublic(SQLModel):
    model_config = examples(PROJECT_PUBLIC_EXAMPLE)

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


# --- operator requests (SPEC 9) -------------------------------------------------------------

# A day of the calendar as MM-DD: days 01-29 of any month, 30 of all but February, 31 of the long
# months (02-29 is allowed, and is 02-28 in common years).
MonthDay = Annotated[
    Text,
    matching(r"^(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-9])|(?:0[13-9]|1[0-2])-30|(?:0[13578]|1[02])-31)$"),
    Field(description="MM-DD, a day of the calendar"),
]
Name = Annotated[PrintableText, Field(min_length=1, max_length=120)]
Id = Annotated[Text, Field(min_length=1, max_length=64)]


class SeasonIn(RequestModel):
    """Inclusive UTC dates; an end before its start wraps the new year."""

    start: MonthDay
    end: MonthDay


class LocationIn(RequestModel):
    lat: Annotated[float, Number, Field(ge=-90, le=90)]
    lon: Annotated[float, Number, Field(ge=-180, le=180)]


class ProjectSpeciesIn(RequestModel):
    species_id: Id
    cost_g: Annotated[int, IntOnly, Field(ge=1, le=10**9)]


def _distinct_species(items: list[ProjectSpeciesIn]) -> list[ProjectSpeciesIn]:
    if len({item.species_id for item in items}) != len(items):
        raise ValueError("lists a species twice")
    return items


SpeciesList = Annotated[
    list[ProjectSpeciesIn],
    # `uniqueItems` says the part of the rule JSON Schema can: no item twice (nor a species_id twice).
    Field(min_length=1, max_length=100, json_schema_extra={"uniqueItems": True}, description="Each species once"),
    AfterValidator(_distinct_species),
]
Seasons = Annotated[list[SeasonIn], Field(min_length=1, max_length=12)]
RadiusKm = Annotated[float, Number, Field(gt=0, le=20_000)]
Capacity = Annotated[int, IntOnly, Field(ge=0, le=10**9)]


class SpeciesCreate(RequestModel):
    model_config = examples(
        {
            "common_name": "Saxaul",
            "common_names": {"zh-Hans": "梭梭"},
            "scientific_name": "Haloxylon ammodendron",
            "co2_lifetime_kg": 110,
        }
    )

    common_name: SpeciesName
    common_names: Annotated[dict[TranslatedLanguage, SpeciesName], Field(description=TRANSLATIONS_NOTE)] = {}
    scientific_name: Name
    co2_lifetime_kg: Annotated[int, IntOnly, Field(ge=0, le=10**6)]


class SpeciesUpdate(PatchModel):
    """The names a species is shown by in other languages (the English name keys the demo seed and
    the tree pictures, so it stays as created)."""

    model_config = examples({"common_names": {"zh-Hans": "梭梭"}})

    common_names: Annotated[dict[TranslatedLanguage, SpeciesName | None], Field(description=MERGE_NOTE)] | None = None


class ProjectCreate(RequestModel):
    model_config = examples(
        {
            "ngo_id": NGO_ID_EXAMPLE,
            "name": "Alxa Desert Belt",
            "region": "Inner Mongolia, China",
            "location": {"lat": 38.85, "lon": 105.72},
            "radius_km": 50,
            "species": [{"species_id": SPECIES_EXAMPLE["id"], "cost_g": 17900}],
            "capacity_per_season": 20000,
            "seasons": PROJECT_EXAMPLE["seasons"],
        }
    )

    ngo_id: Id
    name: Name
    region: Name
    location: LocationIn
    radius_km: RadiusKm
    species: SpeciesList
    capacity_per_season: Capacity
    seasons: Seasons


class ProjectUpdate(PatchModel):
    model_config = examples({"status": "paused", "capacity_per_season": 25000})

    name: Name | None = None
    region: Name | None = None
    location: LocationIn | None = None
    radius_km: RadiusKm | None = None
    species: SpeciesList | None = None
    capacity_per_season: Capacity | None = None
    seasons: Seasons | None = None
    status: Literal["active", "paused", "closed"] | None = None


class AdminProjectSpecies(SQLModel):
    species_id: str
    cost_g: int


class AdminProject(SQLModel):
    model_config = examples(
        {
            **PROJECT_EXAMPLE,
            "ngo_id": NGO_ID_EXAMPLE,
            "species": [{"species_id": SPECIES_EXAMPLE["id"], "cost_g": 17900}],
            "created_at": "2026-01-05T09:30:00Z",
        }
    )

    id: str
    ngo_id: str
    name: str
    region: str
    location: Location
    radius_km: float
    species: list[AdminProjectSpecies]
    seasons: list[Season]
    capacity_per_season: int
    status: str
    created_at: datetime
