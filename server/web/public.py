"""The public pages of one certificate and of one user (SPEC 12.2): `/c/{number}`, `/u/{handle}`.

They read through the same services as the JSON API: the certificate page shows the document of
`GET /v1/certificates/{number}` and checks its signature with only the public key; the profile
shows what its owner chose to make public. Anything a page cannot show is the one 404 page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from server.certificates import service as certificates
from server.energy.balls import forest_picture
from server.settings import Settings
from server.social.leaderboard import collected_g
from server.stats.service import co2_avoided_by
from server.users import service as users
from server.web.pages import page, page_language

TREES_SHOWN = 100
"""The profile lists this many of the newest plantings; it says how many there are in all."""
FOREST_CACHE_CONTROL = "public, max-age=60"


class CertificatePageController(Controller):
    path = "/c"
    include_in_schema = False

    @get("/{number:str}")
    async def certificate(
        self,
        request: Request[Any, Any, Any],
        settings: NamedDependency[Settings],
        signing_key: NamedDependency[Ed25519PrivateKey],
        db_session: NamedDependency[AsyncSession],
        number: FromPath[str],
    ) -> Template:
        """The page the QR code on the printed certificate opens. A number never issued (or not a
        number at all) is the 404 page."""
        certificate = await certificates.for_page(db_session, number, settings.public_base_url, signing_key)
        return page(
            request,
            "certificate.html",
            {
                "certificate": certificate,
                "species": certificate.species_in(page_language(request)),
                "base_url": settings.public_base_url.rstrip("/"),
            },
        )


class ProfilePageController(Controller):
    path = "/u"
    include_in_schema = False

    @get("/{handle:str}")
    async def profile(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        now: NamedDependency[datetime],
        handle: FromPath[str],
    ) -> Template:
        """Only for a user who set `public_profile`; a private, suspended, deleted or unknown handle
        gets the same 404 page, so the page does not tell whether an account exists."""
        owner = await users.public_profile_owner(db_session, handle)
        planted, planted_count = await certificates.owned_by(db_session, owner.id, page_language(request), TREES_SHOWN)
        context = {
            "owner": owner,
            "planted": planted,
            "planted_count": planted_count,
            "collected_g": (await collected_g(db_session, [owner.id], now)).get(owner.id, 0),
            "co2_avoided_g": await co2_avoided_by(db_session, owner.id),
        }
        return page(request, "profile.html", context)

    @get("/{handle:str}/forest.png", media_type="image/png")
    async def forest(
        self, db_session: NamedDependency[AsyncSession], now: NamedDependency[datetime], handle: FromPath[str]
    ) -> Response[bytes]:
        """The picture of `GET /v1/me/forest.png`, for a public profile only (else the same 404)."""
        owner = await users.public_profile_owner(db_session, handle)
        rendered = await forest_picture(db_session, owner.id, now)
        return Response(rendered.png, media_type="image/png", headers={"Cache-Control": FOREST_CACHE_CONTROL})
