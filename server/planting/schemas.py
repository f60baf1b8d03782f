"""Planting shapes: NGOs and their keys (SPEC 9), orders, photos, plantings, rejections (SPEC 8.3)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BeforeValidator, Field
from sqlmodel import SQLModel

from server.validation import Number, PatchModel, PrintableText, RequestModel, Text, matching

Id = Annotated[Text, Field(min_length=1, max_length=64)]
# No "@", NUL or white space either side of the one "@". `\s` alone differs between the validator's
# regex engine and JSON Schema's (U+0085 and U+FEFF), so those two are named.
Email = Annotated[
    Text,
    Field(min_length=3, max_length=254),
    matching(r"^[^@\s\x00\x85\uFEFF]+@[^@\s\x00\x85\uFEFF]+$"),
]
WebhookUrl = Annotated[Text, Field(min_length=8, max_length=2000)]


class NgoCreate(RequestModel):
    name: Annotated[PrintableText, Field(min_length=1, max_length=120)]
    contact_email: Email
    webhook_url: WebhookUrl | None = None


class NgoUpdate(PatchModel):
    name: Annotated[PrintableText, Field(min_length=1, max_length=120)] | None = None
    contact_email: Email | None = None
    webhook_url: WebhookUrl | None = None


class NgoCreated(SQLModel):
    id: str
    name: str
    key_id: str
    api_key: str
    webhook_secret: str | None = None


class NgoSummary(SQLModel):
    id: str
    name: str
    contact_email: str
    webhook_url: str | None
    created_at: datetime


class NgoPublic(NgoSummary):
    webhook_secret: str | None = None  # only in the answer that set a new webhook_url


class NgoKeyCreated(SQLModel):
    key_id: str
    api_key: str


class NgoKeyPublic(SQLModel):
    key_id: str
    created_at: datetime
    revoked_at: datetime | None


class NgoProject(SQLModel):
    """A project on the NGO portal: today's season window (None out of season) and what is left of it."""

    id: str
    name: str
    region: str
    status: str
    capacity_per_season: int
    season_start: date | None
    season_end: date | None
    remaining_capacity: int | None
    trees_planted: int


class OrderProject(SQLModel):
    id: str
    name: str


class OrderTree(SQLModel):
    id: str
    species: str
    status: str


class OrderTreeDetail(SQLModel):
    """A tree on its order's page in the NGO portal."""

    id: str
    species: str
    status: str
    planted_at: datetime | None
    certificate_number: str | None


class OrderSummary(SQLModel):
    """An order in a list (SPEC 8.3); the single view adds its trees."""

    id: str
    project: OrderProject
    ngo_id: str
    status: str
    overdue: bool
    issued_at: datetime
    acknowledged_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    tree_count: int


class OrderPublic(OrderSummary):
    trees: list[OrderTree]


class PhotoPublic(SQLModel):
    photo_id: str
    sha256: str
    width: int
    height: int


class OrderPhoto(SQLModel):
    """A photo uploaded in the portal for an order (its page lists them)."""

    id: str
    file_name: str | None
    width: int
    height: int
    tree_id: str | None


def _iso_string(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 timestamp string")
    if "\x00" in value or len(value) > 40:
        raise ValueError("must be an RFC 3339 timestamp")
    return value


Timestamp = Annotated[AwareDatetime, BeforeValidator(_iso_string), Field(json_schema_extra={"maxLength": 40})]


class PlantingIn(RequestModel):
    tree_id: Id
    planted_at: Timestamp
    lat: Annotated[float, Number, Field(ge=-90, le=90)]
    lon: Annotated[float, Number, Field(ge=-180, le=180)]
    photo_id: Id


class RejectionIn(RequestModel):
    tree_id: Id
    reason: Annotated[PrintableText, Field(min_length=1, max_length=500)]


class PlantingsRequest(RequestModel):
    plantings: Annotated[list[PlantingIn], Field(min_length=1, max_length=500)]


class CancelRequest(RequestModel):
    reason: Annotated[PrintableText, Field(min_length=1, max_length=500)]


class RejectionsRequest(RequestModel):
    rejections: Annotated[list[RejectionIn], Field(min_length=1, max_length=500)]


class ItemResult(SQLModel):
    tree_id: str
    status: Literal["planted", "unchanged", "rejected", "refused"]
    certificate_number: str | None = None
    refunded: bool | None = None
    error: dict[str, Any] | None = None


class ItemResults(SQLModel):
    results: list[ItemResult]
