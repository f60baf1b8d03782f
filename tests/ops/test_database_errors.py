"""Database failures that are not the client's fault: a pool with no free connection answers 503
with Retry-After; a statement the database refuses as written is a bug (500, logged); and a request
that fails anywhere, a dependency included, returns its connection at once."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import jwt
import pytest

from server.dependencies import app_services
from server.settings import Settings
from server.users.security import JWT_ALGORITHM
from tests.api import Api
from tests.ops.test_hostile_input import assert_problem
from tests.processes import running_servers


@pytest.mark.settings(db_pool_size=1, db_max_overflow=0, db_pool_timeout_s=0.5)
async def test_a_pool_timeout_answers_503_with_retry_after(api: Api) -> None:
    user = await api.register()
    writer = app_services(api.client.app.state).database.writer
    async with writer.connect():  # the pool's only writing connection, held
        response = await user.post("/v1/me/green-code")
    assert_problem(response, statuses=(503,))
    assert response.json()["type"] == "urn:canopy:problem:database-unavailable"
    assert response.headers["retry-after"] == "1"
    assert (await user.post("/v1/me/green-code")).status_code == 201


@pytest.mark.postgres_only
async def test_a_statement_the_database_refuses_as_written_is_a_500(
    api: Api, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """A missing table (UndefinedTable, a ProgrammingError) stays missing on a retry: not a 503."""
    user = await api.register()
    connection = await asyncpg.connect(settings.database_url.replace("+asyncpg", ""))
    try:
        await connection.execute("ALTER TABLE friendships RENAME TO friendships_away")
        with caplog.at_level(logging.ERROR, logger="canopy.errors"):
            response = await user.get("/v1/me/friends")
        await connection.execute("ALTER TABLE friendships_away RENAME TO friendships")
    finally:
        await connection.close()
    assert_problem(response, statuses=(500,))
    assert response.json()["type"] == "urn:canopy:problem:internal"
    assert "retry-after" not in response.headers
    assert any(record.exc_info for record in caplog.records)


async def test_a_request_refused_after_its_first_query_returns_the_connection(api: Api) -> None:
    """Litestar does not tear down the session dependency when the user lookup after it raises."""
    gone = await api.register()
    assert (await gone.delete("/v1/me")).status_code == 204
    database = app_services(api.client.app.state).database
    for method in ("POST", "GET"):
        response = await api.client.request(method, "/v1/me/trees", json={}, headers=gone.headers)
        assert_problem(response, statuses=(401,))
        assert (database.writer.pool.checkedout(), database.reader.pool.checkedout()) == (0, 0), method


def _token(settings: Settings, subject: str) -> str:
    claims = {"sub": subject, "typ": "access", "exp": datetime.now(UTC) + timedelta(minutes=5)}
    return jwt.encode(claims, settings.secret_key, algorithm=JWT_ALGORITHM)


def test_a_token_with_an_unclean_subject_leaves_every_write_working(settings: Settings, tmp_path: Path) -> None:
    """Issue 11: a signed `sub` of "\\ud800" failed inside the user lookup; its session kept the
    only writing connection, and every later write waited 30 s and failed until a restart."""
    with running_servers(settings, tmp_path, workers=2) as (base,), httpx.Client(base_url=base, timeout=60) as client:
        registered = client.post(
            "/v1/auth/register", json={"handle": "alice", "password": "correct horse battery", "display_name": "A"}
        )
        assert registered.status_code == 201, registered.text
        alice = {"Authorization": f"Bearer {registered.json()['access_token']}"}
        for subject in ("\ud800", "x" * 65, "00000000-0000-7000-8000-000000000000\x00"):
            bad = {"Authorization": f"Bearer {_token(settings, subject)}"}
            for _ in range(4):  # both workers get some
                response = client.post("/v1/me/balls/collect", headers=bad)
                assert response.status_code == 401, response.text
        for _ in range(6):
            started = time.monotonic()
            response = client.post("/v1/me/green-code", headers=alice)
            assert response.status_code == 201, response.text
            assert time.monotonic() - started < 2
    log = (tmp_path / "server-0.log").read_text()
    assert "Traceback" not in log and "non-checked-in" not in log, log[-3000:]
