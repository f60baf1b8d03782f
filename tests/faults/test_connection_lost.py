"""The database connection dies in the middle of a write request (SPEC 10: never a 500).

The request must fail cleanly (503 problem+json with Retry-After, no hang), leave nothing
half-written, and the same request sent again (same Idempotency-Key) must succeed on a fresh
connection: the pool recovers by itself.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Connection

from server.dependencies import app_services
from server.settings import Settings
from tests.api import Api, User
from tests.faults.helpers import database
from tests.planting.helpers import create_ngo, create_project, fund

WRITES = ("INSERT", "UPDATE", "DELETE")


def _writes(statement: str) -> bool:
    """A write statement, or a statement of data-modifying CTEs (the collect on PostgreSQL)."""
    first = statement.split()[0].upper()
    return first in WRITES or (first == "WITH" and re.search(r"\((INSERT|UPDATE|DELETE) ", statement) is not None)


class ConnectionCutter:
    """Cuts the connection of the next write transaction after its first write statement, just
    before its next statement (or its commit).

    PostgreSQL: another connection terminates the backend (`pg_terminate_backend`, waiting until
    it has exited), as a failover or an operator would. SQLite has no server to lose: the DB-API
    connection is closed underneath SQLAlchemy, which drops the open transaction (and its write
    lock) exactly as a lost server does. The idempotency middleware's own bookkeeping is let
    through, so the cut lands inside the request's unit of work.
    """

    def __init__(self, api: Api) -> None:
        self.engine = app_services(api.client.app.state).database.writer.sync_engine
        self.armed = False
        self.doomed: Any = None
        self.after: list[str] = []
        self.listeners = [
            ("after_cursor_execute", self._after_execute),
            ("before_cursor_execute", self._before_next),
            ("commit", self._before_next),
        ]
        for name, listener in self.listeners:
            event.listen(self.engine, name, listener)

    def close(self) -> None:
        for name, listener in self.listeners:
            event.remove(self.engine, name, listener)

    def _after_execute(self, conn: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        if self.armed and _writes(statement) and "idempotency_records" not in statement:
            self.armed = False
            self.doomed = conn.connection.dbapi_connection
            self.after.append(statement)

    def _before_next(self, conn: Connection, *_: Any) -> None:
        if self.doomed is None or conn.connection.dbapi_connection is not self.doomed:
            return
        self.doomed = None
        if conn.dialect.name == "postgresql":
            pid = conn.connection.driver_connection.get_server_pid()
            with self.engine.connect() as other:
                assert other.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid}).scalar()
        else:
            conn.connection.dbapi_connection.close()


@pytest.fixture
def cutter(api: Api) -> Iterator[ConnectionCutter]:
    cutter = ConnectionCutter(api)
    yield cutter
    cutter.close()


async def cut_then_retry(api: Api, user: User, cutter: ConnectionCutter, path: str, *first_writes: str) -> dict:
    """POST `path` with its connection cut after its first write (one of `first_writes`, by its
    first two words): a clean 503 that changed nothing; then the same POST succeeds. Returns the
    successful response's body."""
    audit = await api.audit()
    forest = await user.forest()
    headers = {"Idempotency-Key": f"retry-me:{path}"}

    cutter.armed = True
    failed = await asyncio.wait_for(user.post(path, headers=headers), timeout=30)
    assert len(cutter.after) == 1 and cutter.after[0].split()[:2] in [w.split() for w in first_writes], cutter.after
    assert failed.status_code == 503, failed.text
    assert failed.headers["content-type"] == "application/problem+json"
    assert failed.json()["type"] == "urn:canopy:problem:database-unavailable"
    assert int(failed.headers["retry-after"]) >= 1
    assert await api.audit() == audit  # no energy moved
    assert await user.forest() == forest  # balance, balls and trees as they were

    retried = await asyncio.wait_for(user.post(path, headers=headers), timeout=30)
    assert retried.status_code == 200, retried.text
    assert "idempotent-replayed" not in retried.headers  # the failure was not remembered
    return retried.json()


async def test_a_collect_that_loses_its_connection(api: Api, cutter: ConnectionCutter) -> None:
    user = await api.register()
    ball = (await user.walk(14_800))["ball"]
    await api.advance_to_next_morning()
    path = f"/v1/me/balls/{ball['id']}/collect"
    # SQLite claims the ball first; PostgreSQL claims, credits and posts in one statement
    collected = await cut_then_retry(api, user, cutter, path, "UPDATE balls", "WITH claimed")
    assert collected == {"collected_g": 296, "balance_g": 296}
    assert (await api.audit())["in_balances_g"] == 296


async def test_a_planting_that_loses_its_connection(api: Api, cutter: ConnectionCutter) -> None:
    project = await create_project(api, await create_ngo(api))
    user = await api.register()
    await fund(api, user)
    adopted = await user.post(
        "/v1/me/trees", json={"project_id": project["id"], "species_id": project["species"][0]["species_id"]}
    )
    assert adopted.status_code == 201, adopted.text
    tree = await cut_then_retry(api, user, cutter, f"/v1/me/trees/{adopted.json()['id']}/plant", "UPDATE trees")
    assert tree["status"] == "queued"
    assert await user.balance() == 295


@pytest.mark.postgres_only  # SQLite has no server: its connections cannot be dropped while idle
async def test_a_database_restart_between_requests_goes_unnoticed(api: Api, settings: Settings) -> None:
    """Every pooled connection dropped while idle (a restart or failover of the server): the
    pool checks a connection before handing it out and replaces a dead one, so the next request
    does not fail."""
    user = await api.register()
    ball = (await user.walk(14_800))["ball"]
    await api.advance_to_next_morning()  # the app's pool now holds connections
    async with database(settings) as db, db.writer.connect() as connection:
        dropped = await connection.scalar(
            text(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    assert dropped >= 1
    collected = await user.post(f"/v1/me/balls/{ball['id']}/collect")
    assert collected.status_code == 200, collected.text
    assert collected.json() == {"collected_g": 296, "balance_g": 296}
