"""The web layer over HTTP (SPEC 12.1, 12.2): languages, the switcher, static files, error pages."""

from __future__ import annotations

import asyncio
import hashlib
import re
from pathlib import Path

import pytest
from litestar import Controller, get
from litestar.exceptions import NotAuthorizedException

from server.errors import DomainError, Forbidden
from tests.api import Api

STATIC_DIR = Path(__file__).parents[2] / "server" / "web" / "static"
CHINESE = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "strict-origin-when-cross-origin",
}


def html_lang(html: str) -> str:
    found = re.search(r'<html lang="([^"]+)">', html)
    assert found, html[:200]
    return found.group(1)


def switcher_link(html: str, language: str) -> str:
    found = re.search(rf'<a href="([^"]+)" lang="{language}"', html)
    assert found, html
    return found.group(1).replace("&amp;", "&")


def assert_page(response: object, status: int, language: str) -> str:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "text/html; charset=utf-8"  # type: ignore[attr-defined]
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value  # type: ignore[attr-defined]
    policy = response.headers["content-security-policy"]  # type: ignore[attr-defined]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    html: str = response.text  # type: ignore[attr-defined]
    assert html_lang(html) == language
    return html


async def test_the_home_page_speaks_english_by_default_and_chinese_when_asked(api: Api) -> None:
    english = assert_page(await api.client.get("/"), 200, "en")
    assert "<h1" in english and "Canopy in numbers" in english and "Alxa nursery" in english
    assert '<main id="main"' in english and 'href="#main"' in english and "<footer" in english

    chinese = assert_page(await api.client.get("/", headers=CHINESE), 200, "zh-Hans")
    assert "Canopy 绿荫数据" in chinese and "种植项目" in chinese and "Canopy in numbers" not in chinese
    assert "Alxa nursery" in chinese  # names are data, shown as they are

    unknown = await api.client.get("/", headers={"Accept-Language": "fr-FR, de;q=0.8"})
    assert html_lang(unknown.text) == "en"


async def test_the_cookie_wins_over_accept_language(api: Api) -> None:
    response = await api.client.get("/", headers={**CHINESE, "Cookie": "lang=en"})
    assert html_lang(response.text) == "en"
    response = await api.client.get("/", headers={"Accept-Language": "en", "Cookie": "lang=zh-Hans"})
    assert html_lang(response.text) == "zh-Hans"
    response = await api.client.get("/", headers={**CHINESE, "Cookie": "lang=klingon"})
    assert html_lang(response.text) == "zh-Hans"


async def test_the_switcher_sets_the_cookie_and_returns_to_the_same_page(api: Api) -> None:
    english = assert_page(await api.client.get("/?from=test"), 200, "en")
    link = switcher_link(english, "zh-Hans")
    assert link.startswith("/language?")

    switched = await api.client.get(link, follow_redirects=False)
    assert switched.status_code == 303
    assert switched.headers["location"] == "/?from=test"
    cookie = switched.headers["set-cookie"]
    assert cookie.startswith("lang=zh-Hans;")
    assert "Max-Age=31536000" in cookie and "samesite=lax" in cookie.lower() and "HttpOnly" in cookie
    assert "Secure" not in cookie  # development; production sets it

    chinese = assert_page(await api.client.get("/?from=test"), 200, "zh-Hans")  # the client keeps the cookie
    back = await api.client.get(switcher_link(chinese, "en"), follow_redirects=False)
    assert back.headers["location"] == "/?from=test"
    assert html_lang((await api.client.get("/", headers=CHINESE)).text) == "en"


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example", "", "x"])
async def test_the_switcher_never_leaves_the_site(api: Api, target: str) -> None:
    response = await api.client.get("/language", params={"lang": "en", "next": target}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/"


async def test_an_unknown_language_sets_no_cookie(api: Api) -> None:
    response = await api.client.get("/language", params={"lang": "fr", "next": "/"}, follow_redirects=False)
    assert response.status_code == 303 and "set-cookie" not in response.headers


async def test_numbers_dates_and_projects_on_the_home_page(api: Api) -> None:
    walker = await api.register()
    await walker.walk(5_000)
    co2_g = (await api.client.get("/v1/stats")).json()["co2_avoided_g"]
    assert co2_g > 0
    paused = await api.project("Alxa desert restoration")
    response = await api.client.patch(
        f"/v1/admin/projects/{paused['id']}", json={"status": "paused"}, headers=api.operator
    )
    assert response.status_code == 200, response.text
    today = await api.today()

    english = (await api.client.get("/")).text
    assert f"<dd>{round(co2_g / 1000, 1)}</dd>" in english
    assert f"Figures as of {today.strftime('%B')} {today.day}, {today.year}." in english
    assert "Alxa nursery" in english and "Alxa desert restoration" not in english  # only active projects

    chinese = (await api.client.get("/", headers=CHINESE)).text
    assert f"数据截至 {today.year}年{today.month}月{today.day}日。" in chinese


async def test_concurrent_pages_in_different_languages_do_not_mix(api: Api) -> None:
    languages = ["en", "zh-Hans"] * 10
    responses = await asyncio.gather(*(api.client.get("/", headers={"Cookie": f"lang={lang}"}) for lang in languages))
    for language, response in zip(languages, responses, strict=True):
        assert html_lang(response.text) == language
        assert ("种植项目" in response.text) == (language == "zh-Hans")


async def test_static_files_have_fingerprinted_names_and_a_long_cache_life(api: Api) -> None:
    html = (await api.client.get("/")).text
    found = re.search(r'<link rel="stylesheet" href="(/static/canopy\.([0-9a-f]{12})\.css)">', html)
    assert found, html
    url, fingerprint = found.groups()
    content = (STATIC_DIR / "canopy.css").read_bytes()
    assert fingerprint == hashlib.sha256(content).hexdigest()[:12]

    response = await api.client.get(url)
    assert response.status_code == 200
    assert response.content == content
    assert response.headers["content-type"] == "text/css; charset=utf-8"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["x-content-type-options"] == "nosniff"

    for missing in ("/static/canopy.000000000000.css", "/static/canopy.css", "/static/../pages.py"):
        assert_page(await api.client.get(missing), 404, "en")


class Refusals(Controller):
    """Handlers that fail on purpose, on a page path and under /v1 alike."""

    @get("/forbidden")
    async def forbidden(self) -> None:
        raise Forbidden("You may not.")

    @get("/unauthorized")
    async def unauthorized(self) -> None:
        raise NotAuthorizedException()

    @get("/throttled")
    async def throttled(self) -> None:
        raise DomainError("Slow down.", problem="rate-limited", status=429, headers={"Retry-After": "7"})

    @get("/broken")
    async def broken(self) -> None:
        raise RuntimeError("secret detail of a bug")


@pytest.fixture
async def refusing(api: Api) -> Api:
    for path in ("/test-errors", "/v1/test-errors"):
        api.client.app.register(type(f"Refusals{len(path)}", (Refusals,), {"path": path}))  # type: ignore[attr-defined]
    return api


@pytest.mark.parametrize(
    ("path", "status", "english", "chinese"),
    [
        ("/no-such-page", 404, "Page not found", "找不到页面"),
        ("/test-errors/forbidden", 403, "Not allowed", "不允许"),
        ("/test-errors/throttled", 429, "Too many requests", "请求过多"),
        ("/test-errors/broken", 500, "Something went wrong", "出错了"),
        ("/test-errors/unauthorized", 401, "This request could not be handled", "无法处理此请求"),
    ],
)
async def test_errors_on_page_paths_are_pages(
    refusing: Api, path: str, status: int, english: str, chinese: str
) -> None:
    response = await refusing.client.get(path)
    html = assert_page(response, status, "en")
    assert f"<h1>{english}</h1>" in html and f"Error {status}" in html
    assert "You may not" not in html and "secret detail" not in html and "Traceback" not in html
    if status == 429:
        assert response.headers["retry-after"] == "7"
    html = assert_page(await refusing.client.get(path, headers=CHINESE), status, "zh-Hans")
    assert f"<h1>{chinese}</h1>" in html and f"错误 {status}" in html


async def test_a_wrong_method_on_a_page_is_a_page_that_keeps_allow(api: Api) -> None:
    response = await api.client.post("/", content=b"")
    assert_page(response, 405, "en")
    assert "GET" in response.headers["allow"]


@pytest.mark.parametrize(
    ("path", "status", "problem"),
    [
        ("/v1/no-such-thing", 404, "not-found"),
        ("/v1/test-errors/forbidden", 403, "forbidden"),
        ("/v1/test-errors/throttled", 429, "rate-limited"),
        ("/v1/test-errors/broken", 500, "internal"),
        ("/metrics/no-such-thing", 404, "not-found"),
        ("/healthz", 404, "not-found"),
    ],
)
async def test_the_api_keeps_its_problem_json(refusing: Api, path: str, status: int, problem: str) -> None:
    response = await refusing.client.get(path, headers={**CHINESE, "Accept": "text/html"})
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == f"urn:canopy:problem:{problem}"
    assert "secret detail" not in response.text
