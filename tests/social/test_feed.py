"""The feed (SPEC 5): the theft log and the other events, newest first, paginated."""

from __future__ import annotations

from tests.api import Api, earn
from tests.social.helpers import befriend, feed, ripe_ball, steal


async def test_the_theft_log_names_the_friend_and_the_grams(api: Api) -> None:
    owner = await api.register("owner")
    alice = await api.register("alice", display_name="Alice A.")
    bob = await api.register("bob")
    await befriend(alice, owner)
    await befriend(bob, owner)
    ball = await ripe_ball(owner)
    assert (await steal(alice, owner, ball["id"])).json() == {"stolen_g": 30}
    assert (await steal(bob, owner, ball["id"])).json() == {"stolen_g": 30}

    items = await feed(owner)
    assert [(i["type"], i["friend"], i["amount_g"]) for i in items if i["type"] == "ball.stolen"] == [
        ("ball.stolen", {"handle": "bob", "display_name": "Bob"}, 30),
        ("ball.stolen", {"handle": "alice", "display_name": "Alice A."}, 30),
    ]
    requested = [i for i in items if i["type"] == "friend.requested"]
    assert sorted(i["friend"]["handle"] for i in requested) == ["alice", "bob"]
    assert all(set(i) == {"id", "type", "created_at", "friend", "amount_g", "tree_id"} for i in items)
    # thieves see nothing in their feed about it; feeds are private
    assert [i["type"] for i in await feed(alice)] == []

    first = (await owner.get("/v1/me/feed", params={"limit": 1})).json()
    assert len(first["items"]) == 1 and first["next_cursor"]
    second = (await owner.get("/v1/me/feed", params={"limit": 1, "cursor": first["next_cursor"]})).json()
    assert second["items"][0]["id"] != first["items"][0]["id"]
    assert (await owner.get("/v1/me/feed", params={"limit": 201})).status_code == 400
    assert (await api.client.get("/v1/me/feed")).status_code == 401


async def test_expired_balls_are_reported_with_their_grams(api: Api) -> None:
    user = await api.register()
    thief = await api.register()
    await befriend(user, thief)
    ball = await ripe_ball(user, 10_000)
    await steal(thief, user, ball["id"])
    await api.advance(4 * 86_400)
    assert (await api.run_job("expire-balls"))["balls_expired"] == 1
    assert (await api.run_job("expire-balls"))["balls_expired"] == 0
    expired = [i for i in await feed(user) if i["type"] == "ball.expired"]
    assert [(i["amount_g"], i["friend"]) for i in expired] == [(180, None)]


async def test_tree_queued_and_refunded_appear_in_the_feed(api: Api) -> None:
    user = await api.register()
    nursery = await api.project()
    tree = (
        await user.post(
            "/v1/me/trees", json={"project_id": nursery["id"], "species_id": nursery["species"][0]["species_id"]}
        )
    ).json()
    await earn(user, tree["cost_g"])
    assert (await user.post(f"/v1/me/trees/{tree['id']}/plant")).status_code == 200
    closed = await api.client.patch(
        f"/v1/admin/projects/{nursery['id']}", json={"status": "closed"}, headers=api.operator
    )
    assert closed.status_code == 200
    items = [(i["type"], i["tree_id"], i["amount_g"]) for i in await feed(user) if i["type"].startswith("tree.")]
    assert sorted(items) == [
        ("tree.queued", tree["id"], tree["cost_g"]),
        ("tree.refunded", tree["id"], tree["cost_g"]),
    ]
