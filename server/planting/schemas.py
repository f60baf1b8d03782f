"""Planting shapes: NGOs and their keys (SPEC 9), orders, photos, plantings, rejections (SPEC 8.3)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BeforeValidator, Field
from sqlmodel import SQLModel

from server.openapi import examples
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


# OpenAPI examples: realistic values, valid against the schemas (tests/ops/test_openapi_docs.py).
NGO_EXAMPLE = {
    "id": "0193c19e-4a10-7d35-9f82-6b1c0e7d2a93",
    "name": "Green Sands",
    "contact_email": "plantings@greensands.example.org",
    "webhook_url": "https://hooks.greensands.example.org/canopy",
    "created_at": "2026-01-04T10:00:00Z",
}
WEBHOOK_SECRET_EXAMPLE = "whsec_R60dT5Bnz7afmdi84MCNQVVpT-U5NRuwaQoaGdfUUUc"
TREE_IDS_EXAMPLE = ("0193e3f0-7c21-7e44-8b1a-2d9f6e5c4b70", "0193e3f1-02aa-7d13-9e40-5b6c7d8e9f01")
PHOTO_ID_EXAMPLE = "0193f1d2-9a4b-7c0d-8e1f-2a3b4c5d6e7f"
ORDER_EXAMPLE = {
    "id": "0193f0c8-5d3a-7b9e-a214-6c8d7e0f1a32",
    "project": {"id": "0193c1a0-2d4e-7f10-b6a3-7e9d5c4b3a21", "name": "Alxa Desert Belt"},
    "ngo_id": NGO_EXAMPLE["id"],
    "status": "acknowledged",
    "overdue": False,
    "issued_at": "2026-03-10T00:15:00Z",
    "acknowledged_at": "2026-03-10T08:02:11Z",
    "completed_at": None,
    "cancelled_at": None,
    "cancel_reason": None,
    "tree_count": 2,
}


class NgoCreate(RequestModel):
    model_config = examples(
        {
            "name": "Green Sands",
            "contact_email": NGO_EXAMPLE["contact_email"],
            "webhook_url": NGO_EXAMPLE["webhook_url"],
        }
    )

    name: Annotated[PrintableText, Field(min_length=1, max_length=120)]
    contact_email: Email
    webhook_url: WebhookUrl | None = None


class NgoUpdate(PatchModel):
    model_config = examples({"contact_email": "field-team@greensands.example.org"})

    name: Annotated[PrintableText, Field(min_length=1, max_length=120)] | None = None
    contact_email: Email | None = None
    webhook_url: WebhookUrl | None = None


class NgoCreated(SQLModel):
    model_config = examples(
        {
            "id": NGO_EXAMPLE["id"],
            "name": "Green Sands",
            "key_id": "nk_3a9f1c7e5b2d8a4f",
            "api_key": "ngo_GEpv1eWf7He9ui5WDKSCjlJ12OR4wUZ1-MxaHa8eokM",
            "webhook_secret": WEBHOOK_SECRET_EXAMPLE,
        }
    )

    id: str
    name: str
    key_id: str
    api_key: str
    webhook_secret: str | None = None


class NgoSummary(SQLModel):
    model_config = examples(NGO_EXAMPLE)

    id: str
    name: str
    contact_email: str
    webhook_url: str | None
    created_at: datetime


class NgoPublic(NgoSummary):
    model_config = examples({**NGO_EXAMPLE, "webhook_secret": WEBHOOK_SECRET_EXAMPLE})

    webhook_secret: str | None = None  # only in the answer that set a new webhook_url


class NgoKeyCreated(SQLModel):
    model_config = examples(
        {"key_id": "nk_7d2b9e4a1c6f3e8b", "api_key": "ngo_VtkgrTh6KBHfc2LurkephBr7iAKdkpOJhtH7wvcW5oY"}
    )

    key_id: str
    api_key: str


class NgoKeyPublic(SQLModel):
    model_config = examples({"key_id": "nk_3a9f1c7e5b2d8a4f", "created_at": "2026-01-04T10:00:00Z", "revoked_at": None})

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

    model_config = examples(ORDER_EXAMPLE)

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
    model_config = examples(
        {
            **ORDER_EXAMPLE,
            "trees": [
                {"id": TREE_IDS_EXAMPLE[0], "species": "Saxaul", "status": "ordered"},
                {"id": TREE_IDS_EXAMPLE[1], "species": "Saxaul", "status": "planted"},
            ],
        }
    )

    trees: list[OrderTree]


class PhotoPublic(SQLModel):
    model_config = examples(
        {
            "photo_id": PHOTO_ID_EXAMPLE,
            "sha256": "9f2c4e6a8b0d1f3e5a7c9e1b3d5f7a9c2e4b6d8f0a1c3e5b7d9f2a4c6e8b0d1f",
            "width": 4032,
            "height": 3024,
        }
    )

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
    model_config = examples(
        {
            "plantings": [
                {
                    "tree_id": TREE_IDS_EXAMPLE[0],
                    "planted_at": "2026-03-12T03:20:00Z",
                    "lat": 38.912,
                    "lon": 105.634,
                    "photo_id": PHOTO_ID_EXAMPLE,
                }
            ]
        }
    )

    plantings: Annotated[list[PlantingIn], Field(min_length=1, max_length=500)]


class CancelRequest(RequestModel):
    model_config = examples({"reason": "The site flooded; the trees will be ordered again next season."})

    reason: Annotated[PrintableText, Field(min_length=1, max_length=500)]


class RejectionsRequest(RequestModel):
    model_config = examples(
        {"rejections": [{"tree_id": TREE_IDS_EXAMPLE[1], "reason": "No saplings of this species left this season."}]}
    )

    rejections: Annotated[list[RejectionIn], Field(min_length=1, max_length=500)]


class ItemResult(SQLModel):
    tree_id: str
    status: Literal["planted", "unchanged", "rejected", "refused"]
    certificate_number: str | None = None
    refunded: bool | None = None
    error: dict[str, Any] | None = None


class ItemResults(SQLModel):
    model_config = examples(
        {
            "results": [
                {
                    "tree_id": TREE_IDS_EXAMPLE[0],
                    "status": "planted",
                    "certificate_number": "CNP-2026-00000412",
                },
                {
                    "tree_id": TREE_IDS_EXAMPLE[1],
                    "status": "refused",
                    "error": {
                        "type": "urn:canopy:problem:outside-project-area",
                        "title": "Unprocessable Entity",
                        "status": 422,
                        "detail": "The planting is 61.2 km from the project, more than its 50 km radius.",
                    },
                },
            ]
        }
    )

    results: list[ItemResult]
