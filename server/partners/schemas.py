"""Partner shapes (SPEC 7, 9)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, model_validator
from sqlmodel import SQLModel

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


class PartnerCreate(RequestModel):
    name: Annotated[PrintableText, Field(min_length=1, max_length=120)]
    kind: PartnerKind
    allowed_actions: Annotated[list[ActionCode], Field(min_length=1, max_length=50)]
    webhook_url: Annotated[Text, Field(min_length=1, max_length=2000)] | None = None


class PartnerUpdate(PatchModel):
    name: Annotated[PrintableText, Field(min_length=1, max_length=120)] | None = None
    kind: PartnerKind | None = None
    allowed_actions: Annotated[list[ActionCode], Field(min_length=1, max_length=50)] | None = None
    # "" removes the webhook; a URL sets it and answers a new webhook_secret (shown once).
    webhook_url: Annotated[Text, Field(max_length=2000)] | None = None


class PartnerCreated(SQLModel):
    id: str
    name: str
    kind: str
    allowed_actions: list[str]
    key_id: str
    secret: str
    webhook_url: str | None
    webhook_secret: str | None


class PartnerPublic(SQLModel):
    id: str
    name: str
    kind: str
    allowed_actions: list[str]
    webhook_url: str | None
    created_at: datetime


class PartnerUpdated(PartnerPublic):
    webhook_secret: str | None = None


class KeyCreated(SQLModel):
    key_id: str
    secret: str


class KeyPublic(SQLModel):
    key_id: str
    created_at: datetime
    revoked_at: datetime | None


# --- users --------------------------------------------------------------------------------------


class GreenCodePublic(SQLModel):
    code: str
    expires_at: datetime


class PartnerLinkPublic(SQLModel):
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
    model_config = ConfigDict(json_schema_extra=_exactly_one_non_null("green_code", "user_ref"))

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
    results: list[BatchResult]


class VoidRequest(RequestModel):
    reason: Annotated[PrintableText, Field(min_length=1, max_length=500)]


class VoidResult(SQLModel):
    report_id: str
    voided_g: int
    from_ball_g: int
    from_expired_g: int
    from_balance_g: int
    owed_g: int


class ReportPublic(SQLModel):
    report_id: str
    user_ref: str | None
    occurred_at: datetime | None
    created_at: datetime
    total_g: int
    awarded: list[AwardedItem]
    voided_at: datetime | None
    void_reason: str | None
    voided_g: int | None
