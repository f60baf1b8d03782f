"""The partners domain's part of GET /me/export: the partners the user linked, each with the
pseudonymous id that partner knows the user by. Green codes are short-lived credentials: left out."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.pagination import ExportPage, export_rows
from server.partners.models import PartnerLink

PARTNER_LINK_FIELDS = ("id", "partner_id", "user_ref", "linked_at", "unlinked_at")


async def export_partner_links(session: AsyncSession, user_id: str, cursor: str | None, limit: int) -> ExportPage:
    query = select(PartnerLink).where(col(PartnerLink.user_id) == user_id)
    return await export_rows(session, query, col(PartnerLink.id), PARTNER_LINK_FIELDS, cursor, limit)
