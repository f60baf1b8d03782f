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
from server.settings import Settings

CertificateNumber = Annotated[str, PathParameter(pattern=service.NUMBER_PATTERN, max_length=20)]
ONE_DAY = 86_400


class CertificateController(Controller):
    path = "/certificates"
    tags = ["certificates"]

    @get("/public-key", cache=ONE_DAY)
    async def public_key(self, signing_key: NamedDependency[Ed25519PrivateKey]) -> dict[str, str]:
        return {"algorithm": "Ed25519", "public_key": signing.public_key_b64(signing_key)}

    @get("/{number:str}")
    async def read(
        self,
        settings: NamedDependency[Settings],
        signing_key: NamedDependency[Ed25519PrivateKey],
        db_session: NamedDependency[AsyncSession],
        number: FromPath[CertificateNumber],
    ) -> dict[str, Any]:
        """The certificate and its Ed25519 signature over the RFC 8785 form of everything else."""
        return service.signed_document(await service.get(db_session, number), settings.public_base_url, signing_key)

    @get("/{number:str}/image.png", cache=ONE_DAY, media_type="image/png")
    async def image(
        self,
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
        number: FromPath[CertificateNumber],
    ) -> Response[bytes]:
        """Rendered off the event loop; its QR code opens the certificate's web page (SPEC 8.6, 12.2)."""
        document = service.public_document(await service.get(db_session, number), settings.public_base_url)
        page_url = service.page_url(settings.public_base_url, number)
        png = await anyio.to_thread.run_sync(image.render, document, page_url)
        return Response(png, media_type="image/png")
