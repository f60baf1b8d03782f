"""The public pages of SPEC 12.2 over HTTP: a certificate (`/c/{number}`) and a profile (`/u/{handle}`).

The certificate page shows the document of `GET /v1/certificates/{number}` and whether its signature
verifies under the public key; the profile is there only for a user who set `public_profile`, and
every other handle gets one and the same 404 page.
"""

from __future__ import annotations

import asyncio
import html
import io
import itertools
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import Browser

from server.certificates import signing
from server.settings import Settings
from tests.api import Api, User
from tests.certificates.test_certificates import planted_through_the_ngo_api
from tests.partners.helpers import make_partner, report_body
from tests.processes import free_port, running_servers
from tests.web import test_browser
from tests.web.test_browser import ACCEPT_LANGUAGE, SCREENSHOTS, WIDTHS, serious_violations
from tests.web.test_pages import CHINESE, assert_page

pytestmark = pytest.mark.settings(order_min_trees=1)


def text_of(page: str) -> str:
    """The page's visible words, tags dropped and spaces folded, for assertions on what a reader sees."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def main_of(page: str) -> str:
    found = re.search(r"<main.*?</main>", page, re.S)
    assert found, page[:300]
    return found.group(0)


def grams_as_shown(grams: int, language: str = "en") -> str:
    """The profile's figures: grams below a kilogram, else kilograms with one decimal."""
    if grams >= 1000:
        amount = f"{grams / 1000:.1f}".removesuffix(".0")
        return f"{amount} kg" if language == "en" else f"{amount} 千克"
    return f"{grams} g" if language == "en" else f"{grams} 克"


def same_headers(response: httpx.Response) -> dict[str, str]:
    """The headers that do not depend on the moment, on the length of the handle in the page, or on
    the request (each answer echoes its own X-Request-Id)."""
    varying = ("date", "content-length", "x-request-id")
    return {name: value for name, value in response.headers.items() if name not in varying}


async def certificate_json(api: Api, number: str) -> dict[str, Any]:
    response = await api.client.get(f"/v1/certificates/{number}")
    assert response.status_code == 200, response.text
    return response.json()


async def make_public(user: User, public: bool = True) -> None:
    response = await user.patch("/v1/me", json={"public_profile": public})
    assert response.status_code == 200, response.text
    assert response.json()["public_profile"] is public


# --- the certificate ---------------------------------------------------------------------------


async def test_the_certificate_page_shows_the_signed_certificate_and_that_it_verifies(api: Api) -> None:
    number, _, photo = await planted_through_the_ngo_api(api, "Ada Lovelace")
    document = await certificate_json(api, number)
    response = await api.client.get(f"/c/{number}")
    page = assert_page(response, 200, "en")
    words = text_of(page)

    assert f'<h1 id="certificate-title">{document["species"]}</h1>' in page
    assert document["species"] == "Cheap grove oak" and "Quercus testii" in words
    assert "Planted for Ada Lovelace" in words
    assert "Project Cheap grove" in words and "Planted by Green Hands" in words
    planted = document["planted_at"][:10]
    year, month, day = (int(part) for part in planted.split("-"))
    months = ["January", "February", "March", "April", "May", "June", "July", "August", "September"]
    months += ["October", "November", "December"]
    assert f"Planted on {months[month - 1]} {day}, {year}" in words
    assert "Location 10.000° N, 20.000° E" in words  # rounded to 3 decimals, as in the JSON
    assert f'<img src="/v1/photos/{photo}/thumbnail.jpg"' in page
    assert (await api.client.get(f"/v1/photos/{photo}/thumbnail.jpg")).status_code == 200

    assert "The signature verifies" in words and "does not verify" not in words
    key = (await api.client.get("/v1/certificates/public-key")).json()["public_key"]
    assert signing.verify(key, document)  # what the page says, checked here with only the public key
    for link in (f"/v1/certificates/{number}", f"/v1/certificates/{number}/image.png", "/v1/certificates/public-key"):
        assert f'href="{link}"' in page
        assert (await api.client.get(link)).status_code == 200
    assert "RFC 8785" in words and "Ed25519" in words  # how to check it independently


async def test_the_certificate_page_in_chinese_names_the_species_in_chinese(api: Api) -> None:
    number, _, _ = await planted_through_the_ngo_api(api, "Ada Lovelace")
    species = (await api.client.get("/v1/admin/species", headers=api.operator)).json()["items"]
    oak = next(s for s in species if s["common_name"] == "Cheap grove oak")
    patched = await api.client.patch(
        f"/v1/admin/species/{oak['id']}", json={"common_names": {"zh-Hans": "廉价橡树"}}, headers=api.operator
    )
    assert patched.status_code == 200, patched.text
    document = await certificate_json(api, number)
    assert document["species"] == "Cheap grove oak"  # the signed name stays as planted

    words = text_of(assert_page(await api.client.get(f"/c/{number}", headers=CHINESE), 200, "zh-Hans"))
    year, month, day = (int(part) for part in document["planted_at"][:10].split("-"))
    assert "廉价橡树" in words and "Cheap grove oak" in words and "Quercus testii" in words
    assert f"种植日期 {year}年{month}月{day}日" in words
    assert "北纬 10.000°，东经 20.000°" in words  # noqa: RUF001 (a Chinese comma)
    assert "签名验证通过" in words and "为 Ada Lovelace 种下" in words
    assert "The signature verifies" not in words


async def test_a_certificate_that_does_not_verify_says_so(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """The page checks the served document with the public key: a signature made with another key
    (what a reader's own check would refuse) is shown as not verifying."""
    number, _, _ = await planted_through_the_ngo_api(api)
    stranger = signing.Ed25519PrivateKey.generate()
    sign = signing.sign
    monkeypatch.setattr(signing, "sign", lambda key, document: sign(stranger, document))
    words = text_of(assert_page(await api.client.get(f"/c/{number}"), 200, "en"))
    assert "The signature does not verify" in words and "Do not rely on it" in words
    assert "The signature verifies" not in words


async def test_unknown_tampered_and_malformed_numbers_are_the_404_page(api: Api) -> None:
    number, _, _ = await planted_through_the_ngo_api(api)
    year, digits = number.split("-")[1:]
    tampered = [f"CNP-{year}-{int(digits) + 1:08d}", f"CNP-{int(year) - 1}-{digits}", number.lower()]
    malformed = ["CNP-2026-1", "x" * 300, f"{number}%00", f"{number}x", "%F0%9F%8C%B3", "%ED%A0%80"]
    generic = main_of(assert_page(await api.client.get("/no-such-page"), 404, "en"))
    for bad in tampered + malformed:
        response = await api.client.get(f"/c/{bad}")
        assert main_of(assert_page(response, 404, "en")) == generic, bad
    assert (await api.client.get(f"/c/{number}")).status_code == 200


async def test_the_qr_code_of_the_printable_certificate_opens_its_page(api: Api) -> None:
    number, _, _ = await planted_through_the_ngo_api(api)
    png = (await api.client.get(f"/v1/certificates/{number}/image.png")).content
    [code] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert code.text == f"{api.settings.public_base_url}/c/{number}"
    assert (await api.client.get(httpx.URL(code.text).path)).status_code == 200


# --- the profile -------------------------------------------------------------------------------


async def test_a_profile_is_shown_only_while_its_owner_makes_it_public(api: Api) -> None:
    number, user, _ = await planted_through_the_ngo_api(api, "Ada Lovelace")
    assert (await user.get("/v1/me")).json()["public_profile"] is False
    assert_page(await api.client.get(f"/u/{user.handle}"), 404, "en")
    assert_page(await api.client.get(f"/u/{user.handle}/forest.png"), 404, "en")

    await make_public(user)
    assert (await user.get("/v1/me")).json()["public_profile"] is True
    page = assert_page(await api.client.get(f"/u/{user.handle.upper()}"), 200, "en")
    words = text_of(page)
    assert "<h1>Ada Lovelace</h1>" in page and f"@{user.handle}" in words
    assert f'<a href="/c/{number}">Certificate {number}</a>' in page
    assert "Trees planted 1" in words and "Cheap grove oak" in words
    forest = await api.client.get(f"/u/{user.handle}/forest.png")
    assert forest.status_code == 200 and forest.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(forest.content)).width >= 512
    assert f'src="/u/{user.handle}/forest.png"' in page
    mine = await user.get("/v1/me/forest.png")
    assert mine.content == forest.content  # the same picture as the owner's own

    chinese = text_of(assert_page(await api.client.get(f"/u/{user.handle}", headers=CHINESE), 200, "zh-Hans"))
    assert "已种下的树 1" in chinese and "森林" in chinese and f"证书 {number}" in chinese

    await make_public(user, False)
    assert_page(await api.client.get(f"/u/{user.handle}"), 404, "en")


async def test_the_profile_counts_energy_collected_and_co2_avoided_from_the_ledger(api: Api) -> None:
    """CO2 avoided is the energy issued for the user's actions net of voids, whether a void takes
    from the balance or from an expired ball; the users' shares add up to `/v1/stats`. Energy
    collected is the all-time figure of the leaderboard."""
    partner = await make_partner(api)
    ada, bob = await api.register(), await api.register()
    issued = {ada.handle: (await ada.walk(10_000))["energy_g"], bob.handle: (await bob.walk(4_000))["energy_g"]}
    collected_then_voided = await report_body(ada, [("metro_ride", 2)])
    kept = await report_body(ada, [("reusable_cup", 1)])
    for body in (collected_then_voided, kept):
        response = await partner.report(body)
        assert response.status_code == 201, response.text
        issued[ada.handle] += response.json()["total_g"]
    await api.advance_to_next_morning()
    await ada.collect_all()
    await bob.collect_all()
    expired_then_voided = await report_body(ada, [("metro_ride", 1)])
    response = await partner.report(expired_then_voided)
    assert response.status_code == 201, response.text
    issued[ada.handle] += response.json()["total_g"]
    await api.advance((api.settings.ball_expires_after_h + 48) * 3600)
    await api.run_job("expire-balls")
    for body, source in ((collected_then_voided, "from_balance_g"), (expired_then_voided, "from_expired_g")):
        voided = (await partner.void(body["report_id"])).json()
        assert voided[source] == voided["voided_g"] > 0, voided
        issued[ada.handle] -= voided["voided_g"]

    assert (await api.client.get("/v1/stats")).json()["co2_avoided_g"] == sum(issued.values())
    for user in (ada, bob):
        await make_public(user)
        leaderboard = (await user.get("/v1/me/leaderboard", params={"period": "all"})).json()
        collected = next(item["collected_g"] for item in leaderboard["items"] if item["handle"] == user.handle)
        assert collected > 0
        words = text_of(assert_page(await api.client.get(f"/u/{user.handle}"), 200, "en"))
        assert f"Green energy collected {grams_as_shown(collected)}" in words, words
        assert f"CO₂ avoided {grams_as_shown(issued[user.handle])}" in words, words
        assert "Trees planted 0" in words and "No tree has been planted yet." in words


@pytest.mark.parametrize("state", ["private", "suspended", "deleted"])
async def test_every_hidden_profile_is_the_same_404_as_an_unknown_handle(api: Api, state: str) -> None:
    user = await api.register()
    await make_public(user, state != "private")
    if state == "suspended":
        response = await api.client.post(
            f"/v1/admin/users/{user.id}/suspend", json={"reason": "spam"}, headers=api.operator
        )
        assert response.status_code == 200, response.text
    elif state == "deleted":
        assert (await user.delete("/v1/me")).status_code == 204
    unknown = "nobody_here"
    for suffix in ("", "/forest.png"):
        hidden = await api.client.get(f"/u/{user.handle}{suffix}")
        missing = await api.client.get(f"/u/{unknown}{suffix}")
        assert_page(hidden, 404, "en")
        assert_page(missing, 404, "en")
        assert hidden.text.replace(user.handle, "HANDLE") == missing.text.replace(unknown, "HANDLE")
        assert same_headers(hidden) == same_headers(missing)
    for bad in ("ab", "x" * 31, "white%20space", "%ED%A0%80", "a%00b", "K%E2%84%AA"):
        assert_page(await api.client.get(f"/u/{bad}"), 404, "en")


async def test_patch_me_public_profile_takes_only_a_boolean(api: Api) -> None:
    user = await api.register()
    assert user.tokens["user"]["public_profile"] is False  # registration answers it too
    for body in ({"public_profile": "true"}, {"public_profile": 1}, {"public_profile": None}, {"public_profile": []}):
        response = await user.patch("/v1/me", json=body)
        assert response.status_code in (400, 422), (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert (await user.get("/v1/me")).json()["public_profile"] is False  # nothing changed
    await make_public(user)
    response = await user.patch("/v1/me", json={"display_name": "Renamed"})
    assert response.json()["public_profile"] is True  # other changes keep it


# --- in a browser: from the QR code on the printed certificate to its page ----------------------


@pytest.fixture
def base(settings: Settings, tmp_path: Path) -> Iterator[str]:
    """A real server whose public base URL is its own address, so the QR code points at it."""
    port = free_port()
    public_base_url = f"http://127.0.0.1:{port}"
    with running_servers(settings, tmp_path, port=port, public_base_url=public_base_url) as (base,):
        assert base == public_base_url
        yield base


chromium = test_browser.browser
"""test_browser's Chromium, started over this module's `base` (pytest finds a fixture by this name)."""


@pytest.fixture
def planted(settings: Settings, base: str) -> tuple[str, str]:
    """A tree planted end to end through the real server's API (before the browser's event loop
    starts); its owner's profile made public, its species given a Chinese name. Returns the
    certificate number and the owner's handle."""

    async def plant() -> tuple[str, str]:
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            api = Api(client, settings)
            number, user, _ = await planted_through_the_ngo_api(api, "Ada Lovelace")
            await make_public(user)
            species = (await client.get("/v1/admin/species", headers=api.operator)).json()["items"]
            oak = next(s for s in species if s["common_name"] == "Cheap grove oak")
            response = await client.patch(
                f"/v1/admin/species/{oak['id']}", json={"common_names": {"zh-Hans": "栎树"}}, headers=api.operator
            )
            assert response.status_code == 200, response.text
            return number, user.handle

    return asyncio.run(plant())


@pytest.mark.browser
def test_the_qr_code_opens_a_page_that_says_the_signature_verifies(
    planted: tuple[str, str], chromium: Browser, base: str
) -> None:
    number, handle = planted
    png = httpx.get(f"{base}/v1/certificates/{number}/image.png", timeout=30).content
    [code] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert code.text == f"{base}/c/{number}"

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    pages = {"certificate": code.text, "profile": f"{base}/u/{handle}"}
    for language, accept_language in ACCEPT_LANGUAGE.items():
        for width in WIDTHS:
            context = chromium.new_context(
                viewport={"width": width, "height": 800}, extra_http_headers={"Accept-Language": accept_language}
            )
            page = context.new_page()
            for name, url in pages.items():
                response = page.goto(url)
                assert response is not None and response.status == 200, url
                assert page.locator("html").get_attribute("lang") == language
                images = page.locator("main img")
                for index in range(images.count()):  # the photo and the forest loaded (the CSP allows them)
                    assert images.nth(index).evaluate("image => image.complete && image.naturalWidth > 0"), url
                if name == "certificate":
                    verdict = page.locator(".verdict-title").inner_text()
                    assert verdict.endswith("The signature verifies" if language == "en" else "签名验证通过")
                    page.locator("details summary").click()  # the Python recipe, opened for axe too
                    recipe = page.locator("pre").inner_text()
                page.screenshot(path=SCREENSHOTS / f"{name}-{language}-{width}.png", full_page=True)
                assert serious_violations(page) == [], (name, language, width)
                assert page.evaluate("document.documentElement.scrollWidth") <= width, (name, language, width)
                headings = page.locator("h1, h2, h3").evaluate_all("hs => hs.map(h => Number(h.tagName[1]))")
                assert headings[0] == 1 and all(b - a <= 1 for a, b in itertools.pairwise(headings))
            context.close()
    # The page's own recipe for checking the certificate independently works as printed.
    checked = subprocess.run([sys.executable, "-c", recipe], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0 and checked.stdout.strip() == "valid", checked.stderr


async def test_names_are_shown_as_text_never_as_markup(api: Api) -> None:
    name = '<script>alert("x")</script> & Co'
    number, user, _ = await planted_through_the_ngo_api(api, name)
    await make_public(user)
    for path in (f"/c/{number}", f"/u/{user.handle}"):
        for headers in ({}, CHINESE):
            page = (await api.client.get(path, headers=headers)).text
            assert "<script>" not in page and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co" in page, path
