"""Friend requests and friendships (SPEC 5); strangers get 404 for everything about a user."""

from __future__ import annotations

from tests.api import Api
from tests.social.helpers import befriend, feed, problem, ripe_ball, steal


async def test_request_accept_list_and_remove(api: Api) -> None:
    alice = await api.register("alice")
    bob = await api.register("bob")

    asked = await alice.post("/v1/me/friends", json={"handle": "BOB"})
    assert asked.status_code == 201, asked.text
    request = asked.json()
    assert request["from"] == {"handle": "alice", "display_name": "Alice"}
    assert request["to"] == {"handle": "bob", "display_name": "Bob"}
    assert request["status"] == "pending" and request["created_at"]

    incoming = (await bob.get("/v1/me/friend-requests")).json()
    assert [r["id"] for r in incoming["items"]] == [request["id"]] and incoming["next_cursor"] is None
    assert (await alice.get("/v1/me/friend-requests")).json()["items"] == []
    outgoing = (await alice.get("/v1/me/friend-requests", params={"direction": "outgoing"})).json()
    assert [r["id"] for r in outgoing["items"]] == [request["id"]]
    assert (await alice.get("/v1/me/friend-requests", params={"direction": "sideways"})).status_code == 400

    # only the addressee may answer; to anyone else the request does not exist
    assert (await alice.post(f"/v1/me/friend-requests/{request['id']}/accept")).status_code == 404
    accepted = await bob.post(f"/v1/me/friend-requests/{request['id']}/accept")
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    again = await bob.post(f"/v1/me/friend-requests/{request['id']}/decline")
    assert again.status_code == 409 and problem(again) == "request-not-pending"

    for me, other in ((alice, "bob"), (bob, "alice")):
        friends = (await me.get("/v1/me/friends")).json()
        assert [f["handle"] for f in friends["items"]] == [other]
        assert (await me.get(f"/v1/users/{other}/forest")).status_code == 200

    assert (await alice.delete("/v1/me/friends/bob")).status_code == 204
    assert (await alice.delete("/v1/me/friends/bob")).status_code == 404
    assert (await bob.get("/v1/me/friends")).json()["items"] == []
    assert (await bob.get("/v1/users/alice/forest")).status_code == 404
    # friends again after a new request
    await befriend(bob, alice)


async def test_refusals_self_friend_and_pending(api: Api) -> None:
    alice = await api.register()
    bob = await api.register()
    me = await alice.post("/v1/me/friends", json={"handle": alice.handle})
    assert me.status_code == 409 and problem(me) == "self-friend-request"
    assert (await alice.post("/v1/me/friends", json={"handle": "nobody_here"})).status_code == 404
    assert (await alice.post("/v1/me/friends", json={"handle": bob.handle})).status_code == 201
    twice = await alice.post("/v1/me/friends", json={"handle": bob.handle})
    assert twice.status_code == 409 and problem(twice) == "request-pending"
    for body in ({}, {"handle": 5}, {"handle": bob.handle, "extra": 1}, {"handle": "x" * 31}):
        assert (await alice.post("/v1/me/friends", json=body)).status_code == 400, body


async def test_a_friend_cannot_be_asked_again(api: Api) -> None:
    alice = await api.register()
    bob = await api.register()
    await befriend(alice, bob)
    for asker, other in ((alice, bob), (bob, alice)):
        response = await asker.post("/v1/me/friends", json={"handle": other.handle})
        assert response.status_code == 409 and problem(response) == "already-friends"


async def test_crossing_requests_accept_both(api: Api) -> None:
    alice = await api.register()
    bob = await api.register()
    first = (await alice.post("/v1/me/friends", json={"handle": bob.handle})).json()
    crossing = await bob.post("/v1/me/friends", json={"handle": alice.handle})
    assert crossing.status_code == 201, crossing.text
    body = crossing.json()
    assert body["status"] == "accepted" and body["from"]["handle"] == bob.handle
    assert (await bob.get("/v1/me/friend-requests")).json()["items"] == []
    assert (await alice.get("/v1/me/friend-requests", params={"direction": "outgoing"})).json()["items"] == []
    assert [f["handle"] for f in (await alice.get("/v1/me/friends")).json()["items"]] == [bob.handle]
    assert [f["handle"] for f in (await bob.get("/v1/me/friends")).json()["items"]] == [alice.handle]
    answered = await bob.post(f"/v1/me/friend-requests/{first['id']}/accept")
    assert answered.status_code == 409


async def test_decline(api: Api) -> None:
    alice = await api.register()
    bob = await api.register()
    request = (await alice.post("/v1/me/friends", json={"handle": bob.handle})).json()
    declined = await bob.post(f"/v1/me/friend-requests/{request['id']}/decline")
    assert declined.status_code == 200 and declined.json()["status"] == "declined"
    assert (await bob.get("/v1/me/friend-requests")).json()["items"] == []
    assert (await alice.get("/v1/me/friends")).json()["items"] == []
    assert (await alice.get(f"/v1/users/{bob.handle}/forest")).status_code == 404
    # a declined request may be made again
    assert (await alice.post("/v1/me/friends", json={"handle": bob.handle})).status_code == 201
    assert (await bob.post("/v1/me/friend-requests/not-a-request/accept")).status_code == 404


async def test_strangers_get_404_everywhere(api: Api) -> None:
    owner = await api.register()
    stranger = await api.register()
    pending = await api.register()
    await pending.post("/v1/me/friends", json={"handle": owner.handle})  # pending is not friendship
    ball = await ripe_ball(owner)
    for user in (stranger, pending):
        for handle in (owner.handle, "no_such_user"):
            calls = [
                await user.get(f"/v1/users/{handle}/forest"),
                await user.post(f"/v1/users/{handle}/balls/{ball['id']}/steal"),
                await user.post(f"/v1/users/{handle}/balls/{ball['id']}/help-collect"),
                await user.post(f"/v1/users/{handle}/water", json={"amount_g": 10}),
                await user.delete(f"/v1/me/friends/{handle}"),
            ]
            assert [c.status_code for c in calls] == [404] * 5, [c.text for c in calls]
            assert problem(calls[0]) == "user-not-found"
    # a friend asking about a ball that is not that friend's: 404 too
    other = await api.register()
    await befriend(other, stranger)
    assert (await steal(other, stranger, ball["id"])).status_code == 404
    assert (await owner.forest())["balls"][0]["remaining_g"] == 296


async def test_deleting_an_account_removes_its_friendships(api: Api) -> None:
    alice = await api.register()
    bob = await api.register()
    carol = await api.register()
    await befriend(alice, bob)
    await carol.post("/v1/me/friends", json={"handle": alice.handle})
    assert (await alice.delete("/v1/me")).status_code == 204
    assert (await bob.get("/v1/me/friends")).json()["items"] == []
    assert (await carol.get("/v1/me/friend-requests", params={"direction": "outgoing"})).json()["items"] == []
    # the handle is free again, and its new owner is nobody's friend
    newcomer = await api.register(alice.handle)
    assert (await bob.get(f"/v1/users/{newcomer.handle}/forest")).status_code == 404
    assert [i["type"] for i in await feed(newcomer)] == []


async def test_friend_list_pages(api: Api) -> None:
    me = await api.register()
    friends = [await api.register() for _ in range(3)]
    for friend in friends:
        await befriend(me, friend)
    first = (await me.get("/v1/me/friends", params={"limit": 2})).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = (await me.get("/v1/me/friends", params={"limit": 2, "cursor": first["next_cursor"]})).json()
    assert rest["next_cursor"] is None
    seen = [f["handle"] for f in first["items"] + rest["items"]]
    assert sorted(seen) == sorted(f.handle for f in friends)
    assert (await me.get("/v1/me/friends", params={"limit": 0})).status_code == 400
    assert (await me.get("/v1/me/friends", params={"cursor": "%%%"})).status_code == 400


async def test_a_friends_forest_shows_the_tree_but_no_balance(api: Api) -> None:
    owner = await api.register()
    friend = await api.register()
    await befriend(owner, friend)
    nursery = await api.project()
    species = nursery["species"][0]
    adopted = await owner.post("/v1/me/trees", json={"project_id": nursery["id"], "species_id": species["species_id"]})
    assert adopted.status_code == 201
    view = (await friend.get(f"/v1/users/{owner.handle.upper()}/forest")).json()
    assert view["tree"] == {
        "id": adopted.json()["id"],
        "species": {"id": species["species_id"], "common_name": species["common_name"]},
        "project": {"id": nursery["id"], "name": nursery["name"]},
        "stage": "seed",
        "stage_name": "Seed",
    }
    assert view["balls"] == [] and "balance_g" not in view and "owed_g" not in view


async def test_hostile_paths_and_bodies_are_refused_cleanly(api: Api) -> None:
    alice = await api.register()
    bob = await api.register()
    await befriend(alice, bob)
    for path in (
        "/v1/users/a%00b/forest",
        "/v1/users/" + "x" * 31 + "/forest",
        f"/v1/users/{bob.handle}/balls/{'9' * 65}/steal",
        f"/v1/users/{bob.handle}/balls/..%2F..%2Fx/help-collect",
        "/v1/me/friend-requests/%27%20OR%201=1/accept",
    ):
        method = alice.get if path.endswith("forest") else alice.post
        response = await method(path)
        assert response.status_code in (400, 404), (path, response.text)
    as_json = {"headers": {"content-type": "application/json"}}
    duplicate = b'{"handle":"a","handle":"b"}'
    assert (await alice.post("/v1/me/friends", content=duplicate, **as_json)).status_code == 400
    deep = b'{"handle":' + b"[" * 2000 + b"]" * 2000 + b"}"
    assert (await alice.post("/v1/me/friends", content=deep, **as_json)).status_code == 400
    assert (await alice.post(f"/v1/users/{bob.handle}/water", content=b"10", **as_json)).status_code == 400
