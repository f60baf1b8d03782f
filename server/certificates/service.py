"""Issuing certificate numbers and freezing what a certificate shows (SPEC 8.6)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.catalog.models import Project, Species
from server.certificates.models import Certificate, CertificateCounter
from server.db import dialect_insert
from server.errors import NotFound
from server.planting.models import Ngo
from server.trees.models import Tree
from server.users.models import User


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
        "photo_thumbnail_url": f"{public_base_url.rstrip('/')}/v1/photos/{certificate.photo_id}/thumbnail.jpg",
    }


async def get(session: AsyncSession, number: str) -> Certificate:
    certificate = await session.get(Certificate, number)
    if certificate is None:
        raise NotFound("No such certificate.", problem="certificate-not-found")
    return certificate
