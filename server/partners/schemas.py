"""Partner shapes (SPEC 7, 9)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, model_validator
from sqlmodel import SQLModel

from server.openapi import examples
from server.validation import IntOnly, PatchModel, PrintableText, RequestModel, Text, matching

PartnerKind = Literal["merchant", "transit", "utility"]
ActionCode = Annotated[Text, Field(min_length=1, max_length=40), matching(r"^[a-z0-9_]+$")]
ReportIdText = Annotated[Text, Field(min_length=1, max_length=100), matching(r"^[A-Za-z0-9_.:-]+$")]
REPORT_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,100}$"


def _rfc3339(value: Any) -> Any:
    """An RFC 3339 timestamp with an explicit offset, as UTC (never a number: 1700000000 is refused)."""
    if not isinstance(value, str) or not 20 <= len(value) <= 40 or "\x00" in value:
        raise ValueError("must be an RFC 3339 timestamp such as 2026-11-23T08:15:00Z")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError("must be an RFC 3339 timestamp such as 2026-11-23T08:15:00Z") from exc
    if parsed.tzinfo is None or "T" not in value.upper():
        raise ValueError("must be an RFC 3339 timestamp with a time zone offset (Z or +hh:mm)")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        # 0001-01-01T00:00+01:00 is in year 0 in UTC, 9999-12-31T23:59-01:00 in year 10000. The
        # nearest instant that exists keeps its order against any window, so the report is then
        # refused as too old or in the future (422) like any other.
        return (datetime.min if parsed.year == 1 else datetime.max).replace(tzinfo=UTC)


Timestamp = Annotated[datetime, BeforeValidator(_rfc3339), Field(json_schema_extra={"minLength": 20, "maxLength": 40})]


# --- operator -----------------------------------------------------------------------------------


# OpenAPI examples: realistic values, valid against the schemas (tests/ops/test_openapi_docs.py).
PARTNER_EXAMPLE = {
    "id": "0193c2b7-3e5f-7a81-b9c0-4d2e1f0a9b86",
    "name": "Metro Line Pay",
    "kind": "transit",
    "allowed_actions": ["metro_ride", "bus_ride"],
    "webhook_url": "https://api.metrolinepay.example.com/canopy/events",
    "created_at": "2026-01-06T12:00:00Z",
}
USER_REF_EXAMPLE = "u_5c8e2a9f1d7b3e6c0a4f8d2b"
REPORT_REQUEST_EXAMPLE: dict[str, Any] = {
    "report_id": "mlp-2026-03-14-000187",
    "green_code": "284019375562018734",
    "occurred_at": "2026-03-14T06:58:00Z",
    "items": [{"action": "metro_ride", "quantity": 2}],
}
REPORT_EXAMPLE = {
    "report_id": "mlp-2026-03-14-000187",
    "user_ref": USER_REF_EXAMPLE,
    "awarded": [{"action": "metro_ride", "quantity": 2, "energy_g": 104, "capped": False}],
    "total_g": 104,
}


class PartnerCreate(RequestModel):
    model_config = examples(
        {
            "name": "Metro Line Pay",
            "kind": "transit",
            "allowed_actions": ["metro_ride", "bus_ride"],
            "webhook_url": PARTNER_EXAMPLE["webhook_url"],
        }
    )

    name: Annotated[PrintableText, Field(min_length=1, max_length=120)]
    kind: PartnerKind
    allowed_actions: Annotated[list[ActionCode], Field(min_length=1, max_length=50)]
    webhook_url: Annotated[Text, Field(min_length=1, max_length=2000)] | None = None


class PartnerUpdate(PatchModel):
    model_config = examples({"allowed_actions": ["metro_ride", "bus_ride", "bike_share_ride"]})

    name: Annotated[PrintableText, Field(min_length=1, max_length=120)] | None = None
    kind: PartnerKind | None = None
    allowed_actions: Annotated[list[ActionCode], Field(min_length=1, max_length=50)] | None = None
    # "" removes the webhook; a URL sets it and answers a new webhook_secret (shown once).
    webhook_url: Annotated[Text, Field(max_length=2000)] | None = None


class PartnerCreated(SQLModel):
    model_config = examples(
        {
            **{k: v for k, v in PARTNER_EXAMPLE.items() if k != "created_at"},
            "key_id": "pk_4f2a9c1e7b3d5a8f0c6e2b9d",
            "secret": "psk_2bH_i2gK6K1G4t5xt-pDIEvdBszqVhsZ1P0_tilCTPw",
            "webhook_secret": "whsec_jfyG3gf4SvSP0mGqXLU7bvCVEbA0l3L3DwRwKAUDS1A",
        }
    )

    id: str
    name: str
    kind: str
    allowed_actions: list[str]
    key_id: str
    secret: str
    webhook_url: str | None
    webhook_secret: str | None


class PartnerPublic(SQLModel):
    model_config = examples(PARTNER_EXAMPLE)

    id: str
    name: str
    kind: str
    allowed_actions: list[str]
    webhook_url: str | None
    created_at: datetime


class PartnerUpdated(PartnerPublic):
    model_config = examples({**PARTNER_EXAMPLE, "webhook_secret": None})

    webhook_secret: str | None = None


class KeyCreated(SQLModel):
    model_config = examples(
        {"key_id": "pk_9e1d3b5a7c2f4e6a8b0d1c3e", "secret": "psk_LljiWSN1fAh-1L0HR7F4ymRQrW-5nJCBsBP1sJDmBhI"}
    )

    key_id: str
    secret: str


class KeyPublic(SQLModel):
    model_config = examples(
        {"key_id": "pk_4f2a9c1e7b3d5a8f0c6e2b9d", "created_at": "2026-01-06T12:00:00Z", "revoked_at": None}
    )

    key_id: str
    created_at: datetime
    revoked_at: datetime | None


# --- users --------------------------------------------------------------------------------------


class GreenCodePublic(SQLModel):
    model_config = examples({"code": "284019375562018734", "expires_at": "2026-03-14T07:05:00Z"})

    code: str
    expires_at: datetime


class PartnerLinkPublic(SQLModel):
    model_config = examples(
        {
            "partner_id": PARTNER_EXAMPLE["id"],
            "partner_name": "Metro Line Pay",
            "kind": "transit",
            "user_ref": USER_REF_EXAMPLE,
            "linked_at": "2026-02-02T08:30:00Z",
        }
    )

    partner_id: str
    partner_name: str
    kind: str
    user_ref: str
    linked_at: datetime


# --- partners -----------------------------------------------------------------------------------


class ReportItem(RequestModel):
    action: ActionCode
    quantity: Annotated[int, IntOnly, Field(ge=1, le=10_000)]


def _exactly_one_non_null(first: str, second: str) -> dict[str, Any]:
    """JSON Schema for "exactly one of the two is a string": the other is left out or null."""
    return {
        "oneOf": [
            {"required": [name], "properties": {name: {"type": "string"}, other: {"type": "null"}}}
            for name, other in ((first, second), (second, first))
        ]
    }


class ReportRequest(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={
            **_exactly_one_non_null("green_code", "user_ref"),
            "examples": [
                REPORT_REQUEST_EXAMPLE,
                {
                    "report_id": "mlp-2026-03-14-000188",
                    "user_ref": USER_REF_EXAMPLE,
                    "occurred_at": "2026-03-14T18:20:00Z",
                    "items": [{"action": "bus_ride", "quantity": 1}],
                },
            ],
        }
    )

    report_id: ReportIdText
    green_code: Annotated[Text, matching(r"^[0-9]{18}$")] | None = None
    user_ref: Annotated[Text, Field(min_length=1, max_length=40), matching(r"^[A-Za-z0-9_]+$")] | None = None
    occurred_at: Timestamp
    items: Annotated[list[ReportItem], Field(min_length=1, max_length=100)]

    @model_validator(mode="after")
    def _one_user(self) -> ReportRequest:
        if (self.green_code is None) == (self.user_ref is None):
            raise ValueError("exactly one of green_code and user_ref is required")
        return self


class AwardedItem(SQLModel):
    action: str
    quantity: int
    energy_g: int
    capped: bool


class ReportCreated(SQLModel):
    model_config = examples(REPORT_EXAMPLE)

    report_id: str
    user_ref: str
    awarded: list[AwardedItem]
    total_g: int


class BatchResult(SQLModel):
    report_id: str | None
    status: Literal["created", "replayed", "refused"]
    total_g: int | None = None
    error: dict[str, Any] | None = None


class BatchResponse(SQLModel):
    model_config = examples(
        {
            "results": [
                {"report_id": "mlp-2026-03-14-000187", "status": "created", "total_g": 104},
                {
                    "report_id": "mlp-2026-03-14-000188",
                    "status": "refused",
                    "error": {
                        "type": "urn:canopy:problem:green-code-expired",
                        "title": "Unprocessable Entity",
                        "status": 422,
                        "detail": "This green code has expired.",
                    },
                },
            ]
        }
    )

    results: list[BatchResult]


class VoidRequest(RequestModel):
    model_config = examples({"reason": "The ride was refunded to the rider."})

    reason: Annotated[PrintableText, Field(min_length=1, max_length=500)]


class VoidResult(SQLModel):
    model_config = examples(
        {
            "report_id": "mlp-2026-03-14-000187",
            "voided_g": 94,
            "from_ball_g": 94,
            "from_expired_g": 0,
            "from_balance_g": 0,
            "owed_g": 0,
        }
    )

    report_id: str
    voided_g: int
    from_ball_g: int
    from_expired_g: int
    from_balance_g: int
    owed_g: int


class ReportPublic(SQLModel):
    model_config = examples(
        {
            **REPORT_EXAMPLE,
            "occurred_at": "2026-03-14T06:58:00Z",
            "created_at": "2026-03-14T07:00:00Z",
            "voided_at": None,
            "void_reason": None,
            "voided_g": None,
        }
    )

    report_id: str
    user_ref: str | None
    occurred_at: datetime | None
    created_at: datetime
    total_g: int
    awarded: list[AwardedItem]
    voided_at: datetime | None
    void_reason: str | None
    voided_g: int | None
