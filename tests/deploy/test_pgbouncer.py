"""CANOPY_DB_PGBOUNCER: no statement is prepared under a name, since a PgBouncer in transaction mode
(without prepared statement tracking) may run the next transaction on another server connection,
where that name does not exist. Through PgBouncer 1.18 without the setting, 118 of 200 concurrent
transactions failed with `prepared statement "__asyncpg_stmt_5__" does not exist`; with it, none
(docs/deploy.md)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from server.db import Database
from tests.api import Api

pytestmark = pytest.mark.postgres_only

NAMED = text("SELECT count(*) FROM pg_prepared_statements")


async def named_statements_after_a_query(database_url: str, *, pgbouncer: bool) -> int:
    database = Database(database_url, pool_size=1, max_overflow=0, pgbouncer=pgbouncer)
    try:
        async with database.transaction() as session:
            await session.execute(text("SELECT count(*) FROM action_types WHERE grams_per_unit > :p"), {"p": 0})
            return int((await session.execute(NAMED)).scalar_one())
    finally:
        await database.dispose()


async def test_named_statements_only_without_the_setting(database_url: str) -> None:
    assert await named_statements_after_a_query(database_url, pgbouncer=False) > 0
    assert await named_statements_after_a_query(database_url, pgbouncer=True) == 0


@pytest.mark.settings(db_pgbouncer=True)
async def test_the_app_runs_with_the_setting(api: Api) -> None:
    user = await api.register()
    await user.walk(5000)
    assert (await user.get("/v1/me/forest")).status_code == 200
