"""Health, readiness, metrics, the OpenAPI document and the test clock switch (SPEC 9, 10)."""

from __future__ import annotations

from litestar.testing import AsyncTestClient

from server.app import create_app
from server.settings import Settings
from tests.api import Api


async def test_health_ready_and_metrics(api: Api) -> None:
    assert (await api.client.get("/health")).json() == {"status": "ok"}
    ready = await api.client.get("/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    await api.client.get("/v1/catalog/actions")
    assert (await api.client.get("/metrics")).status_code == 401  # not public
    metrics = await api.client.get("/metrics", headers=api.operator)
    assert metrics.status_code == 200
    assert "canopy_requests_total" in metrics.text and "/v1/catalog/actions" in metrics.text


async def test_openapi_document_lists_the_api(api: Api) -> None:
    response = await api.client.get("/schema/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/v1/auth/register",
        "/v1/me/forest",
        "/v1/me/steps/{day}",
        "/v1/me/balls/{ball_id}/collect",
        "/v1/me/trees",
        "/v1/admin/ledger/audit",
        "/v1/admin/clock",
    ):
        assert path in paths, path
    steps = response.json()["components"]["schemas"]["StepsRequest"]["properties"]["steps"]
    assert steps["minimum"] == 0
    assert (await api.client.get("/schema")).status_code == 200


async def test_ready_fails_on_an_unmigrated_database(tmp_path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/empty.db", scheduler_enabled=False)
    async with AsyncTestClient(create_app(settings)) as client:
        response = await client.get("/ready")
        assert response.status_code == 503 and response.json()["type"].endswith(":not-ready")
        assert (await client.get("/health")).status_code == 200


async def test_clock_is_absent_without_the_setting(settings: Settings) -> None:
    production_like = settings.model_copy(update={"test_clock": False})
    async with AsyncTestClient(create_app(production_like)) as client:
        headers = {"Authorization": f"Bearer {settings.operator_token}"}
        assert (await client.get("/v1/admin/clock", headers=headers)).status_code == 404
        assert (await client.post("/v1/admin/clock", json={"advance_seconds": 10}, headers=headers)).status_code == 404
        assert "/v1/admin/clock" not in (await client.get("/schema/openapi.json")).json()["paths"]


async def test_clock_advances_for_every_request_and_validates(api: Api) -> None:
    before = await api.now()
    after = await api.advance(3600)
    assert 3600 <= (after - before).total_seconds() < 3660
    for body in (
        {"advance_seconds": 0},
        {"advance_seconds": 31_536_001},
        {"advance_seconds": "1"},
        {"advance_seconds": True},
        {},
    ):
        response = await api.client.post("/v1/admin/clock", json=body, headers=api.operator)
        assert response.status_code == 400, body
    assert (await api.client.get("/v1/admin/clock")).status_code == 401
