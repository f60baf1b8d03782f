"""Helpers for the play tests: friendships and ripe balls, through the HTTP API."""

from __future__ import annotations

from typing import Any

from tests.api import User


async def befriend(a: User, b: User) -> None:
    """a asks, b accepts."""
    asked = await a.post("/v1/me/friends", json={"handle": b.handle})
    assert asked.status_code == 201, asked.text
    accepted = await b.post(f"/v1/me/friend-requests/{asked.json()['id']}/accept")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted"


async def ripe_ball(owner: User, steps: int = 14_800) -> dict[str, Any]:
    """Walk today and move the clock to 08:00 UTC tomorrow: the ball is ripe (owner in UTC)."""
    ball = (await owner.walk(steps))["ball"]
    await owner.api.advance_to_next_morning()
    return ball


async def steal(thief: User, owner: User, ball_id: str) -> Any:
    return await thief.post(f"/v1/users/{owner.handle}/balls/{ball_id}/steal")


async def feed(user: User) -> list[dict[str, Any]]:
    response = await user.get("/v1/me/feed", params={"limit": 200})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def problem(response: Any) -> str:
    return response.json()["type"].rpartition(":")[2]
