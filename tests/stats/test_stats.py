"""GET /v1/stats (SPEC 8.5)."""

from __future__ import annotations

from tests.api import Api, earn


async def test_stats_count_users_actions_energy_and_trees(api: Api) -> None:
    alice, bob = await api.register(), await api.register()
    await bob.walk(5_000)
    nursery = await api.project()
    tree = (
        await alice.post(
            "/v1/me/trees", json={"project_id": nursery["id"], "species_id": nursery["species"][0]["species_id"]}
        )
    ).json()
    balance = await earn(alice, 17_900)
    assert (await alice.post(f"/v1/me/trees/{tree['id']}/plant")).status_code == 200

    stats = (await api.client.get("/v1/stats")).json()
    assert stats["users"] == 2
    assert stats["co2_avoided_g"] == balance + 100 == (await api.audit())["issued_g"]
    assert stats["actions"] == len((await alice.get("/v1/me/actions", params={"limit": 200})).json()["items"]) + 1
    assert stats["trees"] == {"queued": 1, "ordered": 0, "planted": 0}
    assert {p["name"]: p["trees_planted"] for p in stats["projects"]} == {
        "Alxa desert restoration": 0,
        "Alxa nursery": 0,
    }
