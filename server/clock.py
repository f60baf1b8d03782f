"""The one source of "now" for product rules.

Normally the wall clock. With `CANOPY_TEST_CLOCK=1` it is the wall clock plus an offset kept in
the database, so every worker and replica agrees on the time and a restart never moves it back.
Credentials and login throttling never read this clock: they use the wall clock directly.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import BigInteger, Column, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel, col


def wall_clock() -> datetime:
    return datetime.now(UTC)


class TestClockOffset(SQLModel, table=True):
    """A single row (id 1) holding how far the test clock runs ahead of the wall clock."""

    __tablename__ = "test_clock"
    __test__ = False

    id: int = SQLField(primary_key=True)
    offset_s: int = SQLField(default=0, sa_column=Column(BigInteger, nullable=False, default=0))


class Clock:
    def __init__(self, *, test_clock: bool, engine: AsyncEngine) -> None:
        self.test_clock = test_clock
        self.engine = engine

    async def now(self, session: AsyncSession | None = None) -> datetime:
        """Read inside `session` when given; otherwise on a connection of its own."""
        if not self.test_clock:
            return wall_clock()
        query = select(col(TestClockOffset.offset_s)).where(col(TestClockOffset.id) == 1)
        if session is not None:
            offset = (await session.execute(query)).scalar()
        else:
            async with self.engine.connect() as connection:
                offset = (await connection.execute(query)).scalar()
        return wall_clock() + timedelta(seconds=offset or 0)

    async def advance(self, session: AsyncSession, seconds: int) -> datetime:
        result = await session.execute(
            update(TestClockOffset)
            .where(col(TestClockOffset.id) == 1)
            .values(offset_s=col(TestClockOffset.offset_s) + seconds)
            .returning(col(TestClockOffset.offset_s))
        )
        offset = result.scalar()
        if offset is None:
            session.add(TestClockOffset(id=1, offset_s=seconds))
            await session.flush()
            offset = seconds
        return wall_clock() + timedelta(seconds=offset)
