"""The NGO API (SPEC 8.3): orders, photos, plantings, rejections."""

from __future__ import annotations

import io
import re
import struct
import zlib
from datetime import timedelta
from typing import Any

import pytest
from PIL import Image

from tests.api import Api, User
from tests.planting.helpers import (
    SITE,
    Ngo,
    black_png,
    create_ngo,
    create_project,
    events,
    funded_user,
    image_bytes,
    iso,
    queue_trees,
)


async def ordered(api: Api, ngo: Ngo, count: int, **project: Any) -> tuple[User, dict[str, Any], dict[str, Any]]:
    """A user's `count` trees in one issued order of `ngo` (needs order_min_trees <= count)."""
    project_row = await create_project(api, ngo, **project)
    user = await funded_user(api)
    await queue_trees(user, project_row, count)
    result = await api.run_job("batch-planting-orders")
    assert result["orders_created"] == 1, result
    order = (await ngo.orders())[0]
    return user, project_row, await ngo.order(order["id"])


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares width x height pixels (a decompression bomb's shape)."""
    out = io.BytesIO()
    Image.new("L", (1, 1)).save(out, format="PNG")
    data = bytearray(out.getvalue())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr : ihdr + 17])) & 0xFFFFFFFF
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", crc)
    return bytes(data)


def planting(tree_id: str, photo_id: str, when: str, **fields: Any) -> dict[str, Any]:
    return {
        "tree_id": tree_id,
        "planted_at": when,
        "lat": SITE["lat"],
        "lon": SITE["lon"],
        "photo_id": photo_id,
    } | fields


@pytest.mark.settings(order_min_trees=2)
async def test_orders_are_scoped_to_their_ngo_and_acknowledge_is_idempotent(api: Api) -> None:
    ngo = await create_ngo(api)
    other = await create_ngo(api, "Other NGO")
    _, project, order = await ordered(api, ngo, 2)
    assert order["project"] == {"id": project["id"], "name": project["name"]}
    assert len(order["trees"]) == 2 and all(t["species"] == "Cheap grove oak" for t in order["trees"])
    assert await other.orders() == []
    path = f"/v1/ngo/orders/{order['id']}"
    assert (await other.get(path)).status_code == 404
    assert (await other.post(f"{path}/acknowledge")).status_code == 404
    tree = order["trees"][0]["id"]
    assert (
        await other.post(f"{path}/rejections", json={"rejections": [{"tree_id": tree, "reason": "x"}]})
    ).status_code == 404
    photo = await other.photo(1)
    body = {"plantings": [planting(tree, photo, iso(await api.now()))]}
    assert (await other.post(f"{path}/plantings", json=body)).status_code == 404
    assert (await ngo.get("/v1/ngo/orders/nope")).status_code == 404

    first = await ngo.post(f"{path}/acknowledge")
    assert first.status_code == 200 and first.json()["status"] == "acknowledged"
    await api.advance(60)
    second = await ngo.post(f"{path}/acknowledge")
    assert second.status_code == 200 and second.json()["acknowledged_at"] == first.json()["acknowledged_at"]
    assert [o["id"] for o in await ngo.orders(status="acknowledged")] == [order["id"]]
    assert await ngo.orders(status="issued") == []
    assert (await ngo.get("/v1/ngo/orders", params={"limit": 0})).status_code == 400
    assert (await ngo.get("/v1/ngo/orders", params={"cursor": "!!"})).status_code == 400


async def test_photo_uploads_are_checked(api: Api) -> None:
    ngo = await create_ngo(api)
    ok = await ngo.upload(image_bytes(1))
    assert ok.status_code == 201, ok.text
    assert set(ok.json()) == {"photo_id", "sha256", "width", "height"}
    assert (ok.json()["width"], ok.json()["height"]) == (320, 240)
    png = await ngo.upload(image_bytes(2, "PNG"), "tree.png", "image/png")
    assert png.status_code == 201

    not_image = await ngo.upload(b"just some text, not a picture" * 10)
    assert not_image.status_code == 422 and not_image.json()["type"].endswith(":photo-format")
    gif = await ngo.upload(image_bytes(3, "GIF"), "tree.gif", "image/gif")
    assert gif.status_code == 422 and gif.json()["type"].endswith(":photo-format")
    truncated = await ngo.upload(image_bytes(4)[:400])
    assert truncated.status_code == 422
    for width, height in ((20_000, 20_000), (8_000, 6_000)):  # over Pillow's own limit; over ours (40 MP)
        bomb = await ngo.upload(png_declaring(width, height), "bomb.png", "image/png")
        assert bomb.status_code == 422 and bomb.json()["type"].endswith(":photo-too-large"), bomb.text
    huge = await ngo.upload(b"\xff\xd8" + b"\0" * (11 * 1024 * 1024))
    assert huge.status_code == 413
    just_over = await ngo.upload(b"\xff\xd8" + b"\0" * (10 * 1024 * 1024))
    assert just_over.status_code == 413
    no_file = await api.client.post("/v1/ngo/photos", files={"other": ("a", b"x")}, headers=ngo.headers)
    assert no_file.status_code == 400 and no_file.json()["type"].endswith(":validation"), no_file.text
    assert (await api.client.post("/v1/ngo/photos", files={"file": ("a", b"x")})).status_code == 401


async def test_a_multi_picture_jpeg_is_accepted_by_its_first_frame(api: Api) -> None:
    """Phones write MPO files (a JPEG followed by more pictures): Pillow opens them as "MPO"."""
    ngo = await create_ngo(api)
    first, second = Image.new("RGB", (640, 480), (200, 30, 30)), Image.new("RGB", (320, 240), (30, 30, 200))
    out = io.BytesIO()
    first.save(out, format="MPO", save_all=True, append_images=[second])
    assert Image.open(io.BytesIO(out.getvalue())).format == "MPO"
    uploaded = await ngo.upload(out.getvalue())
    assert uploaded.status_code == 201, uploaded.text
    assert (uploaded.json()["width"], uploaded.json()["height"]) == (640, 480)
    thumb = await api.client.get(f"/v1/photos/{uploaded.json()['photo_id']}/thumbnail.jpg")
    image = Image.open(io.BytesIO(thumb.content))
    assert image.size == (256, 192)
    red, _, blue = image.convert("RGB").getpixel((128, 96))  # type: ignore[misc]
    assert red > 150 and blue < 80


async def test_a_large_photo_keeps_its_size_and_orientation(api: Api) -> None:
    """Decoded scaled down (JPEG) or reduced (PNG), a big photo still reports its own upright size."""
    ngo = await create_ngo(api)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: the camera was turned; the picture must be rotated 90 degrees
    rotated = await ngo.upload(image_bytes(11, size=(4000, 3000), exif=exif.tobytes()))
    assert rotated.status_code == 201, rotated.text
    assert (rotated.json()["width"], rotated.json()["height"]) == (3000, 4000)
    thumb = await api.client.get(f"/v1/photos/{rotated.json()['photo_id']}/thumbnail.jpg")
    assert Image.open(io.BytesIO(thumb.content)).size == (192, 256)
    png = await ngo.upload(image_bytes(12, "PNG", size=(3000, 2000)), "tree.png", "image/png")
    assert png.status_code == 201, png.text
    assert (png.json()["width"], png.json()["height"]) == (3000, 2000)


@pytest.mark.settings(worker_memory_budget_mb=256)
async def test_a_photo_that_alone_exceeds_the_memory_budget_is_refused(api: Api) -> None:
    ngo = await create_ngo(api)
    big = await ngo.upload(black_png(6300, 6300), "big.png", "image/png")
    assert big.status_code == 422 and big.json()["type"].endswith(":photo-too-large"), big.text
    assert (await ngo.upload(image_bytes(13))).status_code == 201


async def test_metadata_is_stripped_and_the_thumbnail_is_public(api: Api) -> None:
    ngo = await create_ngo(api)
    exif = Image.Exif()
    exif[0x010F] = "SpyCam Industries"  # Make
    exif[0x8825] = {2: (48.0, 51.0, 24.0)}  # GPS latitude
    raw = image_bytes(5, exif=exif.tobytes(), size=(1200, 900))
    assert b"SpyCam" in raw
    uploaded = await ngo.upload(raw)
    assert uploaded.status_code == 201, uploaded.text
    thumb = await api.client.get(f"/v1/photos/{uploaded.json()['photo_id']}/thumbnail.jpg")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert b"SpyCam" not in thumb.content and b"Exif" not in thumb.content
    image = Image.open(io.BytesIO(thumb.content))
    assert image.format == "JPEG" and max(image.size) == 256 and "exif" not in image.info
    assert len(image.getexif()) == 0
    assert (await api.client.get("/v1/photos/nope/thumbnail.jpg")).status_code == 404


@pytest.mark.settings(order_min_trees=5)
async def test_plantings_are_judged_tree_by_tree(api: Api) -> None:
    ngo = await create_ngo(api, webhook_url="https://ngo.example.org/hooks")
    other = await create_ngo(api, "Other NGO")
    user, _, order = await ordered(api, ngo, 5)
    trees = [t["id"] for t in order["trees"]]
    path = f"/v1/ngo/orders/{order['id']}/plantings"
    photos = [await ngo.photo(seed) for seed in range(10, 16)]
    foreign_photo = await other.photo(20)
    await api.advance(3600)
    now = await api.now()
    when = iso(now - timedelta(minutes=5))

    body = {
        "plantings": [
            planting(trees[0], photos[0], when),
            planting(trees[1], photos[1], when, lat=SITE["lat"] + 0.1),  # ~11 km away, radius 5 km
            planting(trees[2], photos[2], iso(now + timedelta(hours=1))),
            planting(trees[3], photos[3], iso(now - timedelta(hours=2))),  # before the order was issued
            planting(trees[4], foreign_photo, when),
            planting(trees[1], photos[0], when),  # the photo was just used for trees[0]
            planting("nope", photos[5], when),
        ]
    }
    response = await ngo.post(path, json=body)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["tree_id"] for r in results] == [p["tree_id"] for p in body["plantings"]]
    assert [r["status"] for r in results] == ["planted"] + ["refused"] * 6
    assert [r["error"]["status"] for r in results[1:]] == [422, 422, 422, 422, 409, 409]
    assert [r["error"]["type"].rsplit(":", 1)[1] for r in results[1:]] == [
        "outside-project-area",
        "planted-in-future",
        "planted-before-order",
        "unknown-photo",
        "photo-reused",
        "tree-not-in-order",
    ]
    number = results[0]["certificate_number"]
    assert re.fullmatch(r"CNP-\d{4}-\d{8}", number)
    mine = (await user.get(f"/v1/me/trees/{trees[0]}")).json()
    assert mine["status"] == "planted" and mine["certificate_number"] == number and mine["planted_at"]
    assert (await ngo.order(order["id"]))["status"] == "acknowledged"  # implicitly
    (planted_event,) = await events(api, "tree.planted")
    assert planted_event["data"]["tree_id"] == trees[0]

    same = await ngo.post(path, json={"plantings": [planting(trees[0], photos[0], when)]})
    assert same.json()["results"] == [{"tree_id": trees[0], "status": "unchanged", "certificate_number": number}]
    different = await ngo.post(path, json={"plantings": [planting(trees[0], photos[0], when, lon=SITE["lon"] + 0.01)]})
    assert different.json()["results"][0]["error"]["type"].endswith(":planting-differs")
    assert different.json()["results"][0]["error"]["status"] == 409

    rest = [planting(tree, photo, when) for tree, photo in zip(trees[1:], photos[1:5], strict=True)]
    done = await ngo.post(path, json={"plantings": rest})
    assert [r["status"] for r in done.json()["results"]] == ["planted"] * 4
    final = await ngo.order(order["id"])
    assert final["status"] == "completed" and final["completed_at"] and final["tree_count"] == 5
    assert {t["status"] for t in final["trees"]} == {"planted"}
    (completed,) = await events(api, "order.completed")
    assert completed["data"]["order_id"] == order["id"]
    numbers = {r["certificate_number"] for r in done.json()["results"]} | {number}
    assert len(numbers) == 5

    for bad in (
        {"plantings": []},
        {"plantings": [planting(trees[0], photos[0], "yesterday")]},
        {"plantings": [planting(trees[0], photos[0], "2026-01-01T00:00:00")]},  # no offset
        {"plantings": [planting(trees[0], photos[0], when, lat=True)]},
        {"plantings": [planting(trees[0], photos[0], when, lat=95)]},
        {"plantings": [planting(trees[0], photos[0], when, extra=1)]},
        {"plantings": [planting(trees[0], photos[0], when)] * 501},
    ):
        assert (await ngo.post(path, json=bad)).status_code == 400


@pytest.mark.settings(order_min_trees=2)
async def test_a_near_duplicate_photo_is_refused_once_used_for_another_tree(api: Api) -> None:
    ngo = await create_ngo(api)
    _, _, order = await ordered(api, ngo, 2)
    trees = [t["id"] for t in order["trees"]]
    original = image_bytes(7)
    recoded = io.BytesIO()
    Image.open(io.BytesIO(original)).resize((300, 225)).save(recoded, format="JPEG", quality=60)
    first = await ngo.photo(7)
    twin_before_use = await ngo.upload(recoded.getvalue())
    assert twin_before_use.status_code == 201  # not used for any tree yet
    await api.advance(60)
    when = iso(await api.now())
    path = f"/v1/ngo/orders/{order['id']}/plantings"
    assert (await ngo.post(path, json={"plantings": [planting(trees[0], first, when)]})).json()["results"][0][
        "status"
    ] == "planted"

    twin = await ngo.upload(recoded.getvalue())
    assert twin.status_code == 409 and twin.json()["type"].endswith(":photo-reused")
    late = await ngo.post(path, json={"plantings": [planting(trees[1], twin_before_use.json()["photo_id"], when)]})
    assert late.json()["results"][0]["error"]["type"].endswith(":photo-reused")
    distinct = await ngo.photo(8)
    assert (await ngo.post(path, json={"plantings": [planting(trees[1], distinct, when)]})).json()["results"][0][
        "status"
    ] == "planted"


@pytest.mark.settings(order_min_trees=1)
async def test_rejections_requeue_and_the_third_refunds(api: Api) -> None:
    ngo = await create_ngo(api)
    project = await create_project(api, ngo, capacity=1)
    user = await funded_user(api)
    (tree,) = await queue_trees(user, project, 1)
    queued_at = (await user.get(f"/v1/me/trees/{tree}")).json()["queued_at"]
    balance = await user.balance()

    for attempt in (1, 2, 3):
        assert (await api.run_job("batch-planting-orders"))["trees_ordered"] == 1
        assert (await api.project("Cheap grove"))["remaining_capacity"] == 0
        order = (await ngo.orders())[0]
        rejected = await ngo.post(
            f"/v1/ngo/orders/{order['id']}/rejections", json={"rejections": [{"tree_id": tree, "reason": "drought"}]}
        )
        assert rejected.status_code == 200, rejected.text
        (result,) = rejected.json()["results"]
        assert result["status"] == "rejected" and result["refunded"] is (attempt == 3)
        view = (await user.get(f"/v1/me/trees/{tree}")).json()
        assert view["rejections"] == attempt and view["order_id"] is None
        finished = await ngo.order(order["id"])
        assert finished["status"] == "completed" and finished["trees"] == [] and finished["tree_count"] == 0
        if attempt < 3:
            assert view["status"] == "queued" and view["queued_at"] == queued_at
            assert (await api.project("Cheap grove"))["remaining_capacity"] == 1
    assert view["status"] == "refunded" and view["refunded_at"]
    assert await user.balance() == balance + 1
    again = await ngo.post(
        f"/v1/ngo/orders/{order['id']}/rejections", json={"rejections": [{"tree_id": tree, "reason": "again"}]}
    )
    assert again.json()["results"][0]["error"]["type"].endswith(":tree-not-in-order")
    assert (await api.run_job("batch-planting-orders"))["trees_ordered"] == 0


@pytest.mark.settings(order_min_trees=2)
async def test_a_rejection_in_a_closed_project_refunds(api: Api) -> None:
    ngo = await create_ngo(api)
    user, project, order = await ordered(api, ngo, 2)
    balance = await user.balance()
    closed = await api.client.patch(
        f"/v1/admin/projects/{project['id']}", json={"status": "closed"}, headers=api.operator
    )
    assert closed.status_code == 200 and closed.json()["trees_refunded"] == 0
    trees = [t["id"] for t in order["trees"]]
    assert {(await user.get(f"/v1/me/trees/{t}")).json()["status"] for t in trees} == {"ordered"}
    rejected = await ngo.post(
        f"/v1/ngo/orders/{order['id']}/rejections", json={"rejections": [{"tree_id": trees[0], "reason": "closed"}]}
    )
    assert rejected.json()["results"][0]["refunded"] is True
    assert await user.balance() == balance + 1
    view = await ngo.order(order["id"])
    assert view["status"] == "acknowledged" and [t["id"] for t in view["trees"]] == [trees[1]]
    bad = await ngo.post(f"/v1/ngo/orders/{order['id']}/rejections", json={"rejections": [{"tree_id": trees[1]}]})
    assert bad.status_code == 400


@pytest.mark.settings(order_min_trees=1)
async def test_hostile_input_on_ngo_routes_is_refused_without_changes(api: Api) -> None:
    ngo = await create_ngo(api)
    _, _, order = await ordered(api, ngo, 1)
    tree = order["trees"][0]["id"]
    path = f"/v1/ngo/orders/{order['id']}"
    photo = await ngo.photo(30)
    when = iso(await api.now())
    bodies = [
        (f"{path}/plantings", {"plantings": "x"}),
        (f"{path}/plantings", {"plantings": [planting(tree + "\x00", photo, when)]}),
        (f"{path}/plantings", {"plantings": [planting(tree, photo, when, lon="20")]}),
        (f"{path}/plantings", {"plantings": [planting(tree, photo, 1700000000)]}),
        (f"{path}/rejections", {"rejections": [{"tree_id": tree, "reason": "bad\x00"}]}),
        (f"{path}/rejections", {"rejections": [{"tree_id": tree, "reason": ""}]}),
        (f"{path}/rejections", {"rejections": [{"tree_id": 5, "reason": "x"}]}),
    ]
    for url, body in bodies:
        response = await ngo.post(url, json=body)
        assert response.status_code == 400, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    raw = await api.client.post(
        f"{path}/plantings",
        content=b'{"plantings": [], "plantings": []}',
        headers={**ngo.headers, "content-type": "application/json"},
    )
    assert raw.status_code == 400
    huge = b'{"plantings": [{"tree_id": "%s", "planted_at": "%s", "lat": 1e400, "lon": 20, "photo_id": "%s"}]}' % (
        tree.encode(),
        when.encode(),
        photo.encode(),
    )
    infinite = await api.client.post(
        f"{path}/plantings", content=huge, headers={**ngo.headers, "content-type": "application/json"}
    )
    assert infinite.status_code == 400
    assert (await ngo.get(f"/v1/ngo/orders/{'x' * 65}")).status_code == 400
    not_multipart = await ngo.post("/v1/ngo/photos", json={"file": "abc"})
    assert not_multipart.status_code in (400, 415)
    after = await ngo.order(order["id"])
    assert after["status"] == "issued" and after["trees"][0]["status"] == "ordered"
