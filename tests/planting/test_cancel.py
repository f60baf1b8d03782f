"""An operator cancels an open order (SPEC 12.4): `POST /v1/admin/orders/{id}/cancel`."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api import Api, User
from tests.planting.helpers import (
    SITE,
    Ngo,
    all_orders,
    create_ngo,
    create_project,
    events,
    funded_user,
    iso,
    queue_trees,
)

DAY = 86_400
HOOK = "https://ngo.example.org/hooks"


async def one_order(api: Api, trees: int = 3) -> tuple[Ngo, User, dict[str, Any], dict[str, Any]]:
    """An NGO with a webhook and one issued order of a user's `trees` trees."""
    ngo = await create_ngo(api, webhook_url=HOOK)
    project = await create_project(api, ngo)
    user = await funded_user(api)
    await queue_trees(user, project, trees)
    assert (await api.run_job("batch-planting-orders"))["orders_created"] == 1
    (order,) = await ngo.orders()
    return ngo, user, project, await ngo.order(order["id"])


async def cancel(api: Api, order_id: str, reason: Any = "The NGO stopped answering", key: str | None = None) -> Any:
    headers = api.operator | ({"Idempotency-Key": key} if key else {})
    return await api.client.post(f"/v1/admin/orders/{order_id}/cancel", json={"reason": reason}, headers=headers)


async def tree_of(user: User, tree_id: str) -> dict[str, Any]:
    response = await user.get(f"/v1/me/trees/{tree_id}")
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.settings(order_min_trees=3)
async def test_cancelling_returns_ordered_trees_to_the_queue_in_their_place(api: Api) -> None:
    ngo, user, _, order = await one_order(api)
    tree_ids = [tree["id"] for tree in order["trees"]]
    before = {tree_id: await tree_of(user, tree_id) for tree_id in tree_ids}
    photo = await ngo.photo(1)
    planted = await ngo.post(
        f"/v1/ngo/orders/{order['id']}/plantings",
        json={"plantings": [{"tree_id": tree_ids[0], "planted_at": iso(await api.now()), **SITE, "photo_id": photo}]},
    )
    assert planted.json()["results"][0]["status"] == "planted", planted.text
    await api.advance(3600)

    response = await cancel(api, order["id"])
    assert response.status_code == 200, response.text
    cancelled = response.json()
    assert cancelled["status"] == "cancelled" and cancelled["overdue"] is False
    assert cancelled["cancel_reason"] == "The NGO stopped answering" and cancelled["cancelled_at"]
    assert cancelled["tree_count"] == 1
    assert [(t["id"], t["status"]) for t in cancelled["trees"]] == [(tree_ids[0], "planted")]
    assert (await tree_of(user, tree_ids[0]))["status"] == "planted"
    for tree_id in tree_ids[1:]:
        tree = await tree_of(user, tree_id)
        assert tree["status"] == "queued" and tree["order_id"] is None
        assert tree["queued_at"] == before[tree_id]["queued_at"]
    (event,) = await events(api, "order.cancelled")
    assert event["target_id"] == ngo.id
    assert event["data"] | {"cancelled_at": None} == {
        "order_id": order["id"],
        "project_id": order["project"]["id"],
        "reason": "The NGO stopped answering",
        "cancelled_at": None,
        "trees_withdrawn": 2,
        "trees_planted": 1,
    }
    assert await ngo.orders(status="cancelled") == [{k: v for k, v in cancelled.items() if k != "trees"}]

    # The batching job orders the returned trees again (they waited long enough: their queued_at
    # is older than the minimum's 7 days by now), each in exactly one order.
    await api.advance(8 * DAY)
    again = await api.run_job("batch-planting-orders")
    assert again["orders_created"] == 1 and again["trees_ordered"] == 2
    orders = await all_orders(ngo)
    seen = [tree["id"] for each in orders for tree in each["trees"]]
    assert sorted(seen) == sorted(tree_ids) and len(set(seen)) == len(seen)
    (new,) = [each for each in orders if each["status"] == "issued"]
    assert {tree["id"] for tree in new["trees"]} == set(tree_ids[1:])
    for tree_id in tree_ids[1:]:
        assert (await tree_of(user, tree_id))["order_id"] == new["id"]
    assert (await api.audit())["ok"]


@pytest.mark.settings(order_min_trees=2)
async def test_cancelling_again_changes_nothing_and_a_completed_order_is_refused(api: Api) -> None:
    ngo, _, _, order = await one_order(api, 2)
    first = await cancel(api, order["id"], "first reason")
    assert first.status_code == 200
    await api.advance(60)
    second = await cancel(api, order["id"], "second reason")
    assert second.status_code == 200 and second.json() == first.json()
    assert len(await events(api, "order.cancelled")) == 1

    # The same trees in a new order; a retry with the same Idempotency-Key replays the first answer.
    again = await reordered(api, ngo)
    replies = [await cancel(api, again["id"], key="cancel-1") for _ in range(2)]
    assert [r.status_code for r in replies] == [200, 200] and replies[0].json() == replies[1].json()
    assert len(await events(api, "order.cancelled")) == 2

    # An order whose trees were all planted is completed: nothing is left to cancel.
    done = await reordered(api, ngo)
    photos = [await ngo.photo(seed) for seed in (11, 12)]
    now = iso(await api.now())
    plantings = [
        {"tree_id": tree["id"], "planted_at": now, **SITE, "photo_id": photo}
        for tree, photo in zip(done["trees"], photos, strict=True)
    ]
    assert (await ngo.post(f"/v1/ngo/orders/{done['id']}/plantings", json={"plantings": plantings})).status_code == 200
    refused = await cancel(api, done["id"])
    assert refused.status_code == 409 and refused.json()["type"].endswith(":order-not-cancellable")
    assert (await ngo.order(done["id"]))["status"] == "completed"


async def reordered(api: Api, ngo: Ngo) -> dict[str, Any]:
    """The order the batching job makes of the trees a cancellation returned."""
    known = {each["id"] for each in await ngo.orders()}
    assert (await api.run_job("batch-planting-orders"))["orders_created"] == 1
    (order,) = [each for each in await ngo.orders() if each["id"] not in known]
    return await ngo.order(order["id"])


@pytest.mark.settings(order_min_trees=2)
async def test_bad_requests_change_nothing(api: Api) -> None:
    ngo, user, _, order = await one_order(api, 2)
    path = f"/v1/admin/orders/{order['id']}/cancel"
    for body in ({}, {"reason": ""}, {"reason": 5}, {"reason": "x" * 501}, {"reason": "ok", "extra": 1}):
        response = await api.client.post(path, json=body, headers=api.operator)
        assert response.status_code in (400, 422), (body, response.text)
    assert (await cancel(api, "no-such-order")).status_code == 404
    assert (await api.client.post(path, json={"reason": "x"})).status_code == 401
    assert (await api.client.post(path, json={"reason": "x"}, headers=user.headers)).status_code == 403
    assert (await api.client.post(path, json={"reason": "x"}, headers=ngo.headers)).status_code in (401, 403)
    assert (await ngo.order(order["id"]))["status"] == "issued"
    assert await events(api, "order.cancelled") == []


@pytest.mark.settings(order_min_trees=2)
async def test_an_overdue_order_is_cancelled_and_no_longer_overdue(api: Api) -> None:
    ngo, _, _, order = await one_order(api, 2)
    await api.advance(7 * DAY + 60)
    assert (await api.run_job("order-reminders"))["orders_overdue"] == 1
    assert (await ngo.order(order["id"]))["overdue"] is True
    assert (await cancel(api, order["id"])).json()["overdue"] is False
    listed = await api.client.get("/v1/admin/orders", params={"status": "cancelled"}, headers=api.operator)
    assert [(o["id"], o["overdue"]) for o in listed.json()["items"]] == [(order["id"], False)]
    await api.advance(8 * DAY)
    assert (await api.run_job("order-reminders"))["orders_overdue"] == 0

    # The NGO can no longer plant its withdrawn trees, and the order stays cancelled.
    tree = order["trees"][0]["id"]
    body = {
        "plantings": [{"tree_id": tree, "planted_at": iso(await api.now()), **SITE, "photo_id": await ngo.photo(3)}]
    }
    result = (await ngo.post(f"/v1/ngo/orders/{order['id']}/plantings", json=body)).json()["results"][0]
    assert result["status"] == "refused" and result["error"]["type"].endswith(":tree-not-in-order")
    assert (await ngo.order(order["id"]))["status"] == "cancelled"


@pytest.mark.settings(order_min_trees=2)
async def test_in_a_closed_project_the_withdrawn_trees_are_refunded(api: Api) -> None:
    _, user, project, order = await one_order(api, 2)
    balance = await user.balance()
    closed = await api.client.patch(
        f"/v1/admin/projects/{project['id']}", json={"status": "closed"}, headers=api.operator
    )
    assert closed.status_code == 200, closed.text
    assert (await cancel(api, order["id"])).status_code == 200
    for tree in order["trees"]:
        assert (await tree_of(user, tree["id"]))["status"] == "refunded"
    assert await user.balance() == balance + 2
    assert (await api.audit())["ok"]
