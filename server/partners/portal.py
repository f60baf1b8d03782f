"""What the partner portal reads (SPEC 12.4): a month's figures, the reports with filters, and
the CSV export of any period.

Every figure is an SQL aggregate over the partner's accepted reports and their action records,
by the UTC day of `occurred_at` (the moment of the action, which the partner sent). Energy
awarded is what the reports earned; voids count the voided reports among them, and CO2 avoided
is the energy awarded net of what those voids took back (1 g of energy is 1 g CO2e avoided,
SPEC 1), so a void lowers the figures of the day of the report it takes back.

The export reads through a server-side cursor on a connection of its own (the request's session
is committed before the response is streamed) and writes CSV lines in chunks, so its memory
does not grow with the number of reports.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, String, and_, case, distinct, exists, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import col

from server.energy.models import ActionRecord
from server.pagination import newest_first, page_of
from server.partners.models import PartnerReport

EXPORT_CHUNK_ROWS = 2000
CSV_COLUMNS = (
    "report_id",
    "occurred_at",
    "received_at",
    "user_ref",
    "action",
    "quantity",
    "energy_g",
    "capped",
    "status",
    "voided_at",
    "voided_g",
    "void_reason",
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Figures:
    """One day's or one action's figures (`key` the day `YYYY-MM-DD` or the action code)."""

    key: str
    reports: int
    awarded_g: int
    voided_g: int
    voids: int

    @property
    def co2_avoided_g(self) -> int:
        return self.awarded_g - self.voided_g


@dataclass(frozen=True)
class Dashboard:
    first_day: date
    by_day: list[Figures]  # every day of the month, in order, days without reports included
    by_action: list[Figures]  # the actions with reports, most energy first
    totals: Figures


@dataclass(frozen=True)
class ReportFilters:
    first_day: date | None = None
    last_day: date | None = None  # inclusive
    action: str | None = None
    status: str | None = None  # awarded | voided
    search: str | None = None  # a report_id or a user_ref, exactly


@dataclass(frozen=True)
class ReportLine:
    report_id: str
    user_ref: str | None
    occurred_at: datetime | None
    created_at: datetime
    total_g: int
    awarded: list[dict[str, Any]] = field(default_factory=list)
    voided_at: datetime | None = None
    void_reason: str | None = None
    voided_g: int | None = None


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def utc_day(column: Any, dialect: str) -> ColumnElement[str]:
    """`YYYY-MM-DD` of a timestamp in UTC: SQLite stores UTC text, PostgreSQL a timestamptz."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.substr(column, 1, 10)


def _accepted(partner_id: str, start: datetime | None, end: datetime | None) -> list[ColumnElement[bool]]:
    """The partner's accepted reports (a claimed row gets its response when settled) in [start, end)."""
    conditions = [col(PartnerReport.partner_id) == partner_id, col(PartnerReport.response).is_not(None)]
    if start is not None:
        conditions.append(col(PartnerReport.occurred_at) >= start)
    if end is not None:
        conditions.append(col(PartnerReport.occurred_at) < end)
    return conditions


def _figures_query(key: Any, partner_id: str, start: datetime, end: datetime) -> Select[Any]:
    voided_report = case((col(PartnerReport.voided_at).is_not(None), col(PartnerReport.id)))
    return (
        select(
            key.label("key"),
            func.count(distinct(col(PartnerReport.id))).label("reports"),
            func.coalesce(func.sum(col(ActionRecord.energy_g)), 0).label("awarded_g"),
            func.coalesce(func.sum(col(ActionRecord.voided_g)), 0).label("voided_g"),
            func.count(distinct(voided_report)).label("voids"),
        )
        .select_from(PartnerReport)
        .join(ActionRecord, col(ActionRecord.report_id) == col(PartnerReport.id))
        .where(*_accepted(partner_id, start, end))
        .group_by(key)
    )


def _figures(row: Any) -> Figures:
    return Figures(str(row.key), int(row.reports), int(row.awarded_g), int(row.voided_g), int(row.voids))


async def month_dashboard(session: AsyncSession, partner_id: str, first_day: date) -> Dashboard:
    """The figures of the month that starts on `first_day`, by UTC day and by action: two
    GROUP BY queries."""
    next_month = (first_day + timedelta(days=32)).replace(day=1)
    start, end = day_start(first_day), day_start(next_month)
    dialect = session.bind.dialect.name if session.bind is not None else ""
    day = utc_day(col(PartnerReport.occurred_at), dialect)
    by_day = {row.key: _figures(row) for row in await session.execute(_figures_query(day, partner_id, start, end))}
    action_rows = await session.execute(_figures_query(col(ActionRecord.action_code), partner_id, start, end))
    by_action = sorted((_figures(row) for row in action_rows), key=lambda f: (-f.awarded_g, f.key))
    days = [first_day + timedelta(days=n) for n in range((next_month - first_day).days)]
    every_day = [by_day.get(d.isoformat(), Figures(d.isoformat(), 0, 0, 0, 0)) for d in days]
    totals = Figures(
        "total",
        sum(f.reports for f in every_day),
        sum(f.awarded_g for f in every_day),
        sum(f.voided_g for f in every_day),
        sum(f.voids for f in every_day),
    )
    return Dashboard(first_day=first_day, by_day=every_day, by_action=by_action, totals=totals)


def _filtered(partner_id: str, filters: ReportFilters) -> list[ColumnElement[bool]]:
    start = day_start(filters.first_day) if filters.first_day else None
    end = day_start(filters.last_day) + timedelta(days=1) if filters.last_day else None
    conditions = _accepted(partner_id, start, end)
    if filters.status == "voided":
        conditions.append(col(PartnerReport.voided_at).is_not(None))
    elif filters.status == "awarded":
        conditions.append(col(PartnerReport.voided_at).is_(None))
    if filters.action:
        conditions.append(
            exists().where(
                col(ActionRecord.report_id) == col(PartnerReport.id), col(ActionRecord.action_code) == filters.action
            )
        )
    if filters.search:
        conditions.append(
            or_(col(PartnerReport.report_id) == filters.search, col(PartnerReport.user_ref) == filters.search)
        )
    return conditions


async def reports_page(
    session: AsyncSession, partner_id: str, filters: ReportFilters, cursor: str | None, limit: int
) -> tuple[list[ReportLine], str | None]:
    """The partner's reports matching `filters`, newest received first, one page."""
    query = select(PartnerReport).where(and_(*_filtered(partner_id, filters)))
    rows = list((await session.execute(newest_first(query, col(PartnerReport.id), cursor, limit))).scalars())
    page, next_cursor = page_of(rows, limit)
    return [_line(report) for report in page], next_cursor


def _line(report: PartnerReport) -> ReportLine:
    first = json.loads(report.response or "{}")
    voided = json.loads(report.void_response) if report.void_response else {}
    return ReportLine(
        report_id=report.report_id,
        user_ref=report.user_ref,
        occurred_at=report.occurred_at,
        created_at=report.created_at,
        total_g=report.total_g,
        awarded=list(first.get("awarded", [])),
        voided_at=report.voided_at,
        void_reason=report.void_reason,
        voided_g=voided.get("voided_g"),
    )


def utc_moment(column: Any, dialect: str) -> ColumnElement[str]:
    """A timestamp as ISO 8601 text in UTC (`2026-12-07T09:30:00.000000Z`), written by the
    database: the export then hands its rows to the csv module as they come."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"', type_=String)
    return func.replace(column, " ", "T", type_=String) + "Z"


def _cell_text(column: Any) -> ColumnElement[str]:
    """Free text as a spreadsheet shows it, never as a formula it would run (a leading `'`)."""
    first = func.substr(column, 1, 1)
    return case((first.in_(_FORMULA_STARTS), literal("'") + column), else_=column)


def export_query(partner_id: str, first_day: date, last_day: date, dialect: str) -> Select[*tuple[Any, ...]]:
    """One row per action of each report in the period, in the order of `occurred_at` (a report's
    actions by code), every column already as the CSV writes it."""
    start, end = day_start(first_day), day_start(last_day) + timedelta(days=1)
    voided = col(PartnerReport.voided_at).is_not(None)
    return (
        select(
            col(PartnerReport.report_id),
            utc_moment(col(PartnerReport.occurred_at), dialect),
            utc_moment(col(PartnerReport.created_at), dialect),
            col(PartnerReport.user_ref),
            col(ActionRecord.action_code),
            col(ActionRecord.quantity),
            col(ActionRecord.energy_g),
            case((col(ActionRecord.capped), literal("true")), else_=literal("false")),
            case((voided, literal("voided")), else_=literal("awarded")),
            utc_moment(col(PartnerReport.voided_at), dialect),
            case((voided, func.coalesce(col(ActionRecord.voided_g), 0))),
            _cell_text(col(PartnerReport.void_reason)),
        )
        .join(ActionRecord, col(ActionRecord.report_id) == col(PartnerReport.id))
        .where(*_accepted(partner_id, start, end))
        .order_by(
            col(PartnerReport.occurred_at), col(PartnerReport.id), col(ActionRecord.action_code), col(ActionRecord.id)
        )
    )


async def export_csv(engine: AsyncEngine, partner_id: str, first_day: date, last_day: date) -> AsyncIterator[bytes]:
    """The period's CSV (UTF-8, a header line, then one line per action of each report), in
    chunks of `EXPORT_CHUNK_ROWS` lines read through a server-side cursor."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue().encode()
    query = export_query(partner_id, first_day, last_day, engine.dialect.name)
    async with engine.connect() as connection:
        result = await connection.stream(query.execution_options(yield_per=EXPORT_CHUNK_ROWS))
        async for rows in result.partitions():
            buffer.seek(0)
            buffer.truncate()
            writer.writerows(rows)
            yield buffer.getvalue().encode()
