"""The operator console in a real browser (SPEC 12.4): Chromium against a real server.

An operator signs in through `/login`, cancels an overdue order and suspends a user, by clicks.
Every console page is checked at 360 px and 1280 px (and in Chinese at 360 px): no serious or
critical axe-core violation, nothing wider than the screen. Screenshots go to
var/screenshots/admin-*.png for a person to look at.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from server.members.models import MemberRole, OrgKind
from server.settings import Settings
from tests.api import Api
from tests.conftest import chromium_path
from tests.planting.helpers import create_ngo, create_project, funded_user, queue_trees
from tests.processes import running_servers
from tests.web.portal import PASSWORD, add_member
from tests.web.test_browser import SCREENSHOTS, serious_violations
from tests.web.test_operator_console import dead_webhook, fail_deliveries

pytestmark = pytest.mark.browser

EMAIL = "ops@canopy.example"
DAY = 86_400


@pytest.fixture
def base(settings: Settings, tmp_path: Path) -> Iterator[str]:
    with running_servers(settings, tmp_path) as (base,):
        yield base


async def _world(base: str, settings: Settings) -> dict[str, str]:
    """What the pages show: an overdue order, a failed delivery, a partner, a user to suspend."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        api = Api(client, settings)
        await add_member(api, org_kind=OrgKind.OPERATOR, org_id=None, role=MemberRole.OWNER, email=EMAIL)
        ngo = await create_ngo(api, "Green Hands", webhook_url=dead_webhook())
        project = await create_project(api, ngo, name="Alxa test grove")
        await queue_trees(await funded_user(api), project, 3)
        assert (await api.run_job("batch-planting-orders"))["orders_created"] == 1
        await api.advance(7 * DAY + 60)
        assert (await api.run_job("order-reminders"))["orders_overdue"] == 1
        await fail_deliveries(api)
        (order,) = await ngo.orders()
        partner = await client.post(
            "/v1/admin/partners",
            json={"name": "Metro Line 9", "kind": "transit", "allowed_actions": ["metro_ride"]},
            headers=api.operator,
        )
        await api.register("Hazel_Nut")
        return {"order": order["id"], "ngo": ngo.id, "project": project["id"], "partner": partner.json()["id"]}


def _sign_in(browser: Browser, base: str, width: int, language: str = "en") -> Page:
    accept = {"en": "en-GB,en;q=0.9", "zh-Hans": "zh-CN,zh;q=0.9"}[language]
    context = browser.new_context(
        viewport={"width": width, "height": 900}, extra_http_headers={"Accept-Language": accept}
    )
    page = context.new_page()
    page.goto(base + "/admin/")
    page.wait_for_url(re.compile(r"/login\?next="))
    page.locator("#email").fill(EMAIL)
    page.locator("#password").fill(PASSWORD)
    page.locator("form.narrow button[type=submit]").click()
    page.wait_for_url(base + "/admin")
    return page


def _check(page: Page, name: str, width: int) -> None:
    """Accessible, no wider than the screen, and photographed."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"admin-{name}-{width}.png", full_page=True)
    assert serious_violations(page) == [], name
    assert page.evaluate("document.documentElement.scrollWidth") <= width, name


def _pages(world: dict[str, str]) -> dict[str, str]:
    return {
        "health": "/admin/",
        "orders": "/admin/orders",
        "order": f"/admin/orders/{world['order']}",
        "ngos": "/admin/ngos",
        "ngo": f"/admin/ngos/{world['ngo']}",
        "partners": "/admin/partners",
        "partner": f"/admin/partners/{world['partner']}",
        "projects": "/admin/projects",
        "project-new": "/admin/projects/new",
        "project": f"/admin/projects/{world['project']}",
        "species": "/admin/species",
        "users": "/admin/users?handle=hazel_nut",
        "deliveries": "/admin/deliveries",
        "emails": "/admin/deliveries/emails",
        "pushes": "/admin/deliveries/pushes",
    }


def _visit_all(page: Page, base: str, world: dict[str, str], width: int, suffix: str = "") -> None:
    for name, path in _pages(world).items():
        response = page.goto(base + path)
        assert response is not None and response.status == 200, (name, response and response.status)
        _check(page, name + suffix, width)


@pytest.mark.settings(order_min_trees=3)
def test_an_operator_cancels_an_overdue_order_and_suspends_a_user(base: str, settings: Settings) -> None:
    world = asyncio.run(_world(base, settings))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path())
        page = _sign_in(browser, base, 1280)
        _visit_all(page, base, world, 1280)

        # Cancel the overdue order, by clicks.
        page.goto(base + "/admin/orders")
        page.locator("#overdue ~ .table-scroll").first.locator(f'a[href="/admin/orders/{world["order"]}"]').click()
        page.get_by_label("Reason").fill("No answer from the NGO in 7 days")
        page.get_by_role("button", name="Cancel the order…").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Cancel order")
        expect(page.locator("main")).to_contain_text("3 trees not planted yet go back to the queue")
        _check(page, "order-cancel", 1280)
        page.get_by_role("button", name="Yes, cancel the order").click()
        page.wait_for_url(re.compile(r"done=cancelled"))
        expect(page.locator(".notice")).to_contain_text("The order was cancelled")
        expect(page.locator(".console-facts")).to_contain_text("cancelled")
        _check(page, "order-cancelled", 1280)

        # Suspend a user, by clicks.
        page.goto(base + "/admin/users")
        page.get_by_label("Handle").fill("Hazel_Nut")
        page.get_by_role("button", name="Find").click()
        page.get_by_label("Reason").fill("Reported for fake steps")
        page.get_by_role("button", name="Suspend the user").click()
        page.wait_for_url(re.compile(r"done=suspended"))
        expect(page.locator(".notice")).to_contain_text("The user is suspended")
        expect(page.locator("main")).to_contain_text("Reported for fake steps")
        _check(page, "user-suspended", 1280)

        # An NGO added from the console: its key is shown once, on the page the form led to.
        page.goto(base + "/admin/ngos")
        page.get_by_label("Name", exact=True).fill("Roots and Shoots")
        page.get_by_label("Contact email").fill("hello@roots.example")
        page.get_by_role("button", name="Add the NGO").click()
        expect(page.locator(".secrets")).to_contain_text("ngo_")
        _check(page, "ngo-secrets", 1280)
        page.reload()
        expect(page.locator(".secrets")).to_have_count(0)

        # Closing a project asks first.
        page.goto(base + f"/admin/projects/{world['project']}")
        page.get_by_role("button", name="Close…").click()
        _check(page, "project-close", 1280)
        page.context.close()

        phone = _sign_in(browser, base, 360)
        _visit_all(phone, base, world, 360)
        phone.context.close()
        chinese = _sign_in(browser, base, 360, "zh-Hans")
        assert chinese.locator("html").get_attribute("lang") == "zh-Hans"
        _visit_all(chinese, base, world, 360, "-zh")
        chinese.context.close()
        browser.close()
