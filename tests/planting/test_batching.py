"""The `batch-planting-orders` and `order-reminders` jobs (SPEC 8.2)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest

from server.planting import jobs
from tests.api import Api
from tests.planting.helpers import all_orders, create_ngo, create_project, events, funded_user, queue_trees

DAY = 86_400


async def test_an_order_goes_out_at_50_trees_or_after_7_days(api: Api) -> None:
    ngo = await create_ngo(api, webhook_url="https://ngo.example.org/hooks")
    project = await create_project(api, ngo)
    user = await funded_user(api)
    first = await queue_trees(user, project, 49)
    assert await api.run_job("batch-planting-orders") == {
        "job": "batch-planting-orders",
        "orders_created": 0,
        "trees_ordered": 0,
    }
    first += await queue_trees(user, project, 1)
    result = await api.run_job("batch-planting-orders")
    assert result["orders_created"] == 1 and result["trees_ordered"] == 50
    (order,) = await all_orders(ngo)
    assert order["tree_count"] == 50 and order["status"] == "issued" and order["overdue"] is False
    assert {t["id"] for t in order["trees"]} == set(first)
    assert {t["status"] for t in order["trees"]} == {"ordered"}
    tree = (await user.get(f"/v1/me/trees/{first[0]}")).json()
    assert tree["status"] == "ordered" and tree["order_id"] == order["id"]
    (issued,) = await events(api, "order.issued")
    assert issued["data"]["order_id"] == order["id"] and issued["target_id"] == ngo.id

    late = await queue_trees(user, project, 3)
    await api.advance(6 * DAY)
    assert (await api.run_job("batch-planting-orders"))["orders_created"] == 0
    await api.advance(DAY + 60)
    result = await api.run_job("batch-planting-orders")
    assert result == {"job": "batch-planting-orders", "orders_created": 1, "trees_ordered": 3}
    assert (await api.run_job("batch-planting-orders"))["orders_created"] == 0
    newest = (await ngo.orders())[0]
    assert {t["id"] for t in (await ngo.order(newest["id"]))["trees"]} == set(late)


@pytest.mark.settings(order_min_trees=5)
async def test_capacity_and_seasons(api: Api) -> None:
    ngo = await create_ngo(api)
    small = await create_project(api, ngo, name="Small grove", capacity=12)
    today = await api.today()
    opens, closes = today + timedelta(days=10), today + timedelta(days=20)
    later = await create_project(
        api, ngo, name="Later grove", seasons=[{"start": opens.strftime("%m-%d"), "end": closes.strftime("%m-%d")}]
    )
    user = await funded_user(api)
    small_trees = await queue_trees(user, small, 15)
    later_trees = await queue_trees(user, later, 6)

    result = await api.run_job("batch-planting-orders")
    assert result["orders_created"] == 1 and result["trees_ordered"] == 12  # capacity, not the queue
    (order,) = await all_orders(ngo)
    assert [t["id"] for t in order["trees"]] == small_trees[:12]  # oldest first
    assert (await api.project("Small grove"))["remaining_capacity"] == 0
    assert (await api.project("Later grove"))["in_season"] is False
    assert (await api.run_job("batch-planting-orders"))["orders_created"] == 0  # out of season / out of room

    await api.advance(10 * DAY)
    result = await api.run_job("batch-planting-orders")
    assert result == {"job": "batch-planting-orders", "orders_created": 1, "trees_ordered": 6}
    orders = await all_orders(ngo)
    assert {t["id"] for t in orders[0]["trees"]} == set(later_trees)
    still = (await user.get(f"/v1/me/trees/{small_trees[-1]}")).json()
    assert still["status"] == "queued"


@pytest.mark.settings(order_min_trees=5, order_max_trees=20)
async def test_orders_are_cut_at_the_size_limit(api: Api) -> None:
    ngo = await create_ngo(api)
    project = await create_project(api, ngo)
    user = await funded_user(api)
    trees = await queue_trees(user, project, 44)
    result = await api.run_job("batch-planting-orders")
    assert result == {"job": "batch-planting-orders", "orders_created": 2, "trees_ordered": 40}
    orders = await all_orders(ngo)
    assert sorted(o["tree_count"] for o in orders) == [20, 20]
    await api.advance(7 * DAY + 60)
    assert (await api.run_job("batch-planting-orders"))["trees_ordered"] == 4
    ordered = [t["id"] for o in await all_orders(ngo) for t in o["trees"]]
    assert sorted(ordered) == sorted(trees)


@pytest.mark.settings(order_min_trees=5, order_max_trees=10)
async def test_two_runs_at_once_order_every_tree_exactly_once(api: Api) -> None:
    ngo = await create_ngo(api)
    project = await create_project(api, ngo, capacity=95)
    other = await create_project(api, ngo, name="Second grove")
    user = await funded_user(api)
    trees = await queue_trees(user, project, 100) + await queue_trees(user, other, 30)
    first, second = await asyncio.gather(api.run_job("batch-planting-orders"), api.run_job("batch-planting-orders"))
    assert first["trees_ordered"] + second["trees_ordered"] == 95 + 30
    assert first["orders_created"] + second["orders_created"] == 10 + 3
    ordered = Counter(t["id"] for o in await all_orders(ngo) for t in o["trees"])
    assert len(ordered) == 125 and set(ordered.values()) == {1} and set(ordered) <= set(trees)
    assert (await api.project("Cheap grove"))["remaining_capacity"] == 0
    again = await asyncio.gather(api.run_job("batch-planting-orders"), api.run_job("batch-planting-orders"))
    assert [r["orders_created"] for r in again] == [0, 0]


@pytest.mark.settings(order_min_trees=5, order_max_trees=10, order_batch_orders=2)
async def test_a_run_killed_part_way_is_finished_by_the_next(api: Api) -> None:
    ngo = await create_ngo(api)
    project = await create_project(api, ngo)
    user = await funded_user(api)
    trees = await queue_trees(user, project, 35)
    committed: list[list[str]] = []

    def die(order_ids: list[str]) -> None:
        committed.append(order_ids)
        raise RuntimeError(f"killed after committing {order_ids}")

    jobs.after_order_committed = die
    killed = await api.client.post("/v1/admin/jobs/batch-planting-orders/run", headers=api.operator)
    assert killed.status_code == 500
    survivors = await all_orders(ngo)  # the first transaction: two orders of 10, complete
    assert sorted(o["id"] for o in survivors) == sorted(committed[0])
    assert [(o["tree_count"], len(o["trees"])) for o in survivors] == [(10, 10), (10, 10)]
    assert {t["id"] for o in survivors for t in o["trees"]} == set(trees[:20])  # the oldest

    jobs.after_order_committed = None
    result = await api.run_job("batch-planting-orders")
    assert result == {"job": "batch-planting-orders", "orders_created": 2, "trees_ordered": 15}
    ordered = Counter(t["id"] for o in await all_orders(ngo) for t in o["trees"])
    assert sorted(ordered) == sorted(trees) and set(ordered.values()) == {1}


@pytest.mark.settings(order_min_trees=5)
async def test_reminders_flag_unacknowledged_orders_once(api: Api) -> None:
    ngo = await create_ngo(api, webhook_url="https://ngo.example.org/hooks")
    project = await create_project(api, ngo)
    user = await funded_user(api)
    await queue_trees(user, project, 5)
    await api.run_job("batch-planting-orders")
    await queue_trees(user, project, 5)
    await api.run_job("batch-planting-orders")
    waiting, acknowledged = await ngo.orders()
    assert (await ngo.post(f"/v1/ngo/orders/{acknowledged['id']}/acknowledge")).status_code == 200

    await api.advance(6 * DAY)
    assert await api.run_job("order-reminders") == {"job": "order-reminders", "orders_overdue": 0}
    await api.advance(DAY + 60)
    assert await api.run_job("order-reminders") == {"job": "order-reminders", "orders_overdue": 1}
    assert await api.run_job("order-reminders") == {"job": "order-reminders", "orders_overdue": 0}
    assert (await ngo.order(waiting["id"]))["overdue"] is True
    assert (await ngo.order(acknowledged["id"]))["overdue"] is False
    (overdue,) = await events(api, "order.overdue")
    assert overdue["data"]["order_id"] == waiting["id"]
    listed = await api.client.get("/v1/admin/orders", params={"status": "issued"}, headers=api.operator)
    assert [o["id"] for o in listed.json()["items"]] == [waiting["id"]]
    bad = await api.client.get("/v1/admin/orders", params={"status": "lost"}, headers=api.operator)
    assert bad.status_code == 400
