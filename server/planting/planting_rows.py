"""Plantings confirmed in the NGO portal, as rows: from a CSV file or from the order page's form.

A row is `tree_id, planted_at, lat, lon, photo`, where `photo` is a photo id or the file name of
a photo uploaded for the order (SPEC 12.4). Each row is first read on its own (a row that cannot
be read gets its reason and is left out), then the rows that could be read are judged together by
`record_plantings`, exactly as `POST /ngo/orders/{id}/plantings` judges them (SPEC 8.3): one
refused row never stops the others.

A row's `reason` is either one of the reading reasons below or the name of the problem the
planting service refused it with; the pages word both.
"""

from __future__ import annotations

import csv
import io
import math
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from server.errors import TYPE_PREFIX
from server.planting.orders import get_order
from server.planting.photo_store import resolve_photo_refs
from server.planting.plantings import record_plantings
from server.planting.schemas import PlantingIn
from server.settings import Settings

COLUMNS = ("tree_id", "planted_at", "lat", "lon", "photo")
MAX_CSV_BYTES = 256 * 1024
MAX_ROWS = 500  # as many as one request of the API may confirm
SHOWN_VALUE_MAX = 300

# Why a row could not be read (worded by the pages).
MISSING = "value-missing"
BAD_CHARACTERS = "bad-characters"
UNKNOWN_TREE = "unknown-tree"
BAD_DATE = "bad-date"
BAD_COORDINATE = "bad-coordinate"
UNKNOWN_PHOTO = "unknown-photo"  # also the service's problem name for the same thing
BAD_LINE = "bad-csv-line"
TOO_MANY_ROWS = "too-many-rows"
# Why a whole file could not be read.
CSV_TOO_LARGE = "csv-too-large"
CSV_NOT_UTF8 = "csv-not-utf8"
CSV_HEADER = "csv-header"
CSV_EMPTY = "csv-empty"

# The field a refusal of the planting service is about (None: the row as a whole).
PROBLEM_FIELDS: dict[str, str | None] = {
    "tree-not-in-order": "tree_id",
    "planted-in-future": "planted_at",
    "planted-before-order": "planted_at",
    "outside-project-area": "lat",
    "unknown-photo": "photo",
    "photo-reused": "photo",
}

_TREE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?([Zz]|[+-]\d{2}:\d{2})?")
_DECIMAL = re.compile(r"[+-]?(\d{1,3}(\.\d{0,12})?|\.\d{1,12})")
_LIMITS = {"lat": 90.0, "lon": 180.0}
_PHOTO_ID_MAX = 64


@dataclass
class PlantingRow:
    """One row as sent and what became of it."""

    line: int
    values: dict[str, str] = field(default_factory=dict)  # as sent, made safe to show again
    status: str = "refused"  # planted | unchanged | refused
    reason: str | None = None
    field: str | None = None  # the field the reason is about; None for the row
    detail: str | None = None  # the service's English detail, for a reason the pages do not word
    certificate_number: str | None = None
    parsed: dict[str, Any] | None = None  # the values read, `photo` still a reference

    def refuse(self, reason: str, field_name: str | None = None) -> PlantingRow:
        self.reason, self.field = reason, field_name
        return self

    @property
    def ok(self) -> bool:
        return self.status in ("planted", "unchanged")


def _shown(value: str) -> str:
    """A value safe to put back in a page: control characters replaced, length bounded."""
    return "".join("\ufffd" if unicodedata.category(ch) in ("Cc", "Cs") else ch for ch in value[:SHOWN_VALUE_MAX])


def parse_timestamp(text: str) -> datetime:
    """RFC 3339, with `T` or a space; without an offset the time is UTC. ValueError otherwise."""
    if not _TIMESTAMP.fullmatch(text):
        raise ValueError(text)
    moment = datetime.fromisoformat(text.upper().replace(" ", "T"))
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:  # 0001-01-01T00:00+01:00
        raise ValueError(text) from exc


def _coordinate(text: str, name: str) -> float:
    """A plain decimal number (no exponent, NaN or digits of other scripts) within its range."""
    if not _DECIMAL.fullmatch(text):
        raise ValueError(text)
    value = float(text)
    if not math.isfinite(value) or abs(value) > _LIMITS[name]:
        raise ValueError(text)
    return value


def parse_row(line: int, values: dict[str, str]) -> PlantingRow:
    """Read one row (every column present, surrounding spaces dropped); `parsed` is set when the
    row can be judged, else `reason` says why not. The photo is resolved later (`plant_rows`)."""
    row = PlantingRow(line=line, values={name: _shown(values.get(name, "")) for name in COLUMNS})
    cleaned = {name: values.get(name, "").strip() for name in COLUMNS}
    for name in COLUMNS:
        text = cleaned[name]
        if not text:
            return row.refuse(MISSING, name)
        if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in text):
            return row.refuse(BAD_CHARACTERS, name)
    if not _TREE_ID.fullmatch(cleaned["tree_id"]):
        return row.refuse(UNKNOWN_TREE, "tree_id")
    try:
        planted_at = parse_timestamp(cleaned["planted_at"])
    except ValueError:
        return row.refuse(BAD_DATE, "planted_at")
    coordinates = {}
    for name in ("lat", "lon"):
        try:
            coordinates[name] = _coordinate(cleaned[name], name)
        except ValueError:
            return row.refuse(BAD_COORDINATE, name)
    if len(cleaned["photo"]) > 255:
        return row.refuse(UNKNOWN_PHOTO, "photo")
    row.parsed = {
        "tree_id": cleaned["tree_id"],
        "planted_at": planted_at.isoformat(),
        "lat": coordinates["lat"],
        "lon": coordinates["lon"],
        "photo": cleaned["photo"],
    }
    return row


def read_csv(data: bytes) -> tuple[list[PlantingRow], str | None]:
    """The rows of a planting CSV (a header naming the five columns, in any order, then one row
    per line; blank lines skipped), or the reason the whole file cannot be read."""
    if len(data) > MAX_CSV_BYTES:
        return [], CSV_TOO_LARGE
    try:
        text = data.decode("utf-8-sig")  # spreadsheets often start the file with a byte order mark
    except UnicodeDecodeError:
        return [], CSV_NOT_UTF8
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header: list[str] | None = None
    rows: list[PlantingRow] = []
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error:  # a broken quote, a field over the csv module's limit; the reader goes on
            if header is None:
                return [], CSV_HEADER
            rows.append(PlantingRow(line=reader.line_num).refuse(BAD_LINE))
            continue
        if not any(cell.strip() for cell in record):
            continue
        if header is None:
            header = [cell.strip().lower() for cell in record]
            if sorted(header) != sorted(COLUMNS):
                return [], CSV_HEADER
            continue
        if len(rows) == MAX_ROWS:
            rows.append(PlantingRow(line=reader.line_num).refuse(TOO_MANY_ROWS))
            break
        if len(record) != len(header):
            rows.append(PlantingRow(line=reader.line_num).refuse(BAD_LINE))
            continue
        rows.append(parse_row(reader.line_num, dict(zip(header, record, strict=True))))
    if not rows:
        return [], CSV_HEADER if header is None else CSV_EMPTY
    return rows, None


def template_csv(tree_ids: list[str]) -> str:
    """The header and one row per open tree, the other columns to fill in."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows([tree_id, "", "", "", ""] for tree_id in tree_ids)
    return out.getvalue()


async def plant_rows(
    session: AsyncSession,
    ngo_id: str,
    order_id: str,
    rows: list[PlantingRow],
    settings: Settings,
    now: datetime,
) -> list[PlantingRow]:
    """Judge the readable rows as the API judges plantings; every row comes back with its outcome.
    Another NGO's order is not found (404) before anything is judged."""
    await get_order(session, ngo_id, order_id)
    readable = [(row, row.parsed) for row in rows if row.parsed is not None and row.reason is None]
    photo_ids = await resolve_photo_refs(session, ngo_id, order_id, {parsed["photo"] for _, parsed in readable})
    items: list[tuple[PlantingRow, PlantingIn]] = []
    for row, parsed in readable:
        photo_id = photo_ids.get(parsed["photo"], parsed["photo"])
        if len(photo_id) > _PHOTO_ID_MAX:  # names no photo, and is too long to be an id
            row.refuse(UNKNOWN_PHOTO, "photo")
            continue
        fields = {name: value for name, value in parsed.items() if name != "photo"}
        try:
            items.append((row, PlantingIn.model_validate({**fields, "photo_id": photo_id})))
        except ValidationError:  # a guard: parse_row read every field within these bounds
            row.refuse(BAD_LINE)
    if items:
        results = await record_plantings(session, ngo_id, order_id, [item for _, item in items], settings, now)
        for (row, _), result in zip(items, results, strict=True):
            row.status, row.certificate_number = result.status, result.certificate_number
            if result.error is not None:
                reason = str(result.error["type"]).removeprefix(TYPE_PREFIX)
                row.refuse(reason, PROBLEM_FIELDS.get(reason))
                row.detail = result.error["detail"]
    return rows
