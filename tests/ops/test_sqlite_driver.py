"""The SQLite driver (server/sqlite_driver.py): one trip to aiosqlite's thread per statement, and
everything SQLAlchemy reads from a cursor still right (rows, rowcount, lastrowid, errors)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from server.db import create_engine


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE pots (id INTEGER PRIMARY KEY, name TEXT UNIQUE, grams INTEGER)"))
    yield engine
    await engine.dispose()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every function queued to an aiosqlite thread."""
    queued: list[Any] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        queued.append(fn)
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return queued


async def test_a_statement_with_rows_is_one_trip_to_the_driver_thread(engine: AsyncEngine, trips: list[Any]) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 0"))  # after the transaction's BEGIN
        trips.clear()
        rows = (await connection.execute(text("SELECT 1 AS one UNION ALL SELECT 2"))).all()
        assert len(trips) == 1  # SQLAlchemy's own adapter makes four: cursor, execute, fetch, close
        assert [row.one for row in rows] == [1, 2]


async def test_rows_rowcount_and_lastrowid_reach_sqlalchemy(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        inserted = await connection.execute(text("INSERT INTO pots (name, grams) VALUES ('a', 5)"))
        assert inserted.lastrowid == 1
        await connection.execute(
            text("INSERT INTO pots (name, grams) VALUES (:name, :grams)"),
            [{"name": "b", "grams": 7}, {"name": "c", "grams": 9}],
        )
        updated = await connection.execute(text("UPDATE pots SET grams = grams + 1 WHERE grams > 6"))
        assert updated.rowcount == 2
        returned = await connection.execute(text("UPDATE pots SET grams = 0 WHERE name = 'a' RETURNING id, grams"))
        assert returned.all() == [(1, 0)]
        assert (await connection.execute(text("SELECT name, grams FROM pots ORDER BY id"))).all() == [
            ("a", 0),
            ("b", 8),
            ("c", 10),
        ]


async def test_a_failed_statement_raises_sqlalchemy_errors_and_leaves_the_connection_usable(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("INSERT INTO pots (name, grams) VALUES ('a', 1)"))
        with pytest.raises(IntegrityError):
            await connection.execute(text("INSERT INTO pots (name, grams) VALUES ('a', 2)"))
        await connection.rollback()
        with pytest.raises(OperationalError):
            await connection.execute(text("SELECT nothing FROM nowhere"))
        await connection.rollback()
        assert (await connection.execute(text("SELECT count(*) FROM pots"))).scalar() == 0


async def test_a_connection_closed_underneath_is_reported_as_a_disconnect(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        await raw.driver_connection.close()
        with pytest.raises(OperationalError) as raised:
            await connection.execute(text("SELECT 1"))
        assert raised.value.connection_invalidated
    async with engine.connect() as connection:  # the pool replaced it
        assert (await connection.execute(text("SELECT 1"))).scalar() == 1
