"""The pages in a real browser: Debian's Chromium driven by Playwright against a real server.

At 360 px and 1280 px, in English and Chinese: no serious or critical axe-core violation, nothing
wider than the screen, the skip link first in the tab order, and the switcher working by click.
Screenshots go to var/screenshots/ (not committed) for a person to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, sync_playwright

from server.settings import Settings
from tests.conftest import chromium_path
from tests.processes import running_servers

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).parents[2] / "var" / "screenshots"
WIDTHS = (360, 1280)
ACCEPT_LANGUAGE = {"en": "en-GB,en;q=0.9", "zh-Hans": "zh-CN,zh;q=0.9"}
PAGES = {"home": "/", "not-found": "/no-such-page"}


@pytest.fixture
def base(settings: Settings, tmp_path: Path) -> Iterator[str]:
    with running_servers(settings, tmp_path) as (base,):
        yield base


@pytest.fixture
def browser(base: str) -> Iterator[Browser]:
    """Started after the server: Playwright's sync API keeps an event loop running in this thread,
    where the database fixtures could no longer call asyncio.run()."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path())
        yield browser
        browser.close()


def serious_violations(page: Page) -> list[dict[str, Any]]:
    results = Axe().run(page).response
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["html"] for n in v["nodes"]]}
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("language", ["en", "zh-Hans"])
def test_pages_are_accessible_and_fit_the_screen(browser: Browser, base: str, language: str, width: int) -> None:
    context = browser.new_context(
        viewport={"width": width, "height": 800}, extra_http_headers={"Accept-Language": ACCEPT_LANGUAGE[language]}
    )
    page = context.new_page()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name, path in PAGES.items():
        response = page.goto(base + path)
        assert response is not None and response.status == (200 if name == "home" else 404)
        assert page.locator("html").get_attribute("lang") == language
        assert page.evaluate("getComputedStyle(document.body).fontFamily").startswith("system-ui")  # the CSS loaded
        page.screenshot(path=SCREENSHOTS / f"{name}-{language}-{width}.png", full_page=True)
        assert serious_violations(page) == []
        assert page.evaluate("document.documentElement.scrollWidth") <= width

        page.keyboard.press("Tab")
        skip = page.locator(".skip-link")
        assert skip.evaluate("element => element === document.activeElement")
        assert skip.is_visible() and skip.bounding_box()["y"] >= 0  # type: ignore[index]
        skip.press("Enter")
        assert page.evaluate("document.activeElement.id") == "main"
    context.close()


def test_the_switcher_works_by_click(browser: Browser, base: str) -> None:
    context = browser.new_context(viewport={"width": 360, "height": 800})
    page = context.new_page()
    page.goto(base + "/no-such-page?x=1")
    assert page.locator("html").get_attribute("lang") == "en"
    page.get_by_role("link", name="简体中文").click()
    page.wait_for_url(base + "/no-such-page?x=1")
    assert page.locator("html").get_attribute("lang") == "zh-Hans"
    assert page.get_by_role("heading", level=1).inner_text() == "找不到页面"
    page.get_by_role("link", name="English").click()
    page.wait_for_url(base + "/no-such-page?x=1")
    assert page.locator("html").get_attribute("lang") == "en"
    context.close()


def test_the_api_reference_renders_without_the_internet(browser: Browser, base: str) -> None:
    """`/schema` is Swagger UI from Canopy's own /static/: with every other host unreachable, it
    still lists the operations."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    elsewhere: list[str] = []

    def only_canopy(route: Any) -> None:
        if route.request.url.startswith(base):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", only_canopy)
    page = context.new_page()
    page.goto(f"{base}/schema")
    page.locator(".opblock-summary-path", has_text="/v1/me/forest").first.wait_for()
    assert page.locator(".opblock").count() > 50
    assert elsewhere == []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "api-reference-1280.png")
    context.close()
