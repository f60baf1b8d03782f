"""A thin client for the tests: the HTTP calls a mobile app or an operator would make."""

from __future__ import annotations

import itertools
from datetime import date, datetime
from typing import Any

import httpx

from server.settings import Settings

_handles = itertools.count(1)


class User:
    def __init__(self, api: Api, handle: str, tokens: dict[str, Any]) -> None:
        self.api = api
        self.handle = handle
        self.tokens = tokens
        self.id = tokens["user"]["id"]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens['access_token']}"}

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.api.client.get(path, headers=self.headers, **kwargs)

    async def post(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return await self.api.client.post(path, json=json, headers=headers, **kwargs)

    async def put(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        return await self.api.client.put(path, json=json, headers=self.headers, **kwargs)

    async def patch(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        return await self.api.client.patch(path, json=json, headers=self.headers, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.api.client.delete(path, headers=self.headers, **kwargs)

    async def forest(self) -> dict[str, Any]:
        response = await self.get("/v1/me/forest")
        assert response.status_code == 200, response.text
        return response.json()

    async def balance(self) -> int:
        return (await self.forest())["balance_g"]

    async def walk(self, steps: int, day: date | None = None) -> dict[str, Any]:
        day = day or await self.api.today()
        response = await self.put(f"/v1/me/steps/{day.isoformat()}", json={"steps": steps})
        assert response.status_code == 200, response.text
        return response.json()

    async def collect_all(self) -> dict[str, Any]:
        response = await self.post("/v1/me/balls/collect")
        assert response.status_code == 200, response.text
        return response.json()


class Api:
    def __init__(self, client: httpx.AsyncClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    @property
    def operator(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.operator_token}"}

    async def register(self, handle: str | None = None, **fields: Any) -> User:
        handle = handle or f"user{next(_handles)}"
        body = {"handle": handle, "password": "correct horse battery", "display_name": handle.title(), **fields}
        response = await self.client.post("/v1/auth/register", json=body)
        assert response.status_code == 201, response.text
        return User(self, handle.lower(), response.json())

    async def now(self) -> datetime:
        response = await self.client.get("/v1/admin/clock", headers=self.operator)
        assert response.status_code == 200, response.text
        return datetime.fromisoformat(response.json()["now"])

    async def today(self) -> date:
        """Today in UTC (the default user timezone)."""
        return (await self.now()).date()

    async def advance(self, seconds: int) -> datetime:
        response = await self.client.post("/v1/admin/clock", json={"advance_seconds": seconds}, headers=self.operator)
        assert response.status_code == 200, response.text
        return datetime.fromisoformat(response.json()["now"])

    async def advance_to_next_morning(self, hour: int = 8) -> datetime:
        """Move the clock to `hour`:00 UTC of the next day (balls ripen at 07:00)."""
        now = await self.now()
        target = now.replace(hour=hour, minute=0, second=0, microsecond=0)
        seconds = int((target - now).total_seconds()) + 86400
        return await self.advance(seconds)

    async def audit(self) -> dict[str, Any]:
        response = await self.client.get("/v1/admin/ledger/audit", headers=self.operator)
        assert response.status_code == 200, response.text
        return response.json()

    async def run_job(self, name: str) -> dict[str, Any]:
        response = await self.client.post(f"/v1/admin/jobs/{name}/run", headers=self.operator)
        assert response.status_code == 200, response.text
        return response.json()

    async def project(self, name: str = "Alxa nursery") -> dict[str, Any]:
        response = await self.client.get("/v1/projects")
        assert response.status_code == 200, response.text
        return next(p for p in response.json()["items"] if p["name"] == name)


async def earn(user: User, grams: int) -> int:
    """Walk the daily maximum (296 g) day after day and collect, until the balance reaches `grams`."""
    api = user.api
    balance = await user.balance()
    while balance < grams:
        await user.walk(14_800)
        await api.advance_to_next_morning()
        balance = (await user.collect_all())["balance_g"]
    return balance
