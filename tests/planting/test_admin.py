"""Operators: NGOs and their keys, species and projects (SPEC 9, 8.1)."""

from __future__ import annotations

from tests.api import Api
from tests.planting.helpers import SITE, create_ngo, create_species


async def test_create_ngo_shows_its_key_once_and_the_key_works(api: Api) -> None:
    ngo = await create_ngo(api, webhook_url="https://ngo.example.org/hooks")
    created = ngo.created
    assert created["api_key"].startswith("ngo_") and created["key_id"]
    assert created["webhook_secret"]
    assert (await ngo.get("/v1/ngo/orders")).json() == {"items": [], "next_cursor": None}

    keys = (await api.client.get(f"/v1/admin/ngos/{ngo.id}/keys", headers=api.operator)).json()["items"]
    assert [k["key_id"] for k in keys] == [created["key_id"]]
    assert "api_key" not in keys[0] and "key_hash" not in keys[0]
    read = (await api.client.get(f"/v1/admin/ngos/{ngo.id}", headers=api.operator)).json()
    assert read["webhook_url"] == "https://ngo.example.org/hooks" and "webhook_secret" not in read

    taken = await api.client.post(
        "/v1/admin/ngos", json={"name": "green hands", "contact_email": "a@b.org"}, headers=api.operator
    )
    assert taken.status_code == 409


async def test_ngo_validation_and_patch(api: Api) -> None:
    for bad in (
        {"name": "X", "contact_email": "not-an-email"},
        {"name": "X", "contact_email": "a@b.org", "extra": 1},
        {"name": "X\x00", "contact_email": "a@b.org"},
        {"name": 5, "contact_email": "a@b.org"},
    ):
        response = await api.client.post("/v1/admin/ngos", json=bad, headers=api.operator)
        assert response.status_code in (400, 422), (bad, response.text)
    http = await api.client.post(
        "/v1/admin/ngos",
        json={"name": "X", "contact_email": "a@b.org", "webhook_url": "http://x.org"},
        headers=api.operator,
    )
    assert http.status_code == 422 and http.json()["type"].endswith(":webhook-url")

    ngo = await create_ngo(api)
    patched = await api.client.patch(
        f"/v1/admin/ngos/{ngo.id}",
        json={"contact_email": "new@example.org", "webhook_url": "https://hooks.example.org/canopy"},
        headers=api.operator,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["contact_email"] == "new@example.org" and patched.json()["webhook_secret"]
    again = await api.client.patch(f"/v1/admin/ngos/{ngo.id}", json={"name": "Renamed"}, headers=api.operator)
    assert again.status_code == 200 and "webhook_secret" not in again.json()
    assert again.json()["webhook_url"] == "https://hooks.example.org/canopy"
    null = await api.client.patch(f"/v1/admin/ngos/{ngo.id}", json={"name": None}, headers=api.operator)
    assert null.status_code == 400
    missing = await api.client.patch("/v1/admin/ngos/nope", json={"name": "Y"}, headers=api.operator)
    assert missing.status_code == 404


async def test_keys_rotate_and_a_revoked_key_gets_401(api: Api) -> None:
    ngo = await create_ngo(api)
    second = await api.client.post(f"/v1/admin/ngos/{ngo.id}/keys", headers=api.operator)
    assert second.status_code == 201
    new_key = second.json()["api_key"]
    new_headers = {"Authorization": f"Bearer {new_key}"}
    assert (await api.client.get("/v1/ngo/orders", headers=new_headers)).status_code == 200
    assert (await ngo.get("/v1/ngo/orders")).status_code == 200  # the old key stays valid

    revoked = await api.client.delete(f"/v1/admin/ngos/{ngo.id}/keys/{ngo.created['key_id']}", headers=api.operator)
    assert revoked.status_code == 204
    assert (await ngo.get("/v1/ngo/orders")).status_code == 401
    assert (await api.client.get("/v1/ngo/orders", headers=new_headers)).status_code == 200
    keys = (await api.client.get(f"/v1/admin/ngos/{ngo.id}/keys", headers=api.operator)).json()["items"]
    assert {k["key_id"]: k["revoked_at"] is not None for k in keys} == {
        ngo.created["key_id"]: True,
        second.json()["key_id"]: False,
    }
    other = await create_ngo(api, "Other NGO")
    cross = await api.client.delete(f"/v1/admin/ngos/{other.id}/keys/{second.json()['key_id']}", headers=api.operator)
    assert cross.status_code == 404


async def test_ngo_routes_refuse_other_credentials(api: Api) -> None:
    user = await api.register()
    assert (await api.client.get("/v1/ngo/orders")).status_code == 401
    assert (await api.client.get("/v1/ngo/orders", headers={"Authorization": "Bearer ngo_nope"})).status_code == 401
    assert (await user.get("/v1/ngo/orders")).status_code == 403
    assert (await api.client.get("/v1/ngo/orders", headers=api.operator)).status_code == 403
    ngo = await create_ngo(api)
    assert (
        await api.client.post("/v1/admin/ngos", json={}, headers=ngo.headers)
    ).status_code == 403  # a valid key of another role (SPEC 2)


async def test_species_and_project_creation(api: Api) -> None:
    ngo = await create_ngo(api)
    species = await create_species(api)
    dup = await api.client.post(
        "/v1/admin/species",
        json={"common_name": "Test oak", "scientific_name": "Q", "co2_lifetime_kg": 1},
        headers=api.operator,
    )
    assert dup.status_code == 409
    base = {
        "ngo_id": ngo.id,
        "name": "Winter grove",
        "region": "South",
        "location": SITE,
        "radius_km": 3,
        "species": [{"species_id": species, "cost_g": 500}],
        "capacity_per_season": 100,
        "seasons": [{"start": "11-01", "end": "02-29"}],  # wraps the new year; 02-29 means 02-28 in common years
    }
    bad_values = [
        {"seasons": [{"start": "13-01", "end": "02-01"}]},
        {"seasons": [{"start": "02-30", "end": "03-01"}]},
        {"seasons": [{"start": "2-1", "end": "03-01"}]},
        {"seasons": []},
        {"location": {"lat": 91, "lon": 0}},
        {"location": {"lat": True, "lon": 0}},
        {"radius_km": 0},
        {"radius_km": "3"},
        {"capacity_per_season": -1},
        {"capacity_per_season": 2**63},
        {"species": []},
        {"species": [{"species_id": species, "cost_g": 0}]},
        {"species": [{"species_id": species, "cost_g": 1}, {"species_id": species, "cost_g": 2}]},
    ]
    for bad in bad_values:
        response = await api.client.post("/v1/admin/projects", json={**base, **bad}, headers=api.operator)
        assert response.status_code == 400, (bad, response.text)
    unknown = await api.client.post(
        "/v1/admin/projects", json={**base, "species": [{"species_id": "nope", "cost_g": 1}]}, headers=api.operator
    )
    assert unknown.status_code == 422 and unknown.json()["type"].endswith(":unknown-species")
    no_ngo = await api.client.post("/v1/admin/projects", json={**base, "ngo_id": "nope"}, headers=api.operator)
    assert no_ngo.status_code == 422

    created = await api.client.post("/v1/admin/projects", json=base, headers=api.operator)
    assert created.status_code == 201, created.text
    project = created.json()
    assert project["seasons"] == [{"start": "11-01", "end": "02-29"}] and project["status"] == "active"
    assert (await api.client.post("/v1/admin/projects", json=base, headers=api.operator)).status_code == 409
    listed = await api.project("Winter grove")
    assert listed["in_season"] is True and listed["remaining_capacity"] == 100  # the clock is in late November

    patched = await api.client.patch(
        f"/v1/admin/projects/{project['id']}",
        json={"capacity_per_season": 7, "seasons": [{"start": "03-01", "end": "04-01"}], "radius_km": 9.5},
        headers=api.operator,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["capacity_per_season"] == 7 and patched.json()["radius_km"] == 9.5
    listed = await api.project("Winter grove")
    assert listed["in_season"] is False and listed["remaining_capacity"] == 0
    paused = await api.client.patch(
        f"/v1/admin/projects/{project['id']}", json={"status": "paused"}, headers=api.operator
    )
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    bad_status = await api.client.patch(
        f"/v1/admin/projects/{project['id']}", json={"status": "gone"}, headers=api.operator
    )
    assert bad_status.status_code == 400
