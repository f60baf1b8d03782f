"""The public pages (SPEC 12.2), the language switcher and `/static/`.

Pages are left out of the OpenAPI document: it describes the JSON API only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from server.i18n import LANGUAGES
from server.settings import Settings
from server.stats.service import public_stats, trees_planted_by_project
from server.web.pages import LANGUAGE_COOKIE, local_path, page
from server.web.static import IMMUTABLE, STATIC_PATH, find_asset

LANGUAGE_COOKIE_MAX_AGE_S = 365 * 24 * 3600


class HomeController(Controller):
    path = "/"
    include_in_schema = False

    @get("/")
    async def home(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession], now: NamedDependency[datetime]
    ) -> Template:
        stats = await public_stats(db_session)
        projects = await trees_planted_by_project(db_session, active_only=True)
        return page(request, "home.html", {"stats": stats, "projects": projects, "today": now.date()})


class LanguageController(Controller):
    """`GET /language?lang=zh-Hans&next=/path`: a plain link on every page, so it works without
    JavaScript; it only remembers a preference, so it needs no CSRF token."""

    path = "/language"
    include_in_schema = False

    @get("/")
    async def choose(
        self,
        settings: NamedDependency[Settings],
        lang: FromQuery[str | None] = None,
        next: FromQuery[str | None] = None,
    ) -> Redirect:
        cookies: list[Cookie] = []
        if lang in LANGUAGES:
            cookies.append(
                Cookie(
                    key=LANGUAGE_COOKIE,
                    value=lang,
                    max_age=LANGUAGE_COOKIE_MAX_AGE_S,
                    path="/",
                    samesite="lax",
                    httponly=True,
                    secure=settings.env == "production",
                )
            )
        return Redirect(path=local_path(next), status_code=303, cookies=cookies)


class StaticController(Controller):
    path = STATIC_PATH
    include_in_schema = False

    @get("/{name:str}")
    async def asset(self, name: FromPath[str]) -> Response[bytes]:
        asset = find_asset(name)
        if asset is None:
            raise NotFoundException()
        return Response(
            asset.content,
            media_type=asset.media_type,
            headers={"Cache-Control": IMMUTABLE, "X-Content-Type-Options": "nosniff"},
        )
