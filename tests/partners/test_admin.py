"""The operator's partner and action-type API (SPEC 9), and `canopy partner create`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.api import Api
from tests.partners.helpers import Partner, make_partner, report_body


async def test_create_partner_shows_secrets_once(api: Api) -> None:
    body = {"name": "City Metro", "kind": "transit", "allowed_actions": ["metro_ride", "bus_ride"]}
    response = await api.client.post("/v1/admin/partners", json=body, headers=api.operator)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["key_id"].startswith("pk_") and created["secret"].startswith("psk_")
    assert created["webhook_secret"] is None
    read = (await api.client.get(f"/v1/admin/partners/{created['id']}", headers=api.operator)).json()
    assert read == {
        "id": created["id"],
        "name": "City Metro",
        "kind": "transit",
        "allowed_actions": ["metro_ride", "bus_ride"],
        "webhook_url": None,
        "created_at": read["created_at"],
    }
    listed = (await api.client.get("/v1/admin/partners", headers=api.operator)).json()["items"]
    assert [p["name"] for p in listed] == ["City Metro"]
    assert created["secret"] not in json.dumps(listed)
    duplicate = await api.client.post("/v1/admin/partners", json=body, headers=api.operator)
    assert duplicate.status_code == 409

    for bad in (
        {**body, "name": "x2", "allowed_actions": ["walk"]},
        {**body, "name": "x3", "allowed_actions": ["nope"]},
        {**body, "name": "x4", "webhook_url": "http://insecure.example.com"},
    ):
        response = await api.client.post("/v1/admin/partners", json=bad, headers=api.operator)
        assert response.status_code == 422, response.text
    for bad in (
        {**body, "name": "x5", "kind": "bank"},
        {**body, "name": "x6", "allowed_actions": []},
        {**body, "name": "x7", "extra": True},
        {**body, "name": "\x00"},
    ):
        response = await api.client.post("/v1/admin/partners", json=bad, headers=api.operator)
        assert response.status_code == 400, response.text
    user = await api.register()
    assert (await user.post("/v1/admin/partners", json={**body, "name": "mine"})).status_code == 403
    assert (await api.client.post("/v1/admin/partners", json={**body, "name": "anon"})).status_code == 401


async def test_patch_partner_webhook_gives_a_new_secret(api: Api) -> None:
    partner = await make_partner(api, webhook_url="https://hooks.example.com/a")
    first_secret = partner.created["webhook_secret"]
    path = f"/v1/admin/partners/{partner.id}"
    renamed = await api.client.patch(path, json={"name": "Renamed", "kind": "merchant"}, headers=api.operator)
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Renamed" and renamed.json()["webhook_secret"] is None
    hooked = await api.client.patch(path, json={"webhook_url": "https://hooks.example.com/b"}, headers=api.operator)
    assert hooked.json()["webhook_url"] == "https://hooks.example.com/b"
    assert hooked.json()["webhook_secret"].startswith("whsec_") and hooked.json()["webhook_secret"] != first_secret
    removed = await api.client.patch(path, json={"webhook_url": ""}, headers=api.operator)
    assert removed.json()["webhook_url"] is None
    assert (await api.client.patch(path, json={"name": None}, headers=api.operator)).status_code == 400
    assert (await api.client.patch("/v1/admin/partners/nope", json={}, headers=api.operator)).status_code == 404
    assert (await api.client.post("/v1/admin/partners/nope/keys", headers=api.operator)).status_code == 404


async def test_admin_actions_create_change_retire(api: Api) -> None:
    listed = (await api.client.get("/v1/admin/actions", headers=api.operator)).json()["items"]
    assert len(listed) == 12 and all(a["retired_at"] is None for a in listed)
    created = await api.client.post(
        "/v1/admin/actions",
        headers=api.operator,
        json={
            "code": "ev_charge",
            "name": "EV charge from solar",
            "unit": "km",
            "grams_per_unit": 7,
            "per_units": 10,
            "daily_cap_count": 100,
            "verification": "partner",
            "factor_source": "test factor",
            "factor_year": 2024,
            "baseline": "petrol car",
        },
    )
    assert created.status_code == 201, created.text
    assert (await api.client.post("/v1/admin/actions", json=created.json(), headers=api.operator)).status_code == 400
    again = {k: v for k, v in created.json().items() if k != "retired_at"}
    assert (await api.client.post("/v1/admin/actions", json=again, headers=api.operator)).status_code == 409
    changed = await api.client.patch(
        "/v1/admin/actions/ev_charge", json={"grams_per_unit": 9, "daily_cap_count": None}, headers=api.operator
    )
    assert changed.status_code == 200 and changed.json()["grams_per_unit"] == 9
    assert changed.json()["daily_cap_count"] is None and changed.json()["per_units"] == 10
    assert (
        await api.client.patch("/v1/admin/actions/ev_charge", json={"name": None}, headers=api.operator)
    ).status_code == 400
    for bad in ({"grams_per_unit": True}, {"per_units": 0}, {"grams_per_unit": 2**63}, {"code": "x"}):
        response = await api.client.patch("/v1/admin/actions/ev_charge", json=bad, headers=api.operator)
        assert response.status_code == 400, (bad, response.text)

    partner = await make_partner(api, ["ev_charge", "metro_ride"])
    user = await api.register()
    body = await report_body(user, [("ev_charge", 25)])
    assert (await partner.report(body)).json()["total_g"] == 25 * 9 // 10
    catalog = [a["code"] for a in (await api.client.get("/v1/catalog/actions")).json()["items"]]
    assert "ev_charge" in catalog

    retired = await api.client.post("/v1/admin/actions/ev_charge/retire", headers=api.operator)
    assert retired.status_code == 200 and retired.json()["retired_at"] is not None
    catalog = [a["code"] for a in (await api.client.get("/v1/catalog/actions")).json()["items"]]
    assert "ev_charge" not in catalog
    refused = await partner.report(await report_body(user, [("ev_charge", 1)]))
    assert refused.status_code == 403 and refused.json()["type"].endswith(":action-not-allowed")
    assert (await partner.report(body)).status_code == 200  # earlier reports still replay
    assert (await api.client.post("/v1/admin/actions/walk/retire", headers=api.operator)).status_code == 409
    assert (await api.client.post("/v1/admin/actions/nope/retire", headers=api.operator)).status_code == 404
    new_partner = await api.client.post(
        "/v1/admin/partners",
        json={"name": "Late", "kind": "merchant", "allowed_actions": ["ev_charge"]},
        headers=api.operator,
    )
    assert new_partner.status_code == 422


def test_cli_partner_create_prints_the_key_once(tmp_path) -> None:
    env = {**os.environ, "CANOPY_DATABASE_URL": f"sqlite:///{tmp_path}/cli.db", "CANOPY_SCHEDULER_ENABLED": "0"}

    def canopy(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "server.cli", *args], env=env, capture_output=True, text=True, timeout=120
        )

    assert canopy("migrate").returncode == 0
    assert canopy("seed-demo").returncode == 0
    result = canopy(
        "partner", "create", "--name", "Green Cafe", "--kind", "merchant", "--actions", "reusable_cup,no_cutlery_order"
    )
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert created["key_id"].startswith("pk_") and created["secret"].startswith("psk_")
    assert created["allowed_actions"] == ["reusable_cup", "no_cutlery_order"]
    assert "not shown again" in result.stderr
    duplicate = canopy("partner", "create", "--name", "Green Cafe", "--kind", "merchant", "--actions", "reusable_cup")
    assert duplicate.returncode != 0 and "exists" in duplicate.stderr
    bad = canopy("partner", "create", "--name", "X", "--kind", "merchant", "--actions", "walk")
    assert bad.returncode != 0
    assert "partner" in canopy("--help").stdout


async def test_partner_from_the_cli_shape_signs_reports(api: Api) -> None:
    """The CLI and the API create the same thing; a Partner built from the API answer reports."""
    response = await api.client.post(
        "/v1/admin/partners",
        json={"name": "Cafe", "kind": "merchant", "allowed_actions": ["reusable_cup"]},
        headers=api.operator,
    )
    partner = Partner(api, response.json())
    user = await api.register()
    assert (await partner.report(await report_body(user, [("reusable_cup", 4)]))).json()["awarded"][0] == {
        "action": "reusable_cup",
        "quantity": 4,
        "energy_g": 330,
        "capped": True,
    }
