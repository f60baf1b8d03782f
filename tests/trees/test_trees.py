"""Adopting, growing, planting, auto-planting and refunding trees (SPEC 6)."""

from __future__ import annotations

import asyncio

from tests.api import Api, User, earn


async def adopt(user: User, project: dict, species_index: int = 0, **fields: object) -> dict:
    response = await user.post(
        "/v1/me/trees",
        json={"project_id": project["id"], "species_id": project["species"][species_index]["species_id"], **fields},
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_adoption_checks_in_the_specified_order(api: Api) -> None:
    user = await api.register()
    nursery = await api.project("Alxa nursery")
    desert = await api.project("Alxa desert restoration")
    pine = next(s for s in desert["species"] if s["common_name"] == "Mongolian pine")
    saxaul = nursery["species"][0]["species_id"]

    unknown_project = await user.post("/v1/me/trees", json={"project_id": "nope", "species_id": saxaul})
    assert unknown_project.status_code == 404
    unknown_species = await user.post("/v1/me/trees", json={"project_id": nursery["id"], "species_id": "nope"})
    assert unknown_species.status_code == 404
    not_offered = await user.post("/v1/me/trees", json={"project_id": nursery["id"], "species_id": pine["species_id"]})
    assert not_offered.status_code == 422

    paused = await api.client.patch(
        f"/v1/admin/projects/{desert['id']}", json={"status": "paused"}, headers=api.operator
    )
    assert paused.status_code == 200
    inactive = await user.post("/v1/me/trees", json={"project_id": desert["id"], "species_id": pine["species_id"]})
    assert inactive.status_code == 409 and inactive.json()["type"].endswith(":project-not-active")

    tree = await adopt(user, nursery)
    assert tree["status"] == "growing" and tree["cost_g"] == 17_900 and tree["stage"] == "seed"
    assert tree["progress"] == 0 and tree["certificate_number"] is None
    second = await user.post("/v1/me/trees", json={"project_id": nursery["id"], "species_id": saxaul})
    assert second.status_code == 409 and second.json()["type"].endswith(":tree-already-growing")


async def test_parallel_adoptions_keep_one_growing_tree(api: Api) -> None:
    user = await api.register()
    nursery = await api.project()
    body = {"project_id": nursery["id"], "species_id": nursery["species"][0]["species_id"]}
    responses = await asyncio.gather(*(user.post("/v1/me/trees", json=body) for _ in range(8)))
    assert sorted(r.status_code for r in responses) == [201] + [409] * 7
    assert len((await user.get("/v1/me/trees")).json()["items"]) == 1


async def test_stage_and_progress_follow_the_balance(api: Api) -> None:
    user = await api.register()
    tree = await adopt(user, await api.project())
    await earn(user, 2_000)  # 7 days of 296 g = 2,072 g
    read = (await user.get(f"/v1/me/trees/{tree['id']}")).json()
    assert read["progress"] == round(2_072 / 17_900, 4) and read["stage"] == "sprout"
    assert (await user.forest())["tree"]["id"] == tree["id"]


async def test_plant_needs_the_full_cost_and_deducts_it_once(api: Api) -> None:
    user = await api.register()
    tree = await adopt(user, await api.project())
    short = await user.post(f"/v1/me/trees/{tree['id']}/plant")
    assert short.status_code == 409 and short.json()["type"].endswith(":short-balance")
    assert (await user.get(f"/v1/me/trees/{tree['id']}")).json()["status"] == "growing"

    balance = await earn(user, 17_900)
    responses = await asyncio.gather(*(user.post(f"/v1/me/trees/{tree['id']}/plant") for _ in range(10)))
    assert sorted(r.status_code for r in responses) == [200] + [409] * 9
    planted = next(r.json() for r in responses if r.status_code == 200)
    assert planted["status"] == "queued" and planted["stage"] == "grown" and planted["progress"] == 1
    assert planted["queued_at"] is not None
    assert await user.balance() == balance - 17_900
    assert (await api.audit())["spent_g"] == 17_900
    assert (await user.forest())["tree"] is None


async def test_auto_plant_happens_with_the_credit_that_covers_the_cost(api: Api) -> None:
    user = await api.register()
    tree = await adopt(user, await api.project(), auto_plant=True)
    balance = 0
    while True:
        await user.walk(14_800)
        await api.advance_to_next_morning()
        result = await user.collect_all()
        if result["balance_g"] < balance + result["collected_g"]:
            break  # this collect paid for the tree
        balance = result["balance_g"]
    assert balance + result["collected_g"] >= 17_900 > balance
    assert result["balance_g"] == balance + result["collected_g"] - 17_900
    read = (await user.get(f"/v1/me/trees/{tree['id']}")).json()
    assert read["status"] == "queued"


async def test_closing_a_project_refunds_queued_and_cancels_growing_trees(api: Api) -> None:
    planter = await api.register()
    grower = await api.register()
    nursery = await api.project()
    queued = await adopt(planter, nursery)
    growing = await adopt(grower, nursery)
    await earn(planter, 17_900)
    before = await planter.balance()
    assert (await planter.post(f"/v1/me/trees/{queued['id']}/plant")).status_code == 200

    closed = await api.client.patch(
        f"/v1/admin/projects/{nursery['id']}", json={"status": "closed"}, headers=api.operator
    )
    assert closed.status_code == 200
    assert closed.json()["trees_refunded"] == 1 and closed.json()["trees_cancelled"] == 1

    refunded = (await planter.get(f"/v1/me/trees/{queued['id']}")).json()
    assert refunded["status"] == "refunded" and refunded["refunded_at"] is not None
    assert await planter.balance() == before
    assert (await grower.get(f"/v1/me/trees/{growing['id']}")).json()["status"] == "cancelled"
    audit = await api.audit()
    assert audit["spent_g"] == 0
    assert all(p["name"] != "Alxa nursery" for p in (await api.client.get("/v1/projects")).json()["items"])


async def test_abandon_and_auto_plant_toggle(api: Api) -> None:
    user = await api.register()
    tree = await adopt(user, await api.project())
    toggled = await user.patch(f"/v1/me/trees/{tree['id']}", json={"auto_plant": True})
    assert toggled.status_code == 200 and toggled.json()["auto_plant"] is True
    assert (await user.patch(f"/v1/me/trees/{tree['id']}", json={"auto_plant": "yes"})).status_code == 400
    assert (await user.delete(f"/v1/me/trees/{tree['id']}")).status_code == 204
    assert (await user.get(f"/v1/me/trees/{tree['id']}")).status_code == 404
    assert (await user.delete(f"/v1/me/trees/{tree['id']}")).status_code == 404


async def test_trees_are_private(api: Api) -> None:
    owner = await api.register()
    other = await api.register()
    tree = await adopt(owner, await api.project())
    assert (await other.get(f"/v1/me/trees/{tree['id']}")).status_code == 404
    assert (await other.post(f"/v1/me/trees/{tree['id']}/plant")).status_code == 404
    assert (await other.delete(f"/v1/me/trees/{tree['id']}")).status_code == 404
    assert (await other.patch(f"/v1/me/trees/{tree['id']}", json={"auto_plant": True})).status_code == 404
    assert (await other.get("/v1/me/trees")).json()["items"] == []
