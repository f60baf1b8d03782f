"""The account pages in Chromium against a real server: accessible (axe-core), at 360 px, in both
languages, and the reset form working by keyboard and click without JavaScript."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import sync_playwright

from server.settings import Settings
from tests.conftest import chromium_path
from tests.processes import running_servers
from tests.web.test_browser import ACCEPT_LANGUAGE, SCREENSHOTS, serious_violations

pytestmark = [pytest.mark.browser, pytest.mark.settings(smtp_url=None)]  # mail bodies at /v1/admin/emails


@pytest.fixture
def base(settings: Settings, tmp_path: Path) -> Iterator[str]:
    with running_servers(settings, tmp_path) as (base,):
        yield base


def latest_link(base: str, settings: Settings, page: str) -> str:
    operator = {"Authorization": f"Bearer {settings.operator_token}"}
    items = httpx.get(f"{base}/v1/admin/emails", headers=operator).json()["items"]
    found = re.search(rf"/{page}\?token=[A-Za-z0-9_-]+", next(i["text"] for i in items if page in i["text"]))
    assert found
    return base + found.group(0)


@pytest.mark.parametrize("language", ["en", "zh-Hans"])
def test_the_account_pages_in_a_browser(base: str, settings: Settings, language: str) -> None:
    email = f"browser-{language.lower()}@example.org"
    body = {"handle": "browser_user", "password": "correct horse battery", "display_name": "B", "email": email}
    assert httpx.post(f"{base}/v1/auth/register", json=body).status_code == 201
    verify_link = latest_link(base, settings, "verify-email")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path())
        context = browser.new_context(
            viewport={"width": 360, "height": 800},
            extra_http_headers={"Accept-Language": ACCEPT_LANGUAGE[language]},
            java_script_enabled=False,
        )
        page = context.new_page()
        response = page.goto(verify_link)
        assert response is not None and response.status == 200
        page.screenshot(path=SCREENSHOTS / f"verify-email-{language}-360.png", full_page=True)

        assert httpx.post(f"{base}/v1/auth/password-reset", json={"email": email}).status_code == 202
        reset_link = latest_link(base, settings, "reset-password")
        page.goto(reset_link)
        page.fill("#password", "a browser passphrase")
        page.fill("#password_confirmation", "not the same passphrase")
        page.click("button[type=submit]")
        assert page.locator("#password_confirmation-error").is_visible()
        assert page.locator("#password_confirmation").get_attribute("aria-invalid") == "true"
        page.screenshot(path=SCREENSHOTS / f"reset-password-errors-{language}-360.png", full_page=True)
        page.fill("#password", "a browser passphrase")
        page.fill("#password_confirmation", "a browser passphrase")
        page.press("#password_confirmation", "Enter")
        assert page.locator("h1").inner_text() in ("Your password is changed", "您的密码已更改")
        context.close()

        # axe-core runs as a script: look at each state again with scripts on.
        scripted = browser.new_context(
            viewport={"width": 360, "height": 800}, extra_http_headers={"Accept-Language": ACCEPT_LANGUAGE[language]}
        )
        page = scripted.new_page()
        for url in (verify_link, reset_link):  # both links are spent now: the "does not work" pages
            page.goto(url)
            assert serious_violations(page) == []
            assert page.evaluate("document.documentElement.scrollWidth") <= 360
        assert httpx.post(f"{base}/v1/auth/password-reset", json={"email": email}).status_code == 202
        page.goto(latest_link(base, settings, "reset-password"))
        assert serious_violations(page) == []
        page.fill("#password", "short")
        page.fill("#password_confirmation", "short")
        page.evaluate("document.querySelector('form').noValidate = true")  # let the server judge it
        page.click("button[type=submit]")
        assert page.locator("#password-error").is_visible()
        assert serious_violations(page) == []
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        scripted.close()
        browser.close()
