"""Rendering a page: the Jinja environment, the request's language, and the headers every page has.

One environment serves every language: `_()`, `gettext`, `ngettext` and `{% trans %}` read the
language from the render context (`language`, put there by `page()`), never from state shared
between requests, so concurrent renders in different languages cannot mix.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, cast

from babel.dates import format_date
from babel.numbers import format_decimal
from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context
from jinja2.runtime import Context
from litestar import MediaType, Request
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template.config import TemplateConfig

from server.i18n import LANGUAGES, Language, babel_locale, negotiate, translations
from server.web.static import static_url

TEMPLATES_DIR = Path(__file__).parent / "templates"
LANGUAGE_COOKIE = "lang"
"""The language a person chose with the switcher; it wins over `Accept-Language`."""

LANGUAGE_NAMES: dict[Language, str] = {"en": "English", "zh-Hans": "简体中文"}
"""Each language named in itself, as the switcher shows it."""

ReferrerPolicy = Literal["strict-origin-when-cross-origin", "no-referrer"]

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def page_language(request: Request[Any, Any, Any]) -> Language:
    """The `lang` cookie when it names one of our languages, else the best match of `Accept-Language`."""
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    return negotiate(request.headers.get("accept-language"))


def security_headers(referrer_policy: ReferrerPolicy = "strict-origin-when-cross-origin") -> dict[str, str]:
    """What every page is served with; pages whose URL carries a secret ask for `no-referrer`."""
    return {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": referrer_policy,
        # The same URL answers in the language of the cookie or of Accept-Language.
        "Vary": "Accept-Language, Cookie",
    }


def page(
    request: Request[Any, Any, Any],
    template_name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    referrer_policy: ReferrerPolicy = "strict-origin-when-cross-origin",
    headers: dict[str, str] | None = None,
) -> Template:
    """A page: `template_name` rendered in the request's language, with the security headers."""
    return Template(
        template_name=template_name,
        context={**(context or {}), "language": page_language(request), "here": _here(request)},
        status_code=status_code,
        headers={**(headers or {}), **security_headers(referrer_policy)},
        media_type=MediaType.HTML,
    )


def local_path(target: str | None) -> str:
    """`target` if it is a path on this site, else `/`: the switcher must not redirect elsewhere."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")) or any(c in target for c in "\r\n"):
        return "/"
    return target


def _here(request: Request[Any, Any, Any]) -> str:
    """This page's path and query: where the language switcher comes back to."""
    query = request.url.query
    return f"{request.url.path}?{query}" if query else request.url.path


def _language(context: Context) -> Language:
    language = context.get("language")
    if language not in LANGUAGES:
        raise RuntimeError("rendered without a language: render pages with page(), import macros `with context`")
    return cast(Language, language)


@pass_context
def _gettext(context: Context, message: str) -> str:
    return translations(_language(context)).gettext(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, count: int) -> str:
    return translations(_language(context)).ngettext(singular, plural, count)


@pass_context
def _format_number(context: Context, value: float) -> str:
    return format_decimal(value, locale=babel_locale(_language(context)))


@pass_context
def _format_date(context: Context, value: date | datetime, style: str = "long") -> str:
    return format_date(value, format=style, locale=babel_locale(_language(context)))


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        undefined=StrictUndefined,  # a misspelt variable fails the render (and the tests), not the page
        extensions=["jinja2.ext.i18n"],
    )
    environment.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    environment.globals["_"] = environment.globals["gettext"]
    environment.globals["static_url"] = static_url
    environment.globals["LANGUAGE_NAMES"] = LANGUAGE_NAMES
    environment.filters["number"] = _format_number
    environment.filters["date"] = _format_date
    return environment


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(_environment()))
