"""Cursor pagination (SPEC 10): `?limit=1..200` (default 50) and an opaque `cursor`.

Lists are ordered newest first by their time-ordered id; the cursor encodes the last id seen.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from typing import Annotated, Any, Generic, Protocol, TypeVar, TypeVarTuple, cast

from litestar.params import QueryParameter
from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, Mapped
from sqlmodel import SQLModel

from server.errors import BadRequest

T = TypeVar("T")
Row = TypeVar("Row", bound=SQLModel)
Ts = TypeVarTuple("Ts")

Limit = Annotated[int, QueryParameter(ge=1, le=200, description="Page size, 1-200")]
CURSOR_PATTERN = r"^[A-Za-z0-9_-]*$"
Cursor = Annotated[
    str | None,
    QueryParameter(
        max_length=200,
        description="Opaque cursor from next_cursor (base64url)",
        schema_extra={"pattern": CURSOR_PATTERN},
    ),
]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(f"v1:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    # The decoder would skip characters outside the alphabet: a cursor with them is not one we wrote.
    if not re.fullmatch(CURSOR_PATTERN, cursor):
        raise BadRequest("The cursor is not valid.", problem="bad-cursor")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadRequest("The cursor is not valid.", problem="bad-cursor") from exc
    version, _, last_id = raw.partition(":")
    if version != "v1" or not last_id or len(last_id) > 64 or "\x00" in last_id:
        raise BadRequest("The cursor is not valid.", problem="bad-cursor")
    return last_id


def newest_first(
    query: Select[*Ts], id_column: ColumnElement[str] | Mapped[str], cursor: str | None, limit: int
) -> Select[*Ts]:
    """Order by id descending, after the cursor, fetching one extra row to know if more follow."""
    if cursor:
        query = query.where(id_column < decode_cursor(cursor))
    return query.order_by(id_column.desc()).limit(limit + 1)


def oldest_first(
    query: Select[*Ts], id_column: ColumnElement[str] | Mapped[str], cursor: str | None, limit: int
) -> Select[*Ts]:
    """Order by id ascending, after the cursor, one extra row: the order of a user's export."""
    if cursor:
        query = query.where(id_column > decode_cursor(cursor))
    return query.order_by(id_column.asc()).limit(limit + 1)


class Ordering(Protocol):
    """`newest_first` (the API's lists) or `oldest_first` (exports)."""

    def __call__(
        self, query: Select[*Ts], id_column: ColumnElement[str] | Mapped[str], cursor: str | None, limit: int
    ) -> Select[*Ts]: ...


ExportPage = tuple[list[dict[str, Any]], str | None]
"""One page of a section of a user's export (GET /me/export): its rows as JSON values, and the
cursor of the next page (None: the section is complete). Each domain answers its own sections."""


async def export_rows(
    session: AsyncSession,
    query: Select[Row],
    id_column: Mapped[str],
    fields: Iterable[str],
    cursor: str | None,
    limit: int,
) -> ExportPage:
    """One page of table rows, oldest first, each as the named columns only: a column added later
    (a secret, a hash) stays out of exports until someone names it."""
    key = cast("InstrumentedAttribute[str]", id_column).key  # `col()` types a model's attribute as Mapped
    names = list(fields)
    rows = list((await session.execute(oldest_first(query, id_column, cursor, limit))).scalars())
    rows, next_cursor = page_of(rows, limit, id_of=lambda row: getattr(row, key))
    dumped = (row.model_dump(mode="json", include=set(names)) for row in rows)
    return [{name: values[name] for name in names} for values in dumped], next_cursor


def page_of(rows: list[Any], limit: int, id_of: Any = lambda row: row.id) -> tuple[list[Any], str | None]:
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, encode_cursor(id_of(rows[-1]))
    return rows, None
