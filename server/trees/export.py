"""The trees domain's part of GET /me/export: every tree of the user, whatever became of it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.pagination import ExportPage, export_rows
from server.trees.models import Tree

TREE_FIELDS = (
    "id",
    "project_id",
    "species_id",
    "cost_g",
    "status",
    "auto_plant",
    "rejections",
    "queued_at",
    "ordered_at",
    "planted_at",
    "refunded_at",
    "certificate_number",
    "created_at",
)


async def export_trees(session: AsyncSession, user_id: str, cursor: str | None, limit: int) -> ExportPage:
    query = select(Tree).where(col(Tree.user_id) == user_id)
    return await export_rows(session, query, col(Tree.id), TREE_FIELDS, cursor, limit)
