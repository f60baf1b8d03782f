"""Feed items written by the partners and planting domains (SPEC 1's feed types)."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest

from tests.api import Api, User
from tests.partners.helpers import make_partner, report_body
from tests.planting.helpers import create_ngo, create_project, funded_user, iso, queue_trees


async def feed_types(user: User) -> list[tuple[str, int | None, str | None]]:
    items = (await user.get("/v1/me/feed", params={"limit": 200})).json()["items"]
    return [(item["type"], item["amount_g"], item["tree_id"]) for item in items]


async def test_a_void_tells_the_user(api: Api) -> None:
    partner = await make_partner(api)
    user = await api.register()
    body = await report_body(user, [("metro_ride", 2)])
    assert (await partner.report(body)).status_code == 201
    assert (await partner.void(body["report_id"], "refunded ticket")).status_code == 200
    assert ("report.voided", 104, None) in await feed_types(user)


@pytest.mark.settings(order_min_trees=2)
async def test_ordered_planted_and_rejected_trees_appear_in_the_feed(api: Api) -> None:
    ngo = await create_ngo(api)
    project = await create_project(api, ngo)
    user = await funded_user(api)
    planted_tree, rejected_tree = await queue_trees(user, project, 2)
    assert (await api.run_job("batch-planting-orders"))["orders_created"] == 1
    order = (await ngo.orders())[0]
    types = await feed_types(user)
    assert ("tree.ordered", None, planted_tree) in types and ("tree.ordered", None, rejected_tree) in types

    photo = await ngo.photo(7)
    planting = {
        "tree_id": planted_tree,
        "planted_at": iso(await api.now()),
        "lat": 10.0,
        "lon": 20.0,
        "photo_id": photo,
    }
    response = await ngo.post(f"/v1/ngo/orders/{order['id']}/plantings", json={"plantings": [planting]})
    assert response.json()["results"][0]["status"] == "planted", response.text
    response = await ngo.post(
        f"/v1/ngo/orders/{order['id']}/rejections", json={"rejections": [{"tree_id": rejected_tree, "reason": "x"}]}
    )
    assert response.json()["results"][0]["status"] == "rejected", response.text
    types = await feed_types(user)
    assert ("tree.planted", None, planted_tree) in types
    assert ("tree.rejected", None, rejected_tree) in types


@pytest.mark.settings(order_min_trees=5, order_max_trees=10)
async def test_every_tree_ordered_gets_one_feed_item_with_its_own_uuid7(api: Api) -> None:
    ngo = await create_ngo(api)
    project = await create_project(api, ngo)
    user = await funded_user(api)
    trees = await queue_trees(user, project, 25)  # three orders written by one transaction
    before = await api.now()
    assert (await api.run_job("batch-planting-orders"))["trees_ordered"] == 25
    items = [i for i in (await user.get("/v1/me/feed", params={"limit": 200})).json()["items"]]
    ordered = [i for i in items if i["type"] == "tree.ordered"]
    assert sorted(i["tree_id"] for i in ordered) == sorted(trees)
    ids = [uuid.UUID(i["id"]) for i in ordered]
    assert len(set(ids)) == 25 and {(i.version, i.variant) for i in ids} == {(7, uuid.RFC_4122)}
    assert all(str(i) == item["id"] for i, item in zip(ids, ordered, strict=True))
    assert all(abs(datetime.fromisoformat(i["created_at"]) - before).total_seconds() < 60 for i in ordered)
    newer = [i for i in items if i["type"] != "tree.ordered"]  # queued earlier: listed after
    assert min(i["id"] for i in ordered) > max(i["id"] for i in newer)
