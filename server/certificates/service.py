"""Issuing certificate numbers, freezing what a certificate shows, and reading it back signed
(SPEC 8.6): for the JSON API, the certificate's web page and its owner's public profile (12.2)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.catalog.models import Project, Species
from server.certificates import signing
from server.certificates.models import Certificate, CertificateCounter
from server.db import dialect_insert
from server.errors import NotFound
from server.i18n import Language
from server.planting.models import Ngo
from server.trees.models import Tree, TreeStatus
from server.users.models import User

NUMBER_PATTERN = r"^CNP-\d{4}-\d{8}$"


async def next_number(session: AsyncSession, now: datetime) -> str:
    """`CNP-<UTC year>-<8 digits>`: one atomic upsert on the year's counter row."""
    insert = dialect_insert(session)
    statement = insert(CertificateCounter).values(year=now.year, last_number=1)
    statement = statement.on_conflict_do_update(
        index_elements=[col(CertificateCounter.year)],
        set_={"last_number": col(CertificateCounter.last_number) + 1},
    ).returning(col(CertificateCounter.last_number))
    number = (await session.execute(statement)).scalar_one()
    return f"CNP-{now.year}-{number:08d}"


async def issue(
    session: AsyncSession,
    *,
    tree_id: str,
    planted_at: datetime,
    lat: float,
    lon: float,
    photo_id: str,
    now: datetime,
) -> str:
    """Number a certificate for an accepted planting and freeze its contents; returns the number.

    The caller (the planting service) sets `trees.certificate_number` in the same transaction.
    """
    row = (
        await session.execute(
            select(Tree, Species, Project, Ngo, User)
            .join(Species, col(Species.id) == col(Tree.species_id))
            .join(Project, col(Project.id) == col(Tree.project_id))
            .join(Ngo, col(Ngo.id) == col(Project.ngo_id))
            .join(User, col(User.id) == col(Tree.user_id))
            .where(col(Tree.id) == tree_id)
        )
    ).one()
    tree, species, project, ngo, owner = row
    number = await next_number(session, now)
    session.add(
        Certificate(
            number=number,
            tree_id=tree.id,
            species=species.common_name,
            scientific_name=species.scientific_name,
            project=project.name,
            ngo=ngo.name,
            planted_at=planted_at,
            lat=lat,
            lon=lon,
            owner_display_name=owner.display_name,
            photo_id=photo_id,
            issued_at=now,
        )
    )
    await session.flush()
    return number


def photo_path(photo_id: str) -> str:
    """Where the planting photo's public thumbnail is served, on this site."""
    return f"/v1/photos/{photo_id}/thumbnail.jpg"


def public_document(certificate: Certificate, public_base_url: str) -> dict[str, Any]:
    """The certificate as published and signed (SPEC 8.6), without its signature."""
    return {
        "number": certificate.number,
        "species": certificate.species,
        "scientific_name": certificate.scientific_name,
        "project": certificate.project,
        "ngo": certificate.ngo,
        "planted_at": certificate.planted_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "lat": round(certificate.lat, 3),
        "lon": round(certificate.lon, 3),
        "owner_display_name": certificate.owner_display_name,
        "photo_thumbnail_url": public_base_url.rstrip("/") + photo_path(certificate.photo_id),
    }


def page_url(public_base_url: str, number: str) -> str:
    """The certificate's web page (SPEC 12.2), which the QR code on its printable image opens."""
    return f"{public_base_url.rstrip('/')}/c/{number}"


async def get(session: AsyncSession, number: str) -> Certificate:
    """A certificate by number; anything that is not an issued number (malformed ones too) is 404."""
    certificate = await session.get(Certificate, number) if re.fullmatch(NUMBER_PATTERN, number) else None
    if certificate is None:
        raise NotFound("No such certificate.", problem="certificate-not-found")
    return certificate


def signed_document(certificate: Certificate, public_base_url: str, key: Ed25519PrivateKey) -> dict[str, Any]:
    """`GET /v1/certificates/{number}`: the public document and its signature."""
    document = public_document(certificate, public_base_url)
    return {**document, "signature": signing.sign(key, document)}


@dataclass(frozen=True, slots=True)
class CertificatePage:
    """What the page `/c/{number}` shows: the document exactly as the JSON API publishes it,
    whether that document verifies under the published public key, the photo, and the species'
    translated common names (the signed `species` is the English one, frozen at planting)."""

    document: dict[str, Any]
    verified: bool
    planted_at: datetime
    photo_path: str
    common_names: dict[str, str]

    def species_in(self, language: Language) -> str:
        return self.common_names.get(language) or str(self.document["species"])


async def for_page(session: AsyncSession, number: str, public_base_url: str, key: Ed25519PrivateKey) -> CertificatePage:
    """The certificate, checked as a third party would check it: the document the JSON API serves,
    verified with only the public key it serves (`signing.verify`; docs/tour.md does the same
    offline), so the page says what a reader's own check of the JSON would say."""
    certificate = await get(session, number)
    document = signed_document(certificate, public_base_url, key)
    common_names = (
        await session.execute(
            select(col(Species.common_names))
            .join(Tree, col(Tree.species_id) == col(Species.id))
            .where(col(Tree.id) == certificate.tree_id)
        )
    ).scalar()
    return CertificatePage(
        document=document,
        verified=signing.verify(signing.public_key_b64(key), document),
        planted_at=certificate.planted_at,
        photo_path=photo_path(certificate.photo_id),
        common_names=dict(common_names or {}),
    )


@dataclass(frozen=True, slots=True)
class OwnedCertificate:
    number: str
    species: str
    project: str
    planted_at: datetime


async def owned_by(
    session: AsyncSession, user_id: str, language: Language, limit: int
) -> tuple[list[OwnedCertificate], int]:
    """A user's planted trees with their certificates, newest planting first (at most `limit`),
    with the species named in `language`; and how many they have in all."""
    planted = (col(Tree.user_id) == user_id, col(Tree.status) == TreeStatus.PLANTED)
    total = (await session.execute(select(func.count()).select_from(Tree).where(*planted))).scalar_one()
    rows = (
        await session.execute(
            select(Certificate, col(Species.common_names))
            .join(Tree, col(Tree.certificate_number) == col(Certificate.number))
            .join(Species, col(Species.id) == col(Tree.species_id))
            .where(*planted)
            .order_by(col(Certificate.planted_at).desc(), col(Certificate.number).desc())
            .limit(limit)
        )
    ).all()
    owned = [
        OwnedCertificate(
            number=certificate.number,
            species=(names or {}).get(language) or certificate.species,
            project=certificate.project,
            planted_at=certificate.planted_at,
        )
        for certificate, names in rows
    ]
    return owned, int(total)
