"""The language plumbing of every JSON route (server/content_language.py), on a route that Litestar's
response cache keeps: a cached answer in one language is never served for another, and a replayed
answer still says its language."""

from __future__ import annotations

from typing import get_args

from litestar import Litestar, get
from litestar.config.response_cache import ResponseCacheConfig
from litestar.di import NamedDependency, Provide
from litestar.testing import AsyncTestClient

from server.catalog.schemas import TranslatedLanguage
from server.content_language import announce_language, language_cache_key, provide_language
from server.i18n import DEFAULT_LANGUAGE, LANGUAGES, Language, gettext, negotiate

calls: list[Language] = []


@get("/word", cache=60, sync_to_thread=False)
def word(answer_language: NamedDependency[Language]) -> dict[str, str]:
    calls.append(answer_language)
    return {"word": gettext(answer_language, "Simplified Chinese")}


@get("/plain", sync_to_thread=False)
def plain() -> dict[str, str]:
    return {"word": "same in every language"}


def make_app() -> Litestar:
    return Litestar(
        route_handlers=[word, plain],
        dependencies={"answer_language": Provide(provide_language, sync_to_thread=False)},
        before_send=[announce_language],
        response_cache_config=ResponseCacheConfig(key_builder=language_cache_key),
    )


async def test_a_cached_answer_stays_in_its_language() -> None:
    calls.clear()
    async with AsyncTestClient(make_app()) as client:
        asked = [("en", "en"), ("zh-CN", "zh-Hans"), ("en-US", "en"), ("zh", "zh-Hans"), ("de", "en")]
        for header, language in asked:
            response = await client.get("/word", headers={"Accept-Language": header})
            assert response.json()["word"] == {"en": "Simplified Chinese", "zh-Hans": "简体中文"}[language]
            assert response.headers["content-language"] == language
            assert response.headers["vary"] == "Accept-Language"
        assert calls == ["en", "zh-Hans"]  # the rest came from the cache, each from its own language's entry


async def test_a_route_that_asks_no_language_announces_none() -> None:
    async with AsyncTestClient(make_app()) as client:
        response = await client.get("/plain", headers={"Accept-Language": "zh"})
        assert response.status_code == 200
        assert "content-language" not in response.headers and "vary" not in response.headers


def test_a_stored_language_fills_in_for_a_header_naming_none_of_ours() -> None:
    assert negotiate(None, default="zh-Hans") == "zh-Hans"
    assert negotiate("de-DE, fr;q=0.5", default="zh-Hans") == "zh-Hans"
    assert negotiate("de-DE, en;q=0.1", default="zh-Hans") == "en"


def test_every_language_but_english_can_name_a_translation() -> None:
    assert set(get_args(TranslatedLanguage)) == set(LANGUAGES) - {DEFAULT_LANGUAGE}
