"""Signed partner reports (SPEC 7.2), single and batched: phase one, and the partner's report list.

Reports are judged in the SPEC's order: report_id (replay or 409), body (400), actions (403), the
user behind the code or `user_ref` (422), `occurred_at` (422). Everything a request's reports name
(known report ids, links, codes, the catalogue) is read once per request. Phase one (`ingest`)
judges each report in order: an accepted one claims its `(partner, report_id)` row with
`INSERT ... ON CONFLICT DO NOTHING` (a concurrent duplicate waits on the unique index, then
replays this report's response) and redeems its code with a guarded UPDATE; a refusal happens
before any write or deletes its own claim, so it leaves nothing behind. Phase two is
`server.partners.settlement`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.catalog.models import ActionType
from server.db import dialect_insert, new_id, table_of
from server.errors import BadRequest, Conflict, DomainError, Forbidden, Unprocessable, problem_body
from server.pagination import newest_first, page_of
from server.partners.canonical_json import body_hash
from server.partners.green_codes import link_user
from server.partners.models import GreenCode, Partner, PartnerLink, PartnerReport
from server.partners.schemas import REPORT_ID_PATTERN, ReportRequest
from server.settings import Settings
from server.users.models import User
from server.users.timezones import user_zone

_REPORT_ID = re.compile(REPORT_ID_PATTERN)
_USER_REF = re.compile(r"^[A-Za-z0-9_]{1,40}$")
_GREEN_CODE = re.compile(r"^[0-9]{18}$")


@dataclass
class Outcome:
    status: str  # created | replayed | refused
    http_status: int
    report_id: str | None
    body: dict[str, Any] | None = None  # the response (created) or the problem (refused)
    raw: str | None = None  # the first response, as stored (replayed)
    total_g: int | None = None
    error: DomainError | None = None


@dataclass
class Accepted:
    """A report that passed every check; `settle` gives it its energy and its response."""

    pk: str
    data: ReportRequest
    user: User
    user_ref: str
    occurred_day: date
    outcome: Outcome
    replays: list[Outcome] = field(default_factory=list)  # the same report again in this batch


@dataclass
class ReportContext:
    """What one request's reports share: the catalogue, and the reports, links and codes they
    name, each read once for the whole batch."""

    partner: Partner
    settings: Settings
    now: datetime
    actions: dict[str, ActionType]
    known: dict[str, PartnerReport] = field(default_factory=dict)
    links: dict[str, tuple[User, datetime | None]] = field(default_factory=dict)  # user_ref -> user, unlinked_at
    codes: dict[str, Any] = field(default_factory=dict)  # code -> (id, redeemed_at, expires_at, User)
    claimed: dict[str, tuple[str | None, Accepted]] = field(default_factory=dict)
    pending: list[Accepted] = field(default_factory=list)


def _strings(raw_reports: list[Any], name: str, pattern: re.Pattern[str]) -> list[str]:
    values = {r[name] for r in raw_reports if isinstance(r, dict) and isinstance(r.get(name), str)}
    return [v for v in values if pattern.fullmatch(v)]


async def report_context(
    session: AsyncSession, settings: Settings, partner: Partner, now: datetime, raw_reports: list[Any]
) -> ReportContext:
    ctx = ReportContext(
        partner=partner,
        settings=settings,
        now=now,
        actions={
            a.code: a
            for a in (await session.execute(select(ActionType).where(col(ActionType.retired_at).is_(None)))).scalars()
        },
    )
    for chunk in _chunks(_strings(raw_reports, "report_id", _REPORT_ID)):
        rows = await session.execute(
            select(PartnerReport).where(
                col(PartnerReport.partner_id) == partner.id,
                col(PartnerReport.report_id).in_(chunk),
                col(PartnerReport.response).is_not(None),
            )
        )
        ctx.known.update({r.report_id: r for r in rows.scalars()})
    for chunk in _chunks(_strings(raw_reports, "user_ref", _USER_REF)):
        rows = await session.execute(
            select(col(PartnerLink.user_ref), col(PartnerLink.unlinked_at), User)
            .join(User, col(User.id) == col(PartnerLink.user_id))
            .where(col(PartnerLink.partner_id) == partner.id, col(PartnerLink.user_ref).in_(chunk))
        )
        ctx.links.update({row.user_ref: (row.User, row.unlinked_at) for row in rows})
    for chunk in _chunks(_strings(raw_reports, "green_code", _GREEN_CODE)):
        rows = await session.execute(
            select(col(GreenCode.code), col(GreenCode.id), col(GreenCode.redeemed_at), col(GreenCode.expires_at), User)
            .join(User, col(User.id) == col(GreenCode.user_id))
            .where(col(GreenCode.code).in_(chunk))
        )
        ctx.codes.update({row.code: row for row in rows})
    return ctx


def _chunks(values: list[Any], size: int = 500) -> list[list[Any]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


def _valid_report_id(value: Any) -> bool:
    return isinstance(value, str) and _REPORT_ID.fullmatch(value) is not None


def validation_error(exc: ValidationError) -> BadRequest:
    errors = [
        {"field": ".".join(str(p) for p in error["loc"]) or None, "message": error["msg"]}
        for error in exc.errors(include_url=False)
    ]
    return BadRequest("The report is not valid; see errors.", problem="validation", errors=errors)


def _reused() -> Conflict:
    return Conflict("This report_id was used with a different body.", problem="report-id-reused")


def _replay(existing: PartnerReport, digest: str | None) -> Outcome:
    if digest is None or existing.body_hash != digest:
        raise _reused()
    return Outcome("replayed", 200, existing.report_id, raw=existing.response, total_g=existing.total_g)


def _refused(report_id: str | None, error: DomainError) -> Outcome:
    return Outcome(
        "refused",
        error.status,
        report_id,
        body=problem_body(error.status, error.problem, error.detail, error.errors),
        error=error,
    )


def _precheck(ctx: ReportContext, raw: Any) -> Outcome | tuple[ReportRequest, str | None]:
    """The checks before any write: report_id (replay or 409), body (400), actions (403)."""
    report_id = raw.get("report_id") if isinstance(raw, dict) else None
    report_id = report_id if _valid_report_id(report_id) else None
    try:
        if not isinstance(raw, dict):
            raise BadRequest("A report must be a JSON object.", problem="validation")
        digest = body_hash(raw)
        if report_id is not None:
            if report_id in ctx.claimed:  # the same report earlier in this batch
                first_digest, accepted = ctx.claimed[report_id]
                if digest is None or digest != first_digest:
                    raise _reused()
                replay = Outcome("replayed", 200, report_id)
                accepted.replays.append(replay)
                return replay
            if report_id in ctx.known:
                return _replay(ctx.known[report_id], digest)
        try:
            data = ReportRequest.model_validate(raw)
        except ValidationError as exc:
            raise validation_error(exc) from None
        allowed = set(ctx.partner.allowed_actions)
        for item in data.items:
            action = ctx.actions.get(item.action)
            if item.action not in allowed or action is None or action.verification != "partner":
                raise Forbidden(
                    f"The action {item.action!r} is not allowed for this partner.", problem="action-not-allowed"
                )
        return data, digest
    except DomainError as error:
        return _refused(report_id, error)


async def ingest(session: AsyncSession, ctx: ReportContext, raw: Any) -> Outcome:
    """Judge one report (phase one); a refusal is returned, not raised, and leaves nothing behind.

    An accepted report is claimed and its code redeemed here; `settle` then computes caps and
    energy for every accepted report of the request at once.
    """
    checked = _precheck(ctx, raw)
    if isinstance(checked, Outcome):
        return checked
    data, digest = checked
    try:
        pk = (await _claim_many(session, ctx, [(data, digest)])).get(data.report_id)
        if pk is None:
            return _replay(await _claimed_by_another(session, ctx, data.report_id), digest)
        try:
            return await _accept(session, ctx, data, digest, pk)
        except DomainError:
            await session.execute(delete(PartnerReport).where(col(PartnerReport.id) == pk))
            raise
    except DomainError as error:
        return _refused(data.report_id, error)


async def ingest_many(session: AsyncSession, ctx: ReportContext, raws: list[Any]) -> list[Outcome]:
    """Phase one for a batch, in the order of `raws`, with one claim statement for all of them."""
    outcomes: list[Outcome | None] = [None] * len(raws)
    staged: list[tuple[int, ReportRequest, str | None]] = []
    seen: set[str] = set()
    later: list[int] = []  # an id staged earlier in this batch: judged once the first is settled
    for index, raw in enumerate(raws):
        checked = _precheck(ctx, raw)
        if isinstance(checked, Outcome):
            outcomes[index] = checked
        elif checked[0].report_id in seen:
            later.append(index)
        else:
            seen.add(checked[0].report_id)
            staged.append((index, *checked))
    pks = await _claim_many(session, ctx, [(data, digest) for _, data, digest in staged])
    refused: list[str] = []
    for index, data, digest in staged:
        pk = pks.get(data.report_id)
        try:
            if pk is None:
                outcomes[index] = _replay(await _claimed_by_another(session, ctx, data.report_id), digest)
            else:
                outcomes[index] = await _accept(session, ctx, data, digest, pk)
        except DomainError as error:
            if pk is not None:
                refused.append(pk)
            outcomes[index] = _refused(data.report_id, error)
    for chunk in _chunks(refused):
        await session.execute(delete(PartnerReport).where(col(PartnerReport.id).in_(chunk)))
    for index in later:
        outcomes[index] = await ingest(session, ctx, raws[index])
    return [outcome for outcome in outcomes if outcome is not None]


async def _claim_many(
    session: AsyncSession, ctx: ReportContext, reports: list[tuple[ReportRequest, str | None]]
) -> dict[str, str]:
    """Claim `(partner, report_id)` rows; returns report_id -> row id for the ones this call inserted.

    A concurrent request holding the same id makes this wait on the unique index, then skip it.
    Rows go in report_id order, so two batches naming the same ids lock them in the same order.
    """
    rows: list[dict[str, Any]] = [
        {
            "id": new_id(),
            "partner_id": ctx.partner.id,
            "report_id": data.report_id,
            "body_hash": digest or "",
            "total_g": 0,
            "created_at": ctx.now,
        }
        for data, digest in reports
    ]
    rows.sort(key=lambda row: row["report_id"])
    if not rows:
        return {}
    statement = (
        dialect_insert(session)(table_of(PartnerReport))
        .on_conflict_do_nothing(index_elements=[col(PartnerReport.partner_id), col(PartnerReport.report_id)])
        .returning(col(PartnerReport.report_id), col(PartnerReport.id))
    )
    return {row.report_id: row.id for row in await session.execute(statement, rows)}


async def _claimed_by_another(session: AsyncSession, ctx: ReportContext, report_id: str) -> PartnerReport:
    existing = (
        await session.execute(
            select(PartnerReport).where(
                col(PartnerReport.partner_id) == ctx.partner.id, col(PartnerReport.report_id) == report_id
            )
        )
    ).scalar_one()
    if existing.response is None:  # pragma: no cover - only a writer that died mid-commit could leave this
        raise Conflict("This report is being processed; retry.", problem="conflict")
    return existing


async def _accept(
    session: AsyncSession, ctx: ReportContext, data: ReportRequest, digest: str | None, pk: str
) -> Outcome:
    """The checks that need the database (422), then the code is redeemed; queued for `settle`."""
    user, user_ref = await _resolve_user(session, ctx, data)
    outcome = Outcome("created", 201, data.report_id)
    accepted = Accepted(
        pk=pk,
        data=data,
        user=user,
        user_ref=user_ref,
        occurred_day=data.occurred_at.astimezone(user_zone(user, ctx.now)).date(),
        outcome=outcome,
    )
    ctx.claimed[data.report_id] = (digest, accepted)
    ctx.pending.append(accepted)
    return outcome


async def _resolve_user(session: AsyncSession, ctx: ReportContext, data: ReportRequest) -> tuple[User, str]:
    """The user behind the code or `user_ref` (422 when unknown, expired, redeemed or unlinked),
    then the `occurred_at` window (422); redeeming a code links the user to the partner."""
    partner, now, settings = ctx.partner, ctx.now, ctx.settings
    code = None
    if data.green_code is not None:
        code = ctx.codes.get(data.green_code)
        if code is None or code.User.deleted_at is not None:
            raise Unprocessable("Unknown green code.", problem="green-code-unknown")
        if code.redeemed_at is not None:
            raise Unprocessable("This green code was redeemed already.", problem="green-code-redeemed")
        if code.expires_at <= now:
            raise Unprocessable("This green code has expired.", problem="green-code-expired")
        user = code.User
    else:
        assert data.user_ref is not None
        link = ctx.links.get(data.user_ref)
        if link is None or link[0].deleted_at is not None:
            raise Unprocessable("Unknown user_ref.", problem="user-ref-unknown")
        if link[1] is not None:
            raise Unprocessable("The user has unlinked this partner.", problem="user-ref-unlinked")
        user = link[0]
    if user.suspended_at is not None:
        raise Unprocessable("This user's account is suspended.", problem="user-suspended")

    if data.occurred_at > now + timedelta(seconds=settings.report_max_future_s):
        raise Unprocessable("occurred_at is in the future.", problem="occurred-at-future")
    if data.occurred_at < now - timedelta(days=settings.report_max_age_days):
        raise Unprocessable(
            f"occurred_at is more than {settings.report_max_age_days} days old.", problem="occurred-at-too-old"
        )
    if code is None:  # then user_ref is set (asserted above)
        return user, data.user_ref  # type: ignore[return-value]
    redeemed = (
        await session.execute(
            update(GreenCode)
            .where(col(GreenCode.id) == code.id, col(GreenCode.redeemed_at).is_(None), col(GreenCode.expires_at) > now)
            .values(redeemed_at=now, redeemed_by=partner.id)
            .returning(col(GreenCode.id))
        )
    ).scalar()
    if redeemed is None:  # an earlier report (in this batch or a concurrent request) took it
        raise Unprocessable("This green code was redeemed already.", problem="green-code-redeemed")
    user_ref = await link_user(session, partner.id, user.id, now)
    ctx.links[user_ref] = (user, None)
    return user, user_ref


async def list_reports(
    session: AsyncSession, partner_id: str, cursor: str | None, limit: int
) -> tuple[list[PartnerReport], str | None]:
    query = select(PartnerReport).where(
        col(PartnerReport.partner_id) == partner_id, col(PartnerReport.response).is_not(None)
    )
    rows = list((await session.execute(newest_first(query, col(PartnerReport.id), cursor, limit))).scalars())
    return page_of(rows, limit)
