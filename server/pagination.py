"""Cursor pagination (SPEC 10): `?limit=1..200` (default 50) and an opaque `cursor`.

Lists are ordered newest first by their time-ordered id; the cursor encodes the last id seen.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Any, Generic, TypeVar, TypeVarTuple

from litestar.params import QueryParameter
from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select
from sqlalchemy.orm import Mapped

from server.errors import BadRequest

T = TypeVar("T")
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


def page_of(rows: list[Any], limit: int, id_of: Any = lambda row: row.id) -> tuple[list[Any], str | None]:
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, encode_cursor(id_of(rows[-1]))
    return rows, None
