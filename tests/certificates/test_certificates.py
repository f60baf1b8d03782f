"""Certificates (SPEC 8.6): numbering, the signed public JSON, the public key, the printable PNG."""

from __future__ import annotations

import asyncio
import io
import multiprocessing
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from PIL import Image

from server.certificates import service
from server.certificates.signing import verify
from server.db import Database
from tests.api import Api, User
from tests.planting.helpers import create_ngo, create_project, fund, queue_trees


async def issue_for_new_tree(api: Api, display_name: str = "Ada Lovelace") -> tuple[str, User]:
    """Numbers straight from the service, many at once: the per-year counter row decides."""
    user = await api.register(display_name=display_name)
    project = await api.project()
    tree = (
        await user.post(
            "/v1/me/trees", json={"project_id": project["id"], "species_id": project["species"][0]["species_id"]}
        )
    ).json()
    database = Database(api.settings.database_url)
    try:
        async with database.transaction() as session:
            number = await service.issue(
                session,
                tree_id=tree["id"],
                planted_at=datetime(2026, 4, 2, 9, 30, tzinfo=UTC),
                lat=38.80123,
                lon=105.60049,
                photo_id="01a2-photo",
                now=await api.now(),
            )
    finally:
        await database.dispose()
    return number, user


async def test_numbers_are_sequential_per_year_and_unique_under_concurrency(api: Api) -> None:
    numbers = await asyncio.gather(*(issue_for_new_tree(api, f"User {i}") for i in range(6)))
    year = (await api.now()).year
    assert sorted(n for n, _ in numbers) == [f"CNP-{year}-{i:08d}" for i in range(1, 7)]


async def planted_through_the_ngo_api(api: Api, display_name: str = "Ada Lovelace") -> tuple[str, User, str]:
    """The real path: a queued tree is ordered by the job, and the NGO confirms it with GPS and a photo."""
    ngo = await create_ngo(api)
    project = await create_project(api, ngo)
    user = await api.register(display_name=display_name)
    await fund(api, user)
    [tree_id] = await queue_trees(user, project, 1)
    assert (await api.run_job("batch-planting-orders"))["orders_created"] == 1
    order = (await ngo.orders())[0]
    photo = await ngo.photo(11)
    planted_at = (await api.advance(60)).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    body = {
        "plantings": [
            {"tree_id": tree_id, "planted_at": planted_at, "lat": 10.00049, "lon": 19.99951, "photo_id": photo}
        ]
    }
    response = await ngo.post(f"/v1/ngo/orders/{order['id']}/plantings", json=body)
    result = response.json()["results"][0]
    assert result["status"] == "planted", response.text
    tree = (await user.get(f"/v1/me/trees/{tree_id}")).json()
    assert tree["status"] == "planted" and tree["certificate_number"] == result["certificate_number"]
    return result["certificate_number"], user, photo


@pytest.mark.settings(order_min_trees=1)
async def test_public_certificate_verifies_with_only_the_public_key(api: Api) -> None:
    number, user, photo = await planted_through_the_ngo_api(api)
    response = await api.client.get(f"/v1/certificates/{number}")
    assert response.status_code == 200
    certificate = response.json()
    assert re.fullmatch(r"CNP-\d{4}-\d{8}", certificate["number"])
    assert certificate["lat"] == 10.0 and certificate["lon"] == 20.0
    assert certificate["owner_display_name"] == "Ada Lovelace" and certificate["species"] == "Cheap grove oak"
    assert certificate["ngo"] == "Green Hands" and certificate["project"] == "Cheap grove"
    tree = next(t for t in (await user.get("/v1/me/trees")).json()["items"] if t["certificate_number"] == number)
    assert certificate["planted_at"] == tree["planted_at"].replace(".000000", "")
    assert certificate["photo_thumbnail_url"] == f"http://127.0.0.1:8000/v1/photos/{photo}/thumbnail.jpg"
    assert (
        await api.client.get(certificate["photo_thumbnail_url"].removeprefix("http://127.0.0.1:8000"))
    ).status_code == 200

    key = (await api.client.get("/v1/certificates/public-key")).json()
    assert key["algorithm"] == "Ed25519" and len(key["public_key"]) == 43
    assert verify(key["public_key"], certificate)
    for field, value in (("owner_display_name", "Mallory"), ("lat", 38.802), ("number", "CNP-2026-99999999")):
        assert not verify(key["public_key"], {**certificate, field: value})
    assert not verify(key["public_key"], {**certificate, "extra": 1})


@pytest.mark.settings(order_min_trees=1)
async def test_display_name_is_frozen_at_planting(api: Api) -> None:
    number, user, _ = await planted_through_the_ngo_api(api, "Before")
    assert (await user.patch("/v1/me", json={"display_name": "After"})).status_code == 200
    certificate = (await api.client.get(f"/v1/certificates/{number}")).json()
    assert certificate["owner_display_name"] == "Before"


@pytest.mark.settings(order_min_trees=1)
async def test_certificate_image_is_a_printable_png(api: Api) -> None:
    number, _, _ = await planted_through_the_ngo_api(api)
    response = await api.client.get(f"/v1/certificates/{number}/image.png")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "PNG" and image.width >= 1200 and image.height >= 800
    again = await api.client.get(f"/v1/certificates/{number}/image.png")
    assert again.content == response.content


async def test_unknown_and_malformed_numbers(api: Api) -> None:
    assert (await api.client.get("/v1/certificates/CNP-2026-00000042")).status_code == 404
    for bad in ("CNP-2026-1", "cnp-2026-00000001", "CNP-2026-00000001%00", "x" * 300):
        response = await api.client.get(f"/v1/certificates/{bad}")
        assert 400 <= response.status_code < 500
        assert response.headers["content-type"].startswith("application/problem+json")


def _load_key_together(data_dir: str, barrier: Any, results: Any) -> None:
    from server.certificates.signing import load_signing_key, public_key_b64
    from server.settings import Settings

    barrier.wait()
    try:
        results.put(public_key_b64(load_signing_key(Settings(data_dir=data_dir))))
    except Exception as exc:
        results.put(repr(exc))


def test_workers_starting_together_share_one_generated_signing_key(tmp_path) -> None:
    """`canopy serve --workers N` on a fresh data dir: every worker makes the key at once."""
    context = multiprocessing.get_context("fork")
    workers = 8
    barrier, results = context.Barrier(workers), context.Queue()
    processes = [
        context.Process(target=_load_key_together, args=(str(tmp_path), barrier, results)) for _ in range(workers)
    ]
    for process in processes:
        process.start()
    keys = [results.get(timeout=30) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    assert len(set(keys)) == 1, keys
    assert [p.name for p in tmp_path.iterdir()] == ["certificate-signing-key"]
