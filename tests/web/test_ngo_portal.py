"""The NGO portal over HTTP (SPEC 12.4): orders, photos, plantings by CSV and by rows, rejections,
projects, webhook deliveries and keys, each through the same services as the NGO API."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

import server.web.ngo as ngo_pages
from server.members.models import MemberRole, OrgKind
from tests.api import Api
from tests.planting.helpers import (
    SITE,
    Ngo,
    black_png,
    create_ngo,
    create_project,
    funded_user,
    image_bytes,
    iso,
    queue_trees,
)
from tests.web.portal import Portal, member_portal
from tests.webhooks.test_delivery import Receiver

pytestmark = pytest.mark.settings(order_min_trees=2)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


PHOTO_IDS = re.compile(r"/ngo/photos/([0-9a-f-]{36})/thumbnail\.jpg")


async def ngo_with_order(api: Api, trees: int = 3, name: str = "Green Hands", **ngo: Any) -> tuple[Ngo, dict[str, Any]]:
    """An NGO with one issued order of `trees` trees, an hour old."""
    created = await create_ngo(api, name, **ngo)
    project = await create_project(api, created, name=f"{name} grove")
    user = await funded_user(api)
    await queue_trees(user, project, trees)
    assert (await api.run_job("batch-planting-orders"))["orders_created"] == 1
    await api.advance(3600)
    [order] = await created.orders()
    return created, await created.order(order["id"])


async def owner_of(api: Api, ngo: Ngo, email: str = "owner@ngo.example") -> Portal:
    return await member_portal(api, org_kind=OrgKind.NGO, org_id=ngo.id, role=MemberRole.OWNER, email=email)


async def post_multipart(
    portal: Portal, path: str, fields: dict[str, str], files: list[Any] | None = None, *, csrf: bool = True
) -> httpx.Response:
    """As a browser sends a multipart form: an empty file part when no file is chosen."""
    data = {**({"csrf_token": portal.csrf_token} if csrf else {}), **fields}
    parts = files or [("unused", ("", b"", "application/octet-stream"))]
    return await portal.api.client.post(path, data=data, files=parts, headers=portal.headers, follow_redirects=False)


def jpeg(name: str, seed: int) -> tuple[str, tuple[str, bytes, str]]:
    return ("files", (name, image_bytes(seed), "image/jpeg"))


def csv_file(text: str) -> list[Any]:
    return [("csv", ("plantings.csv", text.encode(), "text/csv"))]


def text_of(response: httpx.Response) -> str:
    """The page's main content as text, for asserting what a person reads."""
    main = response.text.split('<main id="main"', 1)[1].split("</main>", 1)[0]
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", main)).replace("&#39;", "'")


async def test_orders_are_listed_overdue_first_with_counts_and_a_status_filter(api: Api) -> None:
    ngo, first = await ngo_with_order(api, trees=2)
    await api.advance(8 * 86400)
    assert (await api.run_job("order-reminders"))["orders_overdue"] == 1
    project = await create_project(api, ngo, name="Second grove")
    await queue_trees(await funded_user(api), project, 2)
    assert (await api.run_job("batch-planting-orders"))["orders_created"] == 1
    second = next(o for o in await ngo.orders() if o["id"] != first["id"])
    portal = await owner_of(api, ngo)

    page = await portal.get("/ngo/")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    listed = re.findall(r'href="/ngo/orders/([0-9a-f-]{36})"', page.text)
    assert listed == [first["id"], second["id"]]  # the overdue order first, though older
    text = text_of(page)
    assert "1 order is overdue" in text
    assert "All 2" in text and "Issued 2" in text and "Acknowledged 0" in text

    assert (await portal.post_form(f"/ngo/orders/{second['id']}/acknowledge")).status_code == 303
    acknowledged = await portal.get("/ngo/?status=acknowledged")
    assert re.findall(r'href="/ngo/orders/([0-9a-f-]{36})"', acknowledged.text) == [second["id"]]
    assert "Issued 1" in text_of(acknowledged) and "Acknowledged 1" in text_of(acknowledged)
    assert (await portal.get("/ngo/?status=nonsense")).status_code == 400
    assert (await portal.get("/ngo/?cursor=!!")).status_code == 400


async def test_paging_keeps_overdue_first(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    ngo, first = await ngo_with_order(api, trees=2)
    await api.advance(8 * 86400)
    await api.run_job("order-reminders")
    project = await create_project(api, ngo, name="Second grove")
    user = await funded_user(api)
    for _ in range(3):
        await queue_trees(user, project, 2)
        await api.run_job("batch-planting-orders")
    portal = await owner_of(api, ngo)
    monkeypatch.setattr(ngo_pages, "PAGE_SIZE", 1)
    seen: list[str] = []
    path = "/ngo/"
    while path:
        page = await portal.get(path)
        seen += re.findall(r'href="/ngo/orders/([0-9a-f-]{36})"', page.text)
        found = re.search(r'href="(/ngo/\?cursor=[^"]+)"', page.text)
        path = found.group(1).replace("&amp;", "&") if found else ""
    assert len(seen) == 4 and len(set(seen)) == 4 and seen[0] == first["id"]
    assert seen[1:] == sorted(seen[1:], reverse=True)


async def test_an_order_page_shows_its_trees_and_acknowledges_once(api: Api) -> None:
    ngo, order = await ngo_with_order(api)
    portal = await owner_of(api, ngo)
    path = f"/ngo/orders/{order['id']}"
    page = await portal.get(path)
    assert page.status_code == 200
    for tree in order["trees"]:
        assert tree["id"] in page.text
    assert "Green Hands grove oak" in page.text and "Acknowledge this order" in page.text

    forged = await portal.post_form(f"{path}/acknowledge", csrf=False)
    assert forged.status_code == 403
    assert (await ngo.order(order["id"]))["status"] == "issued"

    done = await portal.post_form(f"{path}/acknowledge")
    assert done.status_code == 303 and done.headers["location"] == f"{path}?done=acknowledged"
    acknowledged = await ngo.order(order["id"])
    assert acknowledged["status"] == "acknowledged"
    after = await portal.get(done.headers["location"])
    assert "The order is acknowledged." in after.text and "Acknowledge this order" not in after.text
    await api.advance(60)
    assert (await portal.post_form(f"{path}/acknowledge")).status_code == 303
    assert (await ngo.order(order["id"]))["acknowledged_at"] == acknowledged["acknowledged_at"]


async def test_many_photos_in_one_form_each_judged_with_a_thumbnail(api: Api) -> None:
    ngo, order = await ngo_with_order(api)
    other, _ = await ngo_with_order(api, name="Other NGO")
    portal = await owner_of(api, ngo)
    path = f"/ngo/orders/{order['id']}/photos"

    forged = await post_multipart(portal, path, {}, [jpeg("a.jpg", 1)], csrf=False)
    assert forged.status_code == 403
    assert PHOTO_IDS.findall((await portal.get(path)).text) == []

    files = [
        jpeg("tree-1.jpg", 1),
        jpeg("tree-2.jpg", 2),
        ("files", ("notes.txt", b"not a picture at all" * 10, "text/plain")),
        ("files", ("tree-3.png", image_bytes(3, "PNG"), "image/png")),
    ]
    page = await post_multipart(portal, path, {}, files)
    assert page.status_code == 200, page.text
    text = text_of(page)
    assert "3 of 4 photos accepted" in text
    assert "notes.txt Refused This is not a JPEG or PNG image" in text
    accepted = list(dict.fromkeys(PHOTO_IDS.findall(page.text)))
    assert len(accepted) == 3
    for photo_id in accepted:
        thumbnail = await portal.get(f"/ngo/photos/{photo_id}/thumbnail.jpg")
        assert thumbnail.status_code == 200 and thumbnail.headers["content-type"] == "image/jpeg"
        assert thumbnail.content.startswith(b"\xff\xd8")
    listing = await portal.get(path)
    assert "tree-1.jpg" in listing.text and "tree-3.png" in listing.text and "not used yet" in listing.text

    stranger = await owner_of(api, other, "owner@other.example")
    assert (await stranger.get(f"/ngo/photos/{accepted[0]}/thumbnail.jpg")).status_code == 404
    nothing = await post_multipart(portal, path, {})
    assert nothing.status_code == 422 and "Choose at least one photo." in nothing.text
    too_large = await post_multipart(
        portal, path, {}, [("files", ("big.jpg", b"\xff\xd8" + bytes(11 * 2**20), "image/jpeg"))]
    )
    assert too_large.status_code == 422 and "The file is too large." in too_large.text


async def upload_photos(portal: Portal, order_id: str, names: list[str]) -> dict[str, str]:
    """Upload one distinct photo per name; returns name -> photo id."""
    files = [jpeg(name, seed) for seed, name in enumerate(names, start=10)]
    page = await post_multipart(portal, f"/ngo/orders/{order_id}/photos", {}, files)
    assert page.status_code == 200, page.text
    listing = (await portal.get(f"/ngo/orders/{order_id}/photos")).text
    return {
        name: re.search(re.escape(name) + r".*?<code class=\"photo-id\">([0-9a-f-]{36})<", listing, re.S).group(1)
        for name in names
    }  # type: ignore[union-attr]


async def test_a_csv_with_bad_rows_plants_the_good_ones_and_says_why_for_the_others(api: Api) -> None:
    ngo, order = await ngo_with_order(api, trees=4)
    portal = await owner_of(api, ngo)
    photos = await upload_photos(portal, order["id"], ["tree-1.jpg", "tree-2.jpg", "tree-3.jpg"])
    trees = [tree["id"] for tree in order["trees"]]
    when = iso(await api.now() - timedelta(minutes=30))
    lat, lon = SITE["lat"], SITE["lon"]
    rows = [
        "tree_id,planted_at,lat,lon,photo",
        f"{trees[0]},{when},{lat},{lon},TREE-1.JPG",  # a file name, in any case
        f"{trees[1]},{when},{lat + 0.001},{lon},{photos['tree-2.jpg']}",  # a photo id
        f"{trees[2]},yesterday,{lat},{lon},tree-3.jpg",
        f"{trees[3]},{when},{lat + 5},{lon},tree-3.jpg",
        f"no-such-tree,{when},{lat},{lon},tree-3.jpg",
        '"a broken, quote"x,1,2,3,4',
        "",
        f"{trees[2]},{when},{lat},{lon}",
    ]
    path = f"/ngo/orders/{order['id']}/plantings/csv"
    forged = await post_multipart(portal, path, {}, csv_file("\r\n".join(rows)), csrf=False)
    assert forged.status_code == 403
    assert all(tree["status"] == "ordered" for tree in (await ngo.order(order["id"]))["trees"])
    page = await post_multipart(portal, path, {}, csv_file("\r\n".join(rows) + "\r\n"))
    assert page.status_code == 200, page.text
    text = text_of(page)
    assert "2 of 7 rows confirmed" in text
    assert "Not a date and time" in text
    assert "The location is outside the project's area." in text
    assert "This tree is not open in this order" in text
    assert text.count("This line is not valid CSV") == 2
    after = await ngo.order(order["id"])
    statuses = {tree["id"]: tree["status"] for tree in after["trees"]}
    assert statuses == {trees[0]: "planted", trees[1]: "planted", trees[2]: "ordered", trees[3]: "ordered"}
    certificates = re.findall(r'href="/c/(CNP-\d{4}-\d{8})"', page.text)
    assert len(certificates) == 2
    certificate = await api.client.get(f"/v1/certificates/{certificates[0]}")
    assert certificate.status_code == 200

    again = await post_multipart(portal, path, {}, csv_file("\r\n".join(rows[:3])))
    assert "2 of 2 rows confirmed" in text_of(again) and text_of(again).count("Already confirmed") == 2
    order_page = await portal.get(f"/ngo/orders/{order['id']}")
    assert set(re.findall(r'href="/c/(CNP-\d{4}-\d{8})"', order_page.text)) == set(certificates)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"tree_id,planted_at,lat,lon,photo\r\n\xff\xfe,bad", "The file is not UTF-8 text"),
        (b"tree,when,where\r\nx,y,z", "The first line must name the columns"),
        (b"tree_id,planted_at,lat,lon,photo\r\n", "The file has no rows after its header."),
        (b"", "The first line must name the columns"),
        (b"tree_id,planted_at,lat,lon,photo\r\n" + b"x" * (300 * 1024), "The file is too large."),
    ],
    ids=["not-utf8", "wrong-header", "no-rows", "empty", "too-large"],
)
async def test_a_csv_that_cannot_be_read_is_shown_again_with_its_reason(api: Api, content: bytes, reason: str) -> None:
    ngo, order = await ngo_with_order(api, trees=2)
    portal = await owner_of(api, ngo)
    path = f"/ngo/orders/{order['id']}/plantings/csv"
    page = await post_multipart(portal, path, {}, [("csv", ("p.csv", content, "text/csv"))])
    assert page.status_code == 422, page.text
    assert reason in text_of(page)
    assert 'aria-invalid="true" aria-describedby="csv-error"' in page.text
    assert all(tree["status"] == "ordered" for tree in (await ngo.order(order["id"]))["trees"])


async def test_csv_rows_with_nul_surrogates_or_too_many_rows_are_row_errors(api: Api) -> None:
    ngo, order = await ngo_with_order(api, trees=2)
    portal = await owner_of(api, ngo)
    trees = [tree["id"] for tree in order["trees"]]
    await upload_photos(portal, order["id"], ["a.jpg"])
    when = iso(await api.now() - timedelta(minutes=5))
    header = "tree_id,planted_at,lat,lon,photo\n"
    good = f"{trees[0]},{when},{SITE['lat']},{SITE['lon']},a.jpg\n"
    nul = f"{trees[1]},{when},{SITE['lat']},{SITE['lon']},a\x00.jpg\n"
    surrogate = f"{trees[1]},{when},{SITE['lat']},{SITE['lon']},a".encode() + b"\xed\xa0\x80.jpg\n"
    page = await post_multipart(portal, f"/ngo/orders/{order['id']}/plantings/csv", {}, csv_file(header + good + nul))
    assert page.status_code == 200 and "This value contains control characters." in text_of(page)
    assert "1 of 2 rows confirmed" in text_of(page)
    broken = await post_multipart(
        portal,
        f"/ngo/orders/{order['id']}/plantings/csv",
        {},
        [("csv", ("p.csv", header.encode() + surrogate, "text/csv"))],
    )
    assert broken.status_code == 422 and "not UTF-8" in text_of(broken)
    many = header + "".join(f"{trees[1]},{when},1,2,x\n" for _ in range(501))
    limited = await post_multipart(portal, f"/ngo/orders/{order['id']}/plantings/csv", {}, csv_file(many))
    assert "Too many rows: this line and the ones after it were not read." in text_of(limited)
    assert "0 of 501 rows confirmed" in text_of(limited)


async def test_the_template_lists_the_open_trees(api: Api) -> None:
    ngo, order = await ngo_with_order(api, trees=3)
    portal = await owner_of(api, ngo)
    path = f"/ngo/orders/{order['id']}/template.csv"
    response = await portal.get(path)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["tree_id", "planted_at", "lat", "lon", "photo"]
    assert sorted(row[0] for row in rows[1:]) == sorted(tree["id"] for tree in order["trees"])
    assert all(row[1:] == ["", "", "", ""] for row in rows[1:])

    rejected = order["trees"][0]["id"]
    assert (
        await portal.post_form(f"/ngo/orders/{order['id']}/rejections", {"tree_id": rejected, "reason": "Rocky"})
    ).status_code == 303
    after = list(csv.reader(io.StringIO((await portal.get(path)).text)))
    assert rejected not in {row[0] for row in after} and len(after) == 3


async def test_rows_in_the_page_are_judged_and_refused_ones_kept_with_their_errors(api: Api) -> None:
    ngo, order = await ngo_with_order(api, trees=3)
    portal = await owner_of(api, ngo)
    await upload_photos(portal, order["id"], ["one.jpg", "two.jpg"])
    page = await portal.get(f"/ngo/orders/{order['id']}/plantings")
    tree_fields = dict(re.findall(r'name="(rows-\d+-tree_id)" value="([0-9a-f-]{36})"', page.text))
    assert len(tree_fields) == 3 and 'list="photo-names"' in page.text and '<option value="one.jpg">' in page.text
    when = iso(await api.now() - timedelta(minutes=10))
    site = {"lat": str(SITE["lat"]), "lon": str(SITE["lon"])}
    fields = {
        **tree_fields,
        **{f"rows-0-{name}": value for name, value in {"planted_at": when, **site, "photo": "one.jpg"}.items()},
        **{f"rows-1-{name}": value for name, value in {"planted_at": "21/03/2026", **site, "photo": "two.jpg"}.items()},
    }
    path = f"/ngo/orders/{order['id']}/plantings"
    forged = await post_multipart(portal, path, fields, csrf=False)
    assert forged.status_code == 403
    assert all(tree["status"] == "ordered" for tree in (await ngo.order(order["id"]))["trees"])

    result = await post_multipart(portal, path, fields)
    assert result.status_code == 200, result.text
    assert "1 of 2 rows confirmed" in text_of(result)
    # The refused row is shown again: its values kept, the error next to its field.
    assert 'value="21/03/2026"' in result.text and 'value="two.jpg"' in result.text
    assert re.search(r'id="rows-0-planted_at-error">Not a date and time', result.text)
    assert 'aria-describedby="row-hint rows-0-planted_at-error" aria-invalid="true"' in result.text
    statuses = {tree["id"]: tree["status"] for tree in (await ngo.order(order["id"]))["trees"]}
    assert statuses[tree_fields["rows-0-tree_id"]] == "planted"
    assert sorted(statuses.values()) == ["ordered", "ordered", "planted"]

    empty = await post_multipart(portal, path, {"rows-0-tree_id": tree_fields["rows-1-tree_id"]})
    assert empty.status_code == 422 and "Fill in at least one tree's row." in empty.text


async def test_rejecting_a_tree_needs_a_reason_and_sends_it_back_to_the_queue(api: Api) -> None:
    ngo, order = await ngo_with_order(api, trees=2)
    portal = await owner_of(api, ngo)
    path = f"/ngo/orders/{order['id']}/rejections"
    tree = order["trees"][0]["id"]

    forged = await portal.post_form(path, {"tree_id": tree, "reason": "Flooded"}, csrf=False)
    assert forged.status_code == 403
    blank = await portal.post_form(path, {"tree_id": tree, "reason": "   "})
    assert blank.status_code == 422 and 'id="reason-error">Write a reason.' in blank.text
    assert f'<option value="{tree}" selected>' in blank.text
    long = await portal.post_form(path, {"tree_id": tree, "reason": "x" * 501})
    assert long.status_code == 422 and "too long" in long.text and "x" * 501 in long.text
    control = await portal.post_form(path, {"tree_id": tree, "reason": "bad\x07bell"})
    assert control.status_code == 422 and "control characters" in control.text
    unknown = await portal.post_form(path, {"tree_id": "no-such-tree", "reason": "Flooded"})
    assert unknown.status_code == 409 and "This tree is not open in this order" in unknown.text
    after = await ngo.order(order["id"])
    assert after["status"] == "issued" and len(after["trees"]) == 2  # nothing changed, not even the status

    done = await portal.post_form(path, {"tree_id": tree, "reason": "Flooded field"})
    assert done.status_code == 303 and done.headers["location"].endswith("?done=rejected")
    after = await ngo.order(order["id"])
    assert [t["id"] for t in after["trees"]] == [order["trees"][1]["id"]] and after["status"] == "acknowledged"
    shown = await portal.get(done.headers["location"])
    assert "The tree was rejected and went back to the queue." in shown.text


async def test_another_ngos_order_photo_delivery_and_key_are_not_found(api: Api, receiver: Receiver) -> None:
    ngo, order = await ngo_with_order(api, webhook_url=receiver.url)
    other, _ = await ngo_with_order(api, name="Other NGO")
    owner = await owner_of(api, ngo)
    photos = await upload_photos(owner, order["id"], ["mine.jpg"])
    await api.run_job("deliver-webhooks")
    deliveries = re.findall(r"/ngo/webhooks/([0-9a-f-]{36})/send-again", (await owner.get("/ngo/webhooks")).text)
    assert deliveries
    keys = re.findall(r"/ngo/keys/(nk_[0-9a-f]+)/revoke", (await owner.get("/ngo/keys")).text)
    assert keys

    stranger = await owner_of(api, other, "owner@other.example")
    base = f"/ngo/orders/{order['id']}"
    for path in (
        base,
        f"{base}/photos",
        f"{base}/plantings",
        f"{base}/template.csv",
        f"/ngo/photos/{photos['mine.jpg']}/thumbnail.jpg",
    ):
        response = await stranger.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/html")
    for path in (f"{base}/acknowledge", f"/ngo/webhooks/{deliveries[0]}/send-again", f"/ngo/keys/{keys[0]}/revoke"):
        assert (await stranger.post_form(path)).status_code == 404, path
    rejection = {"tree_id": order["trees"][0]["id"], "reason": "Not ours"}
    assert (await stranger.post_form(f"{base}/rejections", rejection)).status_code == 404
    assert (await post_multipart(stranger, f"{base}/photos", {}, [jpeg("x.jpg", 99)])).status_code == 404
    assert (await post_multipart(stranger, f"{base}/plantings/csv", {}, csv_file("tree_id\n"))).status_code == 404
    assert (await ngo.order(order["id"]))["status"] == "issued"
    assert (await ngo.get("/v1/ngo/orders")).status_code == 200  # the key still works
    assert (await stranger.get("/ngo/orders/not-an-id!")).status_code in (400, 404)


async def test_webhook_deliveries_are_listed_and_sent_again(api: Api, receiver: Receiver) -> None:
    ngo, _ = await ngo_with_order(api, webhook_url=receiver.url)
    portal = await owner_of(api, ngo)
    assert (await api.run_job("deliver-webhooks"))["delivered"] == 1
    page = await portal.get("/ngo/webhooks")
    assert "order.issued" in page.text and "Delivered" in page.text
    [delivery] = re.findall(r"/ngo/webhooks/([0-9a-f-]{36})/send-again", page.text)

    forged = await portal.post_form(f"/ngo/webhooks/{delivery}/send-again", csrf=False)
    assert forged.status_code == 403
    assert (await api.run_job("deliver-webhooks"))["delivered"] == 0
    again = await portal.post_form(f"/ngo/webhooks/{delivery}/send-again")
    assert again.status_code == 303 and again.headers["location"] == "/ngo/webhooks?done=sent"
    pending = await portal.get("/ngo/webhooks?status=pending")
    assert delivery in pending.text and "The delivery will be sent again" not in pending.text
    assert (await api.run_job("deliver-webhooks"))["delivered"] == 1
    assert len(receiver.received) == 2 and len({r["headers"]["Canopy-Event-Id"] for r in receiver.received}) == 1


async def test_projects_show_capacity_left_and_trees_planted(api: Api) -> None:
    ngo, order = await ngo_with_order(api, trees=3)
    portal = await owner_of(api, ngo)
    await upload_photos(portal, order["id"], ["p.jpg"])
    when = iso(await api.now() - timedelta(minutes=5))
    body = f"tree_id,planted_at,lat,lon,photo\n{order['trees'][0]['id']},{when},{SITE['lat']},{SITE['lon']},p.jpg\n"
    assert (
        await post_multipart(portal, f"/ngo/orders/{order['id']}/plantings/csv", {}, csv_file(body))
    ).status_code == 200
    page = await portal.get("/ngo/projects")
    assert page.status_code == 200
    row = text_of(page).split("Green Hands grove", 1)[1]
    assert re.match(r" Test region Active .+? 9,997 of 10,000 1 ", row), row


async def test_owners_manage_keys_and_staff_cannot(api: Api) -> None:
    ngo, _ = await ngo_with_order(api, trees=2)
    staff = await member_portal(
        api, org_kind=OrgKind.NGO, org_id=ngo.id, role=MemberRole.STAFF, email="staff@ngo.example"
    )
    assert (await staff.get("/ngo/keys")).status_code == 403
    assert (await staff.post_form("/ngo/keys")).status_code == 403
    assert (await staff.post_form(f"/ngo/keys/{ngo.created['key_id']}/revoke")).status_code == 403
    assert "/ngo/keys" not in (await staff.get("/ngo/")).text
    owner = await owner_of(api, ngo)
    assert (
        len(re.findall(r"/ngo/keys/(nk_[0-9a-f]+)/revoke", (await owner.get("/ngo/keys")).text)) == 1
    )  # staff created none

    assert (await owner.post_form("/ngo/keys", csrf=False)).status_code == 403
    created = await owner.post_form("/ngo/keys")
    assert created.status_code == 201 and created.headers["cache-control"] == "no-store"
    [api_key] = re.findall(r'<code class="secret">(ngo_[^<]+)</code>', created.text)
    assert (await api.client.get("/v1/ngo/orders", headers={"Authorization": f"Bearer {api_key}"})).status_code == 200
    listing = await owner.get("/ngo/keys")
    assert api_key not in listing.text  # shown once
    key_ids = re.findall(r"/ngo/keys/(nk_[0-9a-f]+)/revoke", listing.text)
    assert len(key_ids) == 2

    new_key = next(key for key in key_ids if key != ngo.created["key_id"])
    assert (await owner.post_form(f"/ngo/keys/{new_key}/revoke", csrf=False)).status_code == 403
    assert (await api.client.get("/v1/ngo/orders", headers={"Authorization": f"Bearer {api_key}"})).status_code == 200
    revoked = await owner.post_form(f"/ngo/keys/{new_key}/revoke")
    assert revoked.status_code == 303 and revoked.headers["location"] == "/ngo/keys?done=revoked"
    assert (await api.client.get("/v1/ngo/orders", headers={"Authorization": f"Bearer {api_key}"})).status_code == 401
    assert (await ngo.get("/v1/ngo/orders")).status_code == 200


async def test_pages_need_an_ngo_member_and_speak_chinese(api: Api) -> None:
    ngo, order = await ngo_with_order(api, trees=2)
    anonymous = await api.client.get(f"/ngo/orders/{order['id']}", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"] == f"/login?next=/ngo/orders/{order['id']}"
    operator = await member_portal(api, org_kind=OrgKind.OPERATOR, email="ops@example.org")
    assert (await operator.get("/ngo/")).status_code == 403
    portal = await owner_of(api, ngo)
    chinese = {"Accept-Language": "zh-CN"}
    for path in (
        "/ngo/",
        f"/ngo/orders/{order['id']}",
        f"/ngo/orders/{order['id']}/photos",
        f"/ngo/orders/{order['id']}/plantings",
        "/ngo/projects",
        "/ngo/webhooks",
        "/ngo/keys",
    ):
        page = await api.client.get(path, headers={**portal.headers, **chinese})
        assert page.status_code == 200 and '<html lang="zh-Hans">' in page.text, path
    assert "种植订单" in (await api.client.get("/ngo/", headers={**portal.headers, **chinese})).text


async def test_a_csv_whose_rows_are_all_refused_changes_nothing(api: Api) -> None:
    ngo, order = await ngo_with_order(api, trees=2)
    portal = await owner_of(api, ngo)
    when = iso(await api.now() - timedelta(minutes=5))
    body = f"tree_id,planted_at,lat,lon,photo\n{order['trees'][0]['id']},{when},{SITE['lat']},{SITE['lon']},nope.jpg\n"
    page = await post_multipart(portal, f"/ngo/orders/{order['id']}/plantings/csv", {}, csv_file(body))
    assert page.status_code == 422
    assert "No photo with this id or file name was uploaded for this order." in text_of(page)
    assert (await ngo.order(order["id"]))["status"] == "issued"  # not even acknowledged, unlike the API


@pytest.mark.settings(order_min_trees=2, worker_memory_budget_mb=256)
async def test_photos_in_a_form_share_the_workers_photo_memory_budget(api: Api) -> None:
    """64 MB for photos here: a 24-megapixel PNG (96 MB decoded) is refused, the small one beside it is not."""
    ngo, order = await ngo_with_order(api, trees=2)
    portal = await owner_of(api, ngo)
    files = [("files", ("huge.png", black_png(6000, 4000), "image/png")), jpeg("small.jpg", 5)]
    page = await post_multipart(portal, f"/ngo/orders/{order['id']}/photos", {}, files)
    assert page.status_code == 200
    assert "1 of 2 photos accepted" in text_of(page)
    assert "huge.png Refused The photo has too many pixels." in text_of(page)
