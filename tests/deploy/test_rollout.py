"""A rollout migrates first, then replaces the replicas: the previous release, on a database a newer
release has migrated, stays ready; a release on a database that lacks its migrations is not."""

from __future__ import annotations

from sqlalchemy import text

from server.db import Database
from server.migrations import head_revision
from tests.api import Api


async def stamp(database_url: str, revision: str) -> None:
    database = Database(database_url)
    try:
        async with database.transaction() as session:
            await session.execute(text("UPDATE alembic_version SET version_num = :revision"), {"revision": revision})
    finally:
        await database.dispose()


async def test_ready_on_a_database_migrated_by_a_newer_release_not_on_an_older_one(api: Api) -> None:
    assert (await api.client.get("/ready")).json() == {"status": "ready", "revision": head_revision()}

    await stamp(api.settings.database_url, "9999_a_newer_release")
    response = await api.client.get("/ready")
    assert response.status_code == 200 and response.json()["revision"] == "9999_a_newer_release"

    await stamp(api.settings.database_url, "0001_foundation")
    response = await api.client.get("/ready")
    assert response.status_code == 503 and response.json()["type"].endswith(":not-ready")
    assert "the code needs" in response.json()["detail"]
