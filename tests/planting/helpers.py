"""Helpers for the planting tests: NGOs, cheap projects, queued trees, images."""

from __future__ import annotations

import io
import struct
import zlib
from datetime import datetime
from typing import Any

import httpx
import numpy
from PIL import Image

from tests.api import Api, User

SITE = {"lat": 10.0, "lon": 20.0}


class Ngo:
    def __init__(self, api: Api, created: dict[str, Any]) -> None:
        self.api = api
        self.id = created["id"]
        self.key = created["api_key"]
        self.created = created

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.api.client.get(path, headers=self.headers, **kwargs)

    async def post(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        return await self.api.client.post(path, json=json, headers=self.headers, **kwargs)

    async def orders(self, **params: Any) -> list[dict[str, Any]]:
        response = await self.get("/v1/ngo/orders", params=params)
        assert response.status_code == 200, response.text
        return response.json()["items"]

    async def order(self, order_id: str) -> dict[str, Any]:
        response = await self.get(f"/v1/ngo/orders/{order_id}")
        assert response.status_code == 200, response.text
        return response.json()

    async def upload(self, data: bytes, name: str = "tree.jpg", content_type: str = "image/jpeg") -> httpx.Response:
        return await self.api.client.post(
            "/v1/ngo/photos", files={"file": (name, data, content_type)}, headers=self.headers
        )

    async def photo(self, seed: int) -> str:
        response = await self.upload(image_bytes(seed))
        assert response.status_code == 201, response.text
        return response.json()["photo_id"]


async def create_ngo(api: Api, name: str = "Green Hands", **fields: Any) -> Ngo:
    body = {"name": name, "contact_email": "plant@example.org", **fields}
    response = await api.client.post("/v1/admin/ngos", json=body, headers=api.operator)
    assert response.status_code == 201, response.text
    return Ngo(api, response.json())


async def create_species(api: Api, name: str = "Test oak") -> str:
    body = {"common_name": name, "scientific_name": "Quercus testii", "co2_lifetime_kg": 100}
    response = await api.client.post("/v1/admin/species", json=body, headers=api.operator)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def create_project(
    api: Api,
    ngo: Ngo,
    *,
    name: str = "Cheap grove",
    capacity: int = 10_000,
    seasons: list[dict[str, str]] | None = None,
    radius_km: float = 5.0,
) -> dict[str, Any]:
    species_id = await create_species(api, f"{name} oak")
    body = {
        "ngo_id": ngo.id,
        "name": name,
        "region": "Test region",
        "location": SITE,
        "radius_km": radius_km,
        "species": [{"species_id": species_id, "cost_g": 1}],
        "capacity_per_season": capacity,
        "seasons": seasons or [{"start": "01-01", "end": "12-31"}],
    }
    response = await api.client.post("/v1/admin/projects", json=body, headers=api.operator)
    assert response.status_code == 201, response.text
    return response.json()


async def fund(api: Api, user: User) -> int:
    """One day of maximum walking (296 g), collected the next morning: 296 trees at 1 g."""
    await user.walk(14_800)
    await api.advance_to_next_morning()
    return (await user.collect_all())["balance_g"]


async def queue_trees(user: User, project: dict[str, Any], count: int) -> list[str]:
    """Adopt `count` trees with auto_plant: each is paid (1 g) and queued at once."""
    ids = []
    for _ in range(count):
        response = await user.post(
            "/v1/me/trees",
            json={"project_id": project["id"], "species_id": project["species"][0]["species_id"], "auto_plant": True},
        )
        assert response.status_code == 201, response.text
        assert response.json()["status"] == "queued", response.json()
        ids.append(response.json()["id"])
    return ids


async def funded_user(api: Api) -> User:
    user = await api.register()
    await fund(api, user)
    return user


def image_bytes(seed: int, fmt: str = "JPEG", size: tuple[int, int] = (320, 240), **save: Any) -> bytes:
    """A distinct picture per seed (8 x 8 blocks of colour), so perceptual hashes differ between seeds."""
    width, height = size
    blocks = ((numpy.arange(width) * 8) // width)[None, :] + 8 * ((numpy.arange(height) * 8) // height)[:, None]
    bits = numpy.array([(seed * 2654435761 >> (block % 31)) & 1 for block in range(64)], dtype=bool)
    colours = numpy.where(bits[blocks][..., None], numpy.uint8([30, 140, 60]), numpy.uint8([230, 220, 190]))
    out = io.BytesIO()
    Image.fromarray(colours.astype(numpy.uint8), "RGB").save(out, format=fmt, **save)
    return out.getvalue()


def black_png(width: int, height: int) -> bytes:
    """An 8-bit RGB PNG of zero rows, made without decoding: a few hundred kB that declare (and
    decode to) width x height pixels, like a decompression bomb inside the pixel limit."""
    row = bytes(1 + 3 * width)  # filter byte 0, then black pixels
    compressor = zlib.compressobj(9)
    pixels = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def events(api: Api, event_type: str | None = None) -> list[dict[str, Any]]:
    """The webhook outbox as the delivery job would read it (no admin API for it on this branch)."""
    import json

    from sqlalchemy import select

    from server.db import Database
    from server.webhooks.models import WebhookDelivery

    database = Database(api.settings.database_url)
    try:
        async with database.read_sessions() as session:
            rows = (await session.execute(select(WebhookDelivery).order_by(WebhookDelivery.id))).scalars().all()
    finally:
        await database.dispose()
    found = [json.loads(row.payload) | {"target_id": row.target_id} for row in rows]
    return [event for event in found if event_type is None or event["type"] == event_type]


async def all_orders(ngo: Ngo) -> list[dict[str, Any]]:
    """Every order of the NGO with its trees, through the paginated list and the single view."""
    orders, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        response = await ngo.get("/v1/ngo/orders", params=params)
        assert response.status_code == 200, response.text
        orders += response.json()["items"]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return [await ngo.order(order["id"]) for order in orders]
