"""The backup and restore of docs/deploy.md, done for real: `pg_dump --format=custom` of a migrated,
seeded and used Canopy, `pg_restore` into a new database, then the ledger audit and the users'
balances on the restored copy must equal the original's."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from pathlib import Path

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from server.app import create_app
from tests.api import Api
from tests.conftest import DEFAULT_POSTGRES_URL

pytestmark = pytest.mark.postgres_only


def libpq(url: str) -> str:
    """The URL as pg_dump and pg_restore take it (no SQLAlchemy driver)."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def admin(statement: str) -> None:
    connection = await asyncpg.connect(os.environ.get("CANOPY_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL), timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def run(*command: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{command[0]}: {result.stderr}"


async def test_a_custom_format_dump_restores_into_a_new_database_whose_ledger_audits(api: Api, tmp_path: Path) -> None:
    walker, friend = await api.register(), await api.register()
    await walker.walk(9000)
    await friend.walk(4000)
    await api.advance_to_next_morning()
    await walker.collect_all()
    await api.advance(4 * 24 * 3600)  # the friend's ball expires uncollected
    await api.run_job("expire-balls")
    before = await api.audit()
    assert before["ok"] and before["issued_g"] > 0 and before["expired_g"] > 0, before
    balances = {user.handle: await user.balance() for user in (walker, friend)}

    dump = tmp_path / "canopy.dump"
    await asyncio.to_thread(
        run, "pg_dump", "--format=custom", "--no-owner", f"--file={dump}", libpq(api.settings.database_url)
    )
    restored = f"canopy_restore_{uuid.uuid4().hex[:12]}"
    restored_url = f"{api.settings.database_url.rpartition('/')[0]}/{restored}"
    await admin(f'CREATE DATABASE "{restored}"')
    try:
        await asyncio.to_thread(
            run, "pg_restore", "--no-owner", "--exit-on-error", f"--dbname={libpq(restored_url)}", str(dump)
        )
        settings = api.settings.model_copy(update={"database_url": restored_url})
        async with AsyncTestClient(create_app(settings), base_url="http://canopy.test", timeout=60) as client:
            copy = Api(client, settings)
            assert (await client.get("/ready")).json()["status"] == "ready"
            assert await copy.audit() == before
            for user in (walker, friend):
                forest = await client.get("/v1/me/forest", headers=user.headers)
                assert forest.json()["balance_g"] == balances[user.handle]
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{restored}" WITH (FORCE)')
