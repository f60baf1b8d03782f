"""The members' journey in a real browser (SPEC 12.3): Debian's Chromium against a real server.

An operator invited by `canopy operator invite` joins, invites an NGO's owner from the console and
reads the link shown once; the owner joins, turns on two-step sign-in with the QR page's key, signs
out and in again with a code. Every page: no serious or critical axe-core violation, nothing wider
than the screen at 360 and 1280 px, and screenshots in var/screenshots/ (members-*.png).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyotp
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from server.settings import Settings
from tests.conftest import chromium_path
from tests.processes import canopy_env, running_servers
from tests.web.test_browser import SCREENSHOTS, WIDTHS, serious_violations

pytestmark = pytest.mark.browser

PASSWORD = "a long portal password"


@pytest.fixture
def base(settings: Settings, tmp_path: Path) -> Iterator[str]:
    with running_servers(settings, tmp_path) as (base,):
        yield base


@pytest.fixture
def browser(base: str) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path())
        yield browser
        browser.close()


def look(page: Page, name: str, language: str = "en") -> None:
    """The page at both widths: screenshots, nothing wider than the screen, and axe-core."""
    assert page.locator("html").get_attribute("lang") == language
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 800})
        page.screenshot(path=SCREENSHOTS / f"members-{name}-{language}-{width}.png", full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, name
    assert serious_violations(page) == [], name


def join(page: Page, link: str, name: str) -> None:
    page.goto(link)
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("The password again").fill(PASSWORD)
    page.get_by_role("button", name="Join").click()


def test_an_operator_invites_an_ngo_owner_who_turns_on_two_step_sign_in(
    browser: Browser, base: str, settings: Settings
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    invited = subprocess.run(
        [sys.executable, "-m", "server.cli", "operator", "invite", "--email", "ops@canopy.example"],
        env=canopy_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    operator_link = json.loads(invited.stdout)["invitation_url"].replace(settings.public_base_url, base)
    created = httpx.post(
        f"{base}/v1/admin/ngos",
        json={"name": "Green Hands", "contact_email": "plant@example.org"},
        headers={"Authorization": f"Bearer {settings.operator_token}"},
    )
    ngo_id = created.json()["id"]

    # The operator joins and invites the NGO's owner from the console.
    operator = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    operator.goto(operator_link)
    look(operator, "invite")
    join(operator, operator_link, "Olu Operator")
    operator.wait_for_url(base + "/admin/")
    operator.goto(f"{base}/admin/ngos/{ngo_id}/members")
    look(operator, "console-members-empty")
    operator.get_by_label("Email").fill("owner@green-hands.example")
    operator.get_by_label("Owner: also manages keys and members").check()
    operator.get_by_role("button", name="Invite").click()
    link = operator.locator("#invitation-url").input_value()
    assert link.startswith(settings.public_base_url + "/invite?token=")
    look(operator, "console-invited")
    operator.goto(f"{base}/admin/ngos/{ngo_id}/members")  # shown once: a new look has no link
    assert operator.locator("#invitation-url").count() == 0

    # The owner joins, lands in the NGO portal and turns on two-step sign-in.
    owner = browser.new_context(viewport={"width": 360, "height": 800}).new_page()
    join(owner, link.replace(settings.public_base_url, base), "Nia Owner")
    owner.wait_for_url(base + "/ngo/")
    owner.goto(base + "/ngo/members")
    look(owner, "ngo-members")
    owner.goto(base + "/account")
    look(owner, "account")
    owner.get_by_role("link", name="Turn on two-step sign-in").click()
    owner.wait_for_url(base + "/account/totp")
    look(owner, "totp-setup")
    app = pyotp.TOTP(owner.locator("#totp-secret").get_attribute("data-secret") or "")
    owner.get_by_label("Code from the app").fill(app.now())
    owner.get_by_role("button", name="Turn on").click()
    owner.wait_for_url(base + "/account?done=totp-on")
    look(owner, "account-totp-on")

    # Signed out, and in again: the password, then a code (the next one: the first is spent).
    owner.get_by_role("button", name="Sign out").click()
    owner.wait_for_url(base + "/login")
    look(owner, "login")
    owner.get_by_label("Email").fill("owner@green-hands.example")
    owner.get_by_label("Password").fill(PASSWORD)
    owner.get_by_role("button", name="Sign in").click()
    owner.wait_for_url(base + "/login/code")
    look(owner, "login-code")
    owner.goto(base + "/account")  # not signed in before the code
    owner.wait_for_url(base + "/login?next=/account")
    owner.goto(base + "/login/code")
    owner.get_by_label("Code").fill(app.at(time.time() + 30))
    owner.get_by_role("button", name="Sign in").click()
    owner.wait_for_url(base + "/ngo/")
    owner.goto(base + "/account")
    assert owner.get_by_role("heading", level=1).inner_text() == "Your account"

    # The same pages in Chinese, by the switcher.
    owner.get_by_role("link", name="简体中文").click()
    owner.wait_for_url(base + "/account")
    look(owner, "account-totp-on", "zh-Hans")
    owner.goto(base + "/ngo/members")
    look(owner, "ngo-members", "zh-Hans")
    owner.goto(operator_link)  # used already
    look(owner, "invite-invalid", "zh-Hans")
