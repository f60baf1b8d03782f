"""The partner portal in a real browser (SPEC 12.4): an owner signs in through /login, reads the
month's dashboard, filters the reports, downloads a CSV of a period, reads why a request was
refused (and the string Canopy signed), sees webhooks, creates a key and visits the members page.
Every page visited is checked with axe-core (no serious or critical violation) and must fit
360 px; screenshots at 360 and 1280 px, in English and Chinese, go to var/screenshots/partner-*.png.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from server.members.models import MemberRole, OrgKind
from server.settings import Settings
from tests.api import Api
from tests.conftest import chromium_path
from tests.partners.helpers import make_partner, report_body
from tests.processes import running_servers
from tests.web.portal import PASSWORD, add_member
from tests.web.test_browser import SCREENSHOTS, serious_violations

pytestmark = [pytest.mark.browser]

OWNER = "owner@cafe.example"
WIDTHS = (1280, 360)


@dataclass
class Seeded:
    base: str
    today: str
    secret: str


async def _seed(base: str, settings: Settings) -> Seeded:
    """A café with three reports through the signed API (one voided), one request signed with a
    wrong secret, and its owner as a member."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        api = Api(client, settings)
        partner = await make_partner(api, ["reusable_cup", "metro_ride"], name="Corner Café")
        user = await api.register()
        sales = (("till-1", [("reusable_cup", 2)]), ("till-2", [("metro_ride", 3)]), ("till-3", [("reusable_cup", 1)]))
        for rid, items in sales:
            assert (await partner.report(await report_body(user, items, rid=rid))).status_code == 201
        assert (await partner.void("till-3", "Cup returned")).status_code == 200
        forged = await partner.report(await report_body(user, rid="till-4"), secret="psk_an-old-secret")
        assert forged.status_code == 401
        await add_member(api, org_kind=OrgKind.PARTNER, org_id=partner.id, role=MemberRole.OWNER, email=OWNER)
        return Seeded(base, (await api.now()).date().isoformat(), partner.secret)


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


def check(page: Page, name: str) -> None:
    """axe-core and the 360 px fit at both widths, with a screenshot of each."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=SCREENSHOTS / f"partner-{name}-{width}.png", full_page=True)
        assert serious_violations(page) == [], (name, width)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, (name, width)
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})


def test_an_owner_reads_the_dashboard_exports_and_debugs_a_refusal(browser: Browser, seeded: Seeded) -> None:
    base = seeded.base
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()

    page.goto(base + "/partner/")
    page.get_by_label("Email").fill(OWNER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/partner")
    assert page.get_by_role("heading", level=1).inner_text() == "Dashboard"
    figures = " ".join(page.locator("dl.figures").inner_text().split())
    # 2 cups (220 g) + 3 rides (156 g) + 1 cup (110 g, voided)
    assert figures == "Reports 3 Energy awarded 486 g CO₂ avoided 376 g Voids 1", figures
    assert page.get_by_role("img", name="CO₂ avoided and voids by day").count() == 1
    check(page, "dashboard")

    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Reports").click()
    page.wait_for_url(f"{base}/partner/reports")
    page.get_by_label("Status").select_option("voided")
    page.get_by_role("button", name="Show reports").click()
    page.wait_for_url(f"{base}/partner/reports?**")
    assert page.locator("main tbody tr").count() == 1 and "till-3" in page.locator("main tbody").inner_text()
    check(page, "reports")

    page.locator("#export-from").fill(seeded.today)
    page.locator("#export-to").fill(seeded.today)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the CSV").click()
    assert download.value.suggested_filename == f"canopy-reports-{seeded.today}-{seeded.today}.csv"
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [(r["report_id"], r["action"], r["status"]) for r in rows] == [
        ("till-1", "reusable_cup", "awarded"),
        ("till-2", "metro_ride", "awarded"),
        ("till-3", "reusable_cup", "voided"),
    ]

    nav.get_by_role("link", name="Refused requests").click()
    page.wait_for_url(f"{base}/partner/refused")
    refusal = page.locator("ol.refusals > li").first
    assert "invalid-signature" in refusal.inner_text()
    assert "The signature did not match" in refusal.inner_text()
    refusal.get_by_text("The string Canopy signed").click()
    signed = refusal.locator("pre.signed").inner_text()
    assert ".POST./v1/partner/reports." in signed and '"report_id":"till-4"' in signed
    assert seeded.secret not in page.content()
    check(page, "refused")

    for name, label in (("webhooks", "Webhooks"), ("keys", "Keys"), ("members", "Members")):
        nav.get_by_role("link", name=label).click()
        page.wait_for_url(f"{base}/partner/{name}")
        check(page, name)
    nav.get_by_role("link", name="Keys").click()
    page.get_by_role("button", name="Create a key").click()
    page.wait_for_load_state()
    assert page.locator("code.secret").nth(1).inner_text().startswith("psk_")
    check(page, "keys-created")

    page.get_by_role("link", name="简体中文").click()
    page.wait_for_url(f"{base}/partner/keys")
    for name, path in (("dashboard", "/partner/"), ("reports", "/partner/reports"), ("refused", "/partner/refused")):
        page.goto(base + path)
        assert page.locator("html").get_attribute("lang") == "zh-Hans"
        check(page, f"{name}-zh")
    context.close()
