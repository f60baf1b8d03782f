"""The certificates domain's part of GET /me/export: the certificate of each of the user's planted
trees (anyone may verify one by its number)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.certificates.models import Certificate
from server.pagination import ExportPage, export_rows
from server.trees.models import Tree

CERTIFICATE_FIELDS = (
    "number",
    "tree_id",
    "species",
    "scientific_name",
    "project",
    "ngo",
    "planted_at",
    "lat",
    "lon",
    "owner_display_name",
    "issued_at",
)


async def export_certificates(session: AsyncSession, user_id: str, cursor: str | None, limit: int) -> ExportPage:
    query = select(Certificate).join(Tree, col(Tree.id) == col(Certificate.tree_id)).where(col(Tree.user_id) == user_id)
    return await export_rows(session, query, col(Certificate.number), CERTIFICATE_FIELDS, cursor, limit)
