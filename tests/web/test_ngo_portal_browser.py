"""The NGO portal in a real browser (SPEC 12.4): an owner signs in through /login, acknowledges an
order, uploads a set of photos in one form, confirms plantings by CSV with one bad row, and
rejects a tree. Every page visited is checked with axe-core (no serious or critical violation)
and must fit 360 px; screenshots at 360 and 1280 px go to var/screenshots/ngo-*.png.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageDraw
from playwright.sync_api import Browser, Page, sync_playwright

from server.members.models import MemberRole, OrgKind
from server.settings import Settings
from tests.api import Api
from tests.conftest import chromium_path
from tests.planting.helpers import SITE, create_ngo, create_project, funded_user, iso, queue_trees
from tests.processes import running_servers
from tests.web.portal import PASSWORD, add_member
from tests.web.test_browser import SCREENSHOTS, serious_violations

pytestmark = [pytest.mark.browser, pytest.mark.settings(order_min_trees=5)]

OWNER = "owner@ngo.example"
WIDTHS = (1280, 360)


@dataclass
class Seeded:
    base: str
    order_id: str
    planted_at: str  # on the server's test clock: after the order was issued, before now


async def _seed(base: str, settings: Settings) -> Seeded:
    """An NGO and an order of five trees, an hour old, through the API; the owner as a member. The
    NGO's webhook answers nothing, so its deliveries page has one waiting to be tried again."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        api = Api(client, settings)
        ngo = await create_ngo(api, "Green Hands", webhook_url="http://127.0.0.1:9/hooks")  # nobody listens
        project = await create_project(api, ngo, name="Hillside grove")
        await queue_trees(await funded_user(api), project, 5)
        assert (await api.run_job("batch-planting-orders"))["orders_created"] == 1
        await api.advance(3600)
        [order] = await ngo.orders()
        assert (await api.run_job("deliver-webhooks"))["retrying"] == 1
        await add_member(api, org_kind=OrgKind.NGO, org_id=ngo.id, role=MemberRole.OWNER, email=OWNER)
        return Seeded(base, order["id"], iso(await api.now() - timedelta(minutes=30)))


@pytest.fixture
def seeded(settings: Settings, tmp_path: Path) -> Iterator[Seeded]:
    with running_servers(settings, tmp_path) as (base,):
        yield asyncio.run(_seed(base, settings))


@pytest.fixture
def browser(seeded: Seeded) -> Iterator[Browser]:
    """Started after the seeding: Playwright's sync API keeps an event loop running in this thread."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path())
        yield browser
        browser.close()


def photo(path: Path, seed: int) -> Path:
    """A small JPEG that looks like no other seed's: stripes and a disc in places of their own."""
    image = Image.new("RGB", (480, 360), (235, 228, 200))
    draw = ImageDraw.Draw(image)
    for band in range(6):
        if (seed >> band) & 1:
            draw.rectangle((band * 80, 0, band * 80 + 79, 359), fill=(34, 110, 60))
    draw.ellipse((60 * seed, 40 * seed, 60 * seed + 140, 40 * seed + 140), fill=(120, 70, 30))
    image.save(path, format="JPEG", quality=90)
    return path


class Visit:
    """Checks and screenshots every page the journey sees, at both widths."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.names: list[str] = []
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def check(self, name: str) -> None:
        page = self.page
        self.names.append(name)
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            page.screenshot(path=SCREENSHOTS / f"ngo-{name}-{width}.png", full_page=True)
            assert serious_violations(page) == [], (name, width)
            assert page.evaluate("document.documentElement.scrollWidth") <= width, (name, width)
        page.set_viewport_size({"width": WIDTHS[0], "height": 900})


def test_an_owner_works_through_an_order(browser: Browser, seeded: Seeded, tmp_path: Path) -> None:
    base, order_path = seeded.base, f"/ngo/orders/{seeded.order_id}"
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    visit = Visit(page)

    page.goto(base + "/ngo/")
    assert page.url == f"{base}/login?next=/ngo", page.url  # Litestar's path drops the trailing slash
    page.get_by_label("Email").fill(OWNER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/ngo")
    assert page.get_by_role("heading", level=1).inner_text() == "Planting orders"
    visit.check("orders")

    page.get_by_role("link", name=f"Order …{seeded.order_id[-8:]}").click()
    page.wait_for_url(base + order_path)
    visit.check("order")
    page.get_by_role("button", name="Acknowledge this order").click()
    page.wait_for_url(f"{base}{order_path}?done=acknowledged")
    assert page.get_by_role("status").inner_text() == "The order is acknowledged."
    visit.check("order-acknowledged")

    page.get_by_role("navigation", name="This order").get_by_role("link", name="Photos").click()
    page.wait_for_url(f"{base}{order_path}/photos")
    visit.check("photos")
    files = [photo(tmp_path / f"tree-{n}.jpg", n) for n in (1, 2, 3, 4)]
    page.get_by_label("Photos", exact=True).set_input_files(files)
    page.get_by_role("button", name="Upload").click()
    page.wait_for_load_state()
    assert "4 of 4 photos accepted." in page.locator("main").inner_text()
    thumbnails = page.locator("section img.thumb")
    assert thumbnails.count() == 4
    assert all(thumbnails.nth(i).evaluate("img => img.complete && img.naturalWidth > 0") for i in range(4))
    visit.check("photos-uploaded")

    page.get_by_role("navigation", name="This order").get_by_role("link", name="Plantings").click()
    page.wait_for_url(f"{base}{order_path}/plantings")
    visit.check("plantings")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download a CSV of this order's open trees").click()
    template = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
    assert template[0] == ["tree_id", "planted_at", "lat", "lon", "photo"] and len(template) == 6
    trees = [row[0] for row in template[1:]]
    rows = [template[0]] + [
        [trees[n], seeded.planted_at, SITE["lat"] + n / 1000, SITE["lon"], f"tree-{n + 1}.jpg"] for n in range(3)
    ]
    rows.append([trees[3], "last tuesday", SITE["lat"], SITE["lon"], "tree-4.jpg"])
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    csv_path = tmp_path / "plantings.csv"
    csv_path.write_text(out.getvalue())
    page.get_by_label("CSV file").set_input_files(csv_path)
    page.get_by_role("button", name="Confirm the plantings in the file").click()
    page.wait_for_load_state()
    results = page.locator("table.results tbody tr")
    assert results.count() == 4
    assert "3 of 4 rows confirmed." in page.locator("main").inner_text()
    bad = results.filter(has_text=trees[3])
    assert "Refused" in bad.inner_text() and "Not a date and time" in bad.inner_text()
    assert results.filter(has_text="Planted").count() == 3
    visit.check("plantings-results")

    page.get_by_role("navigation", name="This order").get_by_role("link", name="Overview").click()
    page.wait_for_url(base + order_path)
    assert page.get_by_role("link", name="CNP-").count() == 3
    page.get_by_label("Tree", exact=True).select_option(trees[4])
    page.get_by_label("Reason").fill("The plot flooded after the rains.")
    page.get_by_role("button", name="Reject the tree").click()
    page.wait_for_url(f"{base}{order_path}?done=rejected")
    assert "went back to the queue" in page.get_by_role("status").inner_text()
    assert trees[4] not in page.locator("main table").inner_text()
    visit.check("order-rejected")

    for name, label in (("projects", "Projects"), ("webhooks", "Webhooks"), ("keys", "API keys")):
        page.get_by_role("navigation", name="Main").get_by_role("link", name=label).click()
        page.wait_for_url(f"{base}/ngo/{name}")
        visit.check(name)
    assert "order.issued" in page.goto(f"{base}/ngo/webhooks").text()  # type: ignore[union-attr]
    page.goto(f"{base}/ngo/keys")
    page.get_by_role("button", name="Create a key").click()
    page.wait_for_load_state()
    assert page.locator("code.secret").inner_text().startswith("ngo_")
    visit.check("keys-created")

    page.get_by_role("link", name="简体中文").click()
    page.wait_for_url(f"{base}/ngo/keys")
    for name, path in (("orders", "/ngo/"), ("order", order_path), ("plantings", f"{order_path}/plantings")):
        page.goto(base + path)
        assert page.locator("html").get_attribute("lang") == "zh-Hans"
        visit.check(f"{name}-zh")
    context.close()
