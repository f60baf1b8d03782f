"""Public certificates (SPEC 8.6): signed JSON, the public key, and a printable PNG."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, PathParameter
from sqlalchemy.ext.asyncio import AsyncSession

from server.certificates import image, service, signing
from server.errors import problems
from server.openapi import json_example
from server.settings import Settings

CertificateNumber = Annotated[str, PathParameter(pattern=service.NUMBER_PATTERN, max_length=20)]
ONE_DAY = 86_400


class CertificateController(Controller):
    path = "/certificates"
    tags = ["certificates"]

    @get(
        "/public-key",
        cache=ONE_DAY,
        responses={
            200: json_example(
                {"algorithm": "Ed25519", "public_key": "Xq2b8VvA1mN0cR7tK5wP9eL3sD6fH4jG2kZ8yU1oI0Q"}, "The signing key"
            )
        },
    )
    async def public_key(self, signing_key: NamedDependency[Ed25519PrivateKey]) -> dict[str, str]:
        """Public: the Ed25519 key certificates are signed with, base64url of its 32 raw bytes (SPEC 8.6)."""
        return {"algorithm": "Ed25519", "public_key": signing.public_key_b64(signing_key)}

    @get(
        "/{number:str}",
        responses={
            200: json_example(
                {
                    "number": "CNP-2026-00000412",
                    "species": "Saxaul",
                    "scientific_name": "Haloxylon ammodendron",
                    "project": "Alxa Desert Belt",
                    "ngo": "Green Sands",
                    "planted_at": "2026-03-12T03:20:00Z",
                    "lat": 38.912,
                    "lon": 105.634,
                    "owner_display_name": "Mei Lin",
                    "photo_thumbnail_url": "https://canopy.example.org/v1/photos/0193f1d2-9a4b-7c0d-8e1f-2a3b4c5d6e7f/thumbnail.jpg",
                    "signature": (
                        "BwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4_QEFCQ0RFRg"
                    ),
                },
                "The certificate and its signature",
            ),
            **problems("certificate-not-found"),
        },
    )
    async def read(
        self,
        settings: NamedDependency[Settings],
        signing_key: NamedDependency[Ed25519PrivateKey],
        db_session: NamedDependency[AsyncSession],
        number: FromPath[CertificateNumber],
    ) -> dict[str, Any]:
        """Public: a certificate and its Ed25519 signature over the RFC 8785 form of everything else (SPEC 8.6)."""
        return service.signed_document(await service.get(db_session, number), settings.public_base_url, signing_key)

    @get("/{number:str}/image.png", cache=ONE_DAY, media_type="image/png", responses=problems("certificate-not-found"))
    async def image(
        self,
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
        number: FromPath[CertificateNumber],
    ) -> Response[bytes]:
        """Public: the printable certificate; its QR code opens the certificate's web page (SPEC 8.6, 12.2)."""
        document = service.public_document(await service.get(db_session, number), settings.public_base_url)
        page_url = service.page_url(settings.public_base_url, number)
        png = await anyio.to_thread.run_sync(image.render, document, page_url)
        return Response(png, media_type="image/png")
