"""Partners over HTTP: the operator's onboarding (SPEC 9), users' green codes and links (7.1),
and the signed partner API (7.2)."""

from __future__ import annotations

import io
import json
from datetime import datetime
from typing import Annotated, Any

import qrcode
from litestar import Controller, MediaType, Request, Response, delete, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.openapi import ResponseSpec
from litestar.openapi.spec import Operation
from litestar.params import FromPath, JSONBody, PathParameter
from pydantic import BaseModel, ValidationError
from qrcode.image.pil import PilImage
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import OperatorController, UserController
from server.db import provide_write_session
from server.errors import BadRequest, DomainError, problems
from server.openapi import documented_body
from server.pagination import Cursor, Limit, Page
from server.partners import green_codes, onboarding, reports, settlement, voids
from server.partners.models import Partner, PartnerReport
from server.partners.refusals import RecordRefusals
from server.partners.schemas import (
    REPORT_ID_PATTERN,
    BatchResponse,
    GreenCodePublic,
    KeyCreated,
    KeyPublic,
    PartnerCreate,
    PartnerCreated,
    PartnerLinkPublic,
    PartnerPublic,
    PartnerUpdate,
    PartnerUpdated,
    ReportCreated,
    ReportPublic,
    ReportRequest,
    VoidRequest,
    VoidResult,
)
from server.partners.signatures import CHARGES_PER_REPORT, charge_reports, provide_partner
from server.settings import Settings
from server.users.models import User
from server.validation import ResourceId

ReportIdPath = Annotated[str, PathParameter(pattern=REPORT_ID_PATTERN, description="The partner's report_id")]
KeyIdPath = Annotated[str, PathParameter(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_]+$")]


def _public(partner: Partner) -> PartnerPublic:
    return PartnerPublic(
        id=partner.id,
        name=partner.name,
        kind=partner.kind,
        allowed_actions=list(partner.allowed_actions),
        webhook_url=partner.webhook_url,
        created_at=partner.created_at,
    )


class AdminPartnerController(OperatorController):
    path = "/admin/partners"

    @post(
        "/",
        status_code=201,
        responses=problems("action-not-partner", "partner-name-taken", "webhook-url"),
        issues_credentials=True,
    )
    async def create(
        self,
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
        now: NamedDependency[datetime],
        data: JSONBody[PartnerCreate],
    ) -> PartnerCreated:
        """Operator: create a partner and its first signing key (SPEC 7.2, 9); `secret` and `webhook_secret` are
        shown only here, so a repeated `Idempotency-Key` answers 409 instead of a copy."""
        partner, key_id, secret, webhook_secret = await onboarding.create_partner(db_session, settings, data, now)
        return PartnerCreated(
            id=partner.id,
            name=partner.name,
            kind=partner.kind,
            allowed_actions=list(partner.allowed_actions),
            key_id=key_id,
            secret=secret,
            webhook_url=partner.webhook_url,
            webhook_secret=webhook_secret,
        )

    @get("/")
    async def list_partners(self, db_session: NamedDependency[AsyncSession]) -> Page[PartnerPublic]:
        """Operator: every partner, by name (returned whole)."""
        return Page(items=[_public(p) for p in await onboarding.list_partners(db_session)])

    @get("/{partner_id:str}", responses=problems("partner-not-found"))
    async def read(self, db_session: NamedDependency[AsyncSession], partner_id: FromPath[ResourceId]) -> PartnerPublic:
        """Operator: one partner, its allowed actions and webhook URL."""
        return _public(await onboarding.get_partner(db_session, partner_id))

    @patch(
        "/{partner_id:str}",
        responses=problems("partner-not-found", "partner-name-taken", "action-not-partner", "webhook-url"),
    )
    async def update(
        self,
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
        partner_id: FromPath[ResourceId],
        data: JSONBody[PartnerUpdate],
    ) -> PartnerUpdated:
        """Operator: change name, kind, allowed actions or webhook_url (SPEC 8.4); a new URL answers a new
        webhook_secret, once; an empty one removes the webhook."""
        partner, webhook_secret = await onboarding.update_partner(db_session, settings, partner_id, data)
        return PartnerUpdated(**_public(partner).model_dump(), webhook_secret=webhook_secret)

    @get("/{partner_id:str}/keys", responses=problems("partner-not-found"))
    async def keys(
        self, db_session: NamedDependency[AsyncSession], partner_id: FromPath[ResourceId]
    ) -> Page[KeyPublic]:
        """Operator: the partner's signing keys (never their secrets), revoked ones included."""
        keys = await onboarding.list_keys(db_session, partner_id)
        return Page(items=[KeyPublic(key_id=k.key_id, created_at=k.created_at, revoked_at=k.revoked_at) for k in keys])

    @post("/{partner_id:str}/keys", status_code=201, issues_credentials=True, responses=problems("partner-not-found"))
    async def add_key(
        self,
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
        now: NamedDependency[datetime],
        partner_id: FromPath[ResourceId],
    ) -> KeyCreated:
        """Operator: a new signing key for rotation (SPEC 9); the old ones stay valid until revoked. The secret is
        shown only here."""
        await onboarding.get_partner(db_session, partner_id)
        key_id, secret = await onboarding.add_key(db_session, settings, partner_id, now)
        return KeyCreated(key_id=key_id, secret=secret)

    @delete("/{partner_id:str}/keys/{key_id:str}", status_code=204, responses=problems("key-not-found"))
    async def revoke_key(
        self,
        db_session: NamedDependency[AsyncSession],
        now: NamedDependency[datetime],
        partner_id: FromPath[ResourceId],
        key_id: FromPath[KeyIdPath],
    ) -> None:
        """Operator: revoke a signing key at once; repeating it changes nothing."""
        await onboarding.revoke_key(db_session, partner_id, key_id, now)


def qr_png(text: str) -> bytes:
    qr = qrcode.QRCode(border=4, box_size=8, image_factory=PilImage)
    qr.add_data(text)  # digits only: encoded in numeric mode
    qr.make(fit=True)
    buffer = io.BytesIO()
    qr.make_image().save(buffer, format="PNG")
    return buffer.getvalue()


class GreenCodeController(UserController):
    path = "/me"
    tags = ["partners"]

    @post("/green-code", status_code=201, responses=problems("conflict"))
    async def issue(
        self,
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
        current_user: NamedDependency[User],
        now: NamedDependency[datetime],
    ) -> GreenCodePublic:
        """A new 18-digit green code to show at the till, valid 5 minutes (SPEC 7.1); earlier codes stay valid (at
        most 5 live: a sixth drops the oldest)."""
        code = await green_codes.issue_green_code(db_session, settings, current_user.id, now)
        return GreenCodePublic(code=code.code, expires_at=code.expires_at)

    @get(
        "/green-code.png",
        media_type="image/png",
        dependencies={"write_session": Provide(provide_write_session)},
        responses=problems("conflict"),
    )
    async def qr(
        self,
        settings: NamedDependency[Settings],
        write_session: NamedDependency[AsyncSession],
        current_user: NamedDependency[User],
        now: NamedDependency[datetime],
    ) -> Response[bytes]:
        """A QR image (digits only) of the newest live green code, issuing one if none is live; never cached (SPEC
        7.1)."""
        code = await green_codes.newest_live_code(write_session, settings, current_user.id, now)
        return Response(
            content=qr_png(code.code),
            media_type="image/png",
            headers={"Cache-Control": "no-store", "X-Green-Code-Expires-At": code.expires_at.isoformat()},
        )

    @get("/partner-links")
    async def links(
        self, db_session: NamedDependency[AsyncSession], current_user: NamedDependency[User]
    ) -> Page[PartnerLinkPublic]:
        """The partners that may report for the user by `user_ref` (SPEC 7.1; returned whole)."""
        return Page(
            items=[
                PartnerLinkPublic(
                    partner_id=partner.id,
                    partner_name=partner.name,
                    kind=partner.kind,
                    user_ref=link.user_ref,
                    linked_at=link.linked_at,
                )
                for link, partner in await green_codes.list_links(db_session, current_user.id)
            ]
        )

    @delete("/partner-links/{partner_id:str}", status_code=204, responses=problems("link-not-found"))
    async def unlink(
        self,
        db_session: NamedDependency[AsyncSession],
        current_user: NamedDependency[User],
        now: NamedDependency[datetime],
        partner_id: FromPath[ResourceId],
    ) -> None:
        """Unlink a partner: its `user_ref` for this user stops working (SPEC 7.1)."""
        await green_codes.unlink(db_session, current_user.id, partner_id, now)


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    """A pydantic JSON schema without `$defs` (an OpenAPI document resolves `#/...` from its root),
    with pydantic's `ge`/`le` (emitted after a BeforeValidator) as the JSON Schema keywords."""
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _inline(defs[node["$ref"].rpartition("/")[2]], defs)
    keywords = {"ge": "minimum", "le": "maximum"}
    return {keywords.get(k, k): _inline(v, defs) for k, v in node.items() if k not in ("$defs", "title")}


def signed_body(schema: dict[str, Any]) -> type[Operation]:
    """Documents the JSON body of a signed route, which parses it by hand (the signature covers the raw
    bytes, and the report_id check comes before validation, SPEC 7.2)."""
    return documented_body(MediaType.JSON, schema)


def _schema_of(model: type[BaseModel]) -> dict[str, Any]:
    raw = model.model_json_schema()
    schema: dict[str, Any] = _inline(raw, raw.get("$defs", {}))
    return schema


REPORT_SCHEMA = _schema_of(ReportRequest)


def _json(body: Any, status: int) -> Response[Any]:
    return Response(content=body, status_code=status, media_type=MediaType.JSON)


async def _reports_of(request: Request[Any, Any, Any]) -> list[Any]:
    raw = await request.json()
    if not isinstance(raw, dict) or set(raw) != {"reports"} or not isinstance(raw["reports"], list):
        raise BadRequest(
            'The body must be {"reports": [...]}.',
            problem="validation",
            errors=[{"field": "reports", "message": "a list of reports is required"}],
        )
    return raw["reports"]


class PartnerReportController(Controller):
    """Signed requests only: Canopy-Key-Id, Canopy-Timestamp, Canopy-Signature (SPEC 7.2)."""

    path = "/partner"
    tags = ["partners"]
    dependencies = {"partner": Provide(provide_partner)}
    middleware = [RecordRefusals]
    security = [{"partner": []}]

    @post(
        "/reports",
        status_code=201,
        operation_class=signed_body(REPORT_SCHEMA),
        responses={
            200: ResponseSpec(ReportCreated, description="A replay: the same report_id and JSON value again"),
            **problems(
                "validation",
                "malformed-json",
                "payload-too-large",
                "unsupported-media-type",
                "report-id-reused",
                "action-not-allowed",
                "green-code-unknown",
                "green-code-expired",
                "green-code-redeemed",
                "user-ref-unknown",
                "user-ref-unlinked",
                "user-suspended",
                "occurred-at-future",
                "occurred-at-too-old",
                "action-unavailable",
                "ball-frozen",
                "conflict",
            ),
        },
    )
    async def report(
        self,
        settings: NamedDependency[Settings],
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        partner: NamedDependency[Partner],
        now: NamedDependency[datetime],
    ) -> Response[ReportCreated]:
        """Signed: report a user's verified actions (SPEC 7.2) by green code or `user_ref` -> 201 with the energy
        awarded. The same `report_id` with the same JSON value replays the first response with 200 (safe to
        retry); another body answers 409."""
        raw = await request.json()
        ctx = await reports.report_context(db_session, settings, partner, now, [raw])
        outcome = await reports.ingest(db_session, ctx, raw)
        await settlement.settle(db_session, ctx)
        if outcome.error is not None:
            raise outcome.error
        if outcome.raw is not None:
            # The first response, stored serialized; the annotation documents what it holds.
            return Response(content=outcome.raw.encode(), status_code=200, media_type=MediaType.JSON)  # type: ignore[arg-type]
        return _json(outcome.body, 201)

    @post(
        "/reports/batch",
        status_code=200,
        operation_class=signed_body(
            {
                "type": "object",
                "properties": {
                    "reports": {
                        "type": "array",
                        # Not REPORT_SCHEMA: a report that breaks it is refused in its own result, not the batch.
                        "items": {"description": "A report as POST /v1/partner/reports takes it"},
                        "description": "Each report judged on its own; a refused one answers its error in `results`",
                    }
                },
                "required": ["reports"],
                "additionalProperties": False,
                "examples": [{"reports": REPORT_SCHEMA["examples"]}],
            }
        ),
        responses=problems(
            "validation", "malformed-json", "payload-too-large", "unsupported-media-type", "batch-too-large"
        ),
        opt={CHARGES_PER_REPORT: True},
    )
    async def batch(
        self,
        settings: NamedDependency[Settings],
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        partner: NamedDependency[Partner],
        now: NamedDependency[datetime],
    ) -> BatchResponse:
        """Signed: up to 500 reports, each judged on its own as `POST /partner/reports` would, results in order (SPEC
        7.2); more than 500 -> 413, none processed."""
        raw_reports = await _reports_of(request)
        if len(raw_reports) > settings.report_batch_max:
            raise DomainError(
                f"At most {settings.report_batch_max} reports per batch.", problem="batch-too-large", status=413
            )
        await charge_reports(request, len(raw_reports))
        ctx = await reports.report_context(db_session, settings, partner, now, raw_reports)
        outcomes = await reports.ingest_many(db_session, ctx, raw_reports)
        await settlement.settle(db_session, ctx)
        results: list[dict[str, Any]] = []
        for outcome in outcomes:
            result: dict[str, Any] = {"report_id": outcome.report_id, "status": outcome.status}
            if outcome.status == "refused":
                result["error"] = outcome.body
            else:
                result["total_g"] = outcome.total_g
            results.append(result)
        # Serialized here; the annotation documents the schema of what it holds.
        return _json({"results": results}, 200)  # type: ignore[return-value]

    @get("/reports")
    async def list_reports(
        self,
        db_session: NamedDependency[AsyncSession],
        partner: NamedDependency[Partner],
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> Page[ReportPublic]:
        """Signed: the partner's own reports, newest first (SPEC 7.2)."""
        page, next_cursor = await reports.list_reports(db_session, partner.id, cursor, limit)
        return Page(items=[_report_public(r) for r in page], next_cursor=next_cursor)

    @post(
        "/reports/{report_id:str}/void",
        status_code=200,
        operation_class=signed_body(_schema_of(VoidRequest)),
        responses=problems(
            "validation",
            "malformed-json",
            "payload-too-large",
            "unsupported-media-type",
            "report-not-found",
            "void-window-closed",
        ),
    )
    async def void(
        self,
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
        partner: NamedDependency[Partner],
        now: NamedDependency[datetime],
        request: Request[Any, Any, Any],
        report_id: FromPath[ReportIdPath],
    ) -> VoidResult:
        """Signed: take back a report's energy within 30 days (SPEC 7.2): from its ball, then what expired, then the
        balance, the rest owed. Repeating it answers the first response and changes nothing."""
        try:
            data = VoidRequest.model_validate(await request.json())
        except ValidationError as exc:
            raise reports.validation_error(exc) from None
        body = await voids.void_report(db_session, settings, partner, report_id, data.reason, now)
        return VoidResult(**body)


def _report_public(report: PartnerReport) -> ReportPublic:
    first = ReportCreated.model_validate_json(report.response or "{}")
    voided = json.loads(report.void_response) if report.void_response else None
    return ReportPublic(
        report_id=report.report_id,
        user_ref=report.user_ref,
        occurred_at=report.occurred_at,
        created_at=report.created_at,
        total_g=report.total_g,
        awarded=first.awarded,
        voided_at=report.voided_at,
        void_reason=report.void_reason,
        voided_g=voided["voided_g"] if voided else None,
    )
