"""Idempotency-Key on POST (SPEC 10): replays, mismatches and concurrent repeats."""

from __future__ import annotations

import asyncio

from tests.api import Api


async def test_a_repeated_collect_replays_the_first_response(api: Api) -> None:
    user = await api.register()
    ball = (await user.walk(5_000))["ball"]
    await api.advance_to_next_morning()
    key = {"Idempotency-Key": "collect-1"}
    first = await user.post(f"/v1/me/balls/{ball['id']}/collect", headers=key)
    second = await user.post(f"/v1/me/balls/{ball['id']}/collect", headers=key)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json() == {"collected_g": 100, "balance_g": 100}
    assert second.headers.get("idempotent-replayed") == "true"
    without_key = await user.post(f"/v1/me/balls/{ball['id']}/collect")
    assert without_key.status_code == 409


async def test_same_key_with_another_body_is_422(api: Api) -> None:
    user = await api.register()
    project = await api.project()
    body = {"project_id": project["id"], "species_id": project["species"][0]["species_id"]}
    key = {"Idempotency-Key": "adopt-1"}
    assert (await user.post("/v1/me/trees", json=body, headers=key)).status_code == 201
    replay = await user.post("/v1/me/trees", json=body, headers=key)
    assert replay.status_code == 201
    other = await user.post("/v1/me/trees", json={**body, "auto_plant": True}, headers=key)
    assert other.status_code == 422 and other.json()["type"].endswith(":idempotency-key-reused")
    assert len((await user.get("/v1/me/trees")).json()["items"]) == 1


async def test_keys_are_scoped_to_the_credential(api: Api) -> None:
    alice, bob = await api.register(), await api.register()
    project = await api.project()
    body = {"project_id": project["id"], "species_id": project["species"][0]["species_id"]}
    key = {"Idempotency-Key": "same-key"}
    first = await alice.post("/v1/me/trees", json=body, headers=key)
    second = await bob.post("/v1/me/trees", json=body, headers=key)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]


async def test_validation_failures_are_not_remembered(api: Api) -> None:
    user = await api.register()
    project = await api.project()
    key = {"Idempotency-Key": "retry-me"}
    bad = await user.post("/v1/me/trees", json={"project_id": project["id"]}, headers=key)
    assert bad.status_code == 400
    good = await user.post(
        "/v1/me/trees",
        json={"project_id": project["id"], "species_id": project["species"][0]["species_id"]},
        headers=key,
    )
    assert good.status_code == 201


async def test_concurrent_repeats_run_once(api: Api) -> None:
    user = await api.register()
    ball = (await user.walk(5_000))["ball"]
    await api.advance_to_next_morning()
    key = {"Idempotency-Key": "burst"}
    responses = await asyncio.gather(*(user.post(f"/v1/me/balls/{ball['id']}/collect", headers=key) for _ in range(10)))
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 409}
    assert all(r.json() == {"collected_g": 100, "balance_g": 100} for r in responses if r.status_code == 200)
    in_flight = [r for r in responses if r.status_code == 409]
    assert all(r.json()["type"].endswith(":idempotency-in-flight") for r in in_flight)
    assert await user.balance() == 100


async def test_replays_expire_after_24_hours(api: Api) -> None:
    user = await api.register()
    key = {"Idempotency-Key": "daily"}
    first = await user.post("/v1/me/balls/collect", headers=key)
    await api.advance(24 * 3600 + 60)
    await user.walk(5_000)
    await api.advance_to_next_morning()
    later = await user.post("/v1/me/balls/collect", headers=key)
    assert first.json()["collected_g"] == 0 and later.json()["collected_g"] == 100
