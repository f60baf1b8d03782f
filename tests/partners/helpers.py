"""A partner client for the tests: it signs each request exactly as SPEC 7.2 says, independently
of the server's code (hmac + hashlib only)."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from typing import Any

import httpx

from tests.api import Api, User

_names = itertools.count(1)
_reports = itertools.count(1)


def signature(secret: str, timestamp: str, method: str, target: str, body: bytes) -> str:
    message = f"{timestamp}.{method}.{target}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def encode(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


class Partner:
    def __init__(self, api: Api, created: dict[str, Any]) -> None:
        self.api = api
        self.id = created["id"]
        self.key_id = created["key_id"]
        self.secret = created["secret"]
        self.created = created

    async def timestamp(self, offset: int = 0) -> str:
        return str(int((await self.api.now()).timestamp()) + offset)

    async def request(
        self,
        method: str,
        target: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        key_id: str | None = None,
        secret: str | None = None,
        timestamp: str | None = None,
        signatures: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        content = raw if raw is not None else (b"" if body is None else encode(body))
        timestamp = timestamp or await self.timestamp()
        sig = signature(secret or self.secret, timestamp, method, target, content)
        value = ",".join(signatures) if signatures is not None else f"v1={sig}"
        all_headers = {
            "Canopy-Key-Id": key_id or self.key_id,
            "Canopy-Timestamp": timestamp,
            "Canopy-Signature": value,
            **({"content-type": "application/json"} if content else {}),
            **(headers or {}),
        }
        return await self.api.client.request(method, target, content=content or None, headers=all_headers)

    async def post(self, target: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", target, body, **kwargs)

    async def get(self, target: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", target, **kwargs)

    async def report(self, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
        return await self.post("/v1/partner/reports", body, **kwargs)

    async def batch(self, reports: list[Any], **kwargs: Any) -> httpx.Response:
        return await self.post("/v1/partner/reports/batch", {"reports": reports}, **kwargs)

    async def void(self, report_id: str, reason: str = "refunded") -> httpx.Response:
        return await self.post(f"/v1/partner/reports/{report_id}/void", {"reason": reason})

    async def new_key(self) -> dict[str, Any]:
        response = await self.api.client.post(f"/v1/admin/partners/{self.id}/keys", headers=self.api.operator)
        assert response.status_code == 201, response.text
        return response.json()


async def make_partner(api: Api, actions: list[str] | None = None, **fields: Any) -> Partner:
    body = {
        "name": f"Partner {next(_names)}",
        "kind": "transit",
        "allowed_actions": actions or ["metro_ride", "bus_ride", "online_utility_bill", "reusable_cup"],
        **fields,
    }
    response = await api.client.post("/v1/admin/partners", json=body, headers=api.operator)
    assert response.status_code == 201, response.text
    return Partner(api, response.json())


async def green_code(user: User) -> str:
    response = await user.post("/v1/me/green-code")
    assert response.status_code == 201, response.text
    return response.json()["code"]


def report_id() -> str:
    return f"r-{next(_reports)}"


async def report_body(
    user: User | None = None,
    items: list[tuple[str, int]] | None = None,
    *,
    code: str | None = None,
    user_ref: str | None = None,
    occurred_at: str | None = None,
    rid: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"report_id": rid or report_id()}
    if user_ref is not None:
        body["user_ref"] = user_ref
    else:
        assert user is not None or code is not None
        body["green_code"] = code or await green_code(user)  # type: ignore[arg-type]
    if occurred_at is None:
        api = user.api if user is not None else None
        assert api is not None, "pass occurred_at when no user is given"
        occurred_at = (await api.now()).isoformat().replace("+00:00", "Z")
    body["occurred_at"] = occurred_at
    body["items"] = [{"action": a, "quantity": q} for a, q in (items or [("metro_ride", 1)])]
    return body
