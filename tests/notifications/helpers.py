"""Helpers for the notification tests."""

from __future__ import annotations

from typing import Any

from tests.api import Api, User


async def with_device(user: User, token: str | None = None) -> dict[str, Any]:
    response = await user.post("/v1/me/devices", json={"platform": "ios", "token": token or f"apns-{user.handle}"})
    assert response.status_code == 201, response.text
    return response.json()


async def send(api: Api) -> dict[str, Any]:
    return await api.run_job("send-notifications")
