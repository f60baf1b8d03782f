"""What the operator console reads across domains (SPEC 12.4): queued trees per project, the
outboxes' failures, every project with its NGO. Read-only; the
console's changes go through each domain's own services, as the JSON API's do."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

from server.catalog.models import Project
from server.mail.models import Email
from server.notifications.models import Device, PushDelivery
from server.pagination import newest_first, page_of
from server.planting.models import Ngo
from server.trees.models import Tree, TreeStatus
from server.users.models import User
from server.webhooks.models import WebhookDelivery


class QueuedTrees(SQLModel):
    project_id: str
    project_name: str
    project_status: str
    trees: int
    oldest_queued_at: datetime | None


class FailedPush(SQLModel):
    id: str
    handle: str | None
    platform: str
    attempts: int
    last_error: str | None
    created_at: datetime


class ProjectRow(SQLModel):
    id: str
    name: str
    ngo_id: str
    ngo_name: str
    region: str
    status: str
    capacity_per_season: int


async def all_projects(session: AsyncSession) -> list[ProjectRow]:
    """Every project, closed ones too (the public list shows only active and paused), by name."""
    rows: Any = await session.execute(
        select(Project, col(Ngo.name).label("ngo_name"))
        .join(Ngo, col(Ngo.id) == col(Project.ngo_id))
        .order_by(col(Project.name))
    )
    return [
        ProjectRow(
            id=project.id,
            name=project.name,
            ngo_id=project.ngo_id,
            ngo_name=ngo_name,
            region=project.region,
            status=project.status,
            capacity_per_season=project.capacity_per_season,
        )
        for project, ngo_name in rows.all()
    ]


async def queued_by_project(session: AsyncSession) -> list[QueuedTrees]:
    """Queued trees of each project that has any, with the oldest one's `queued_at` (read from
    the partial queue index)."""
    rows = await session.execute(
        select(
            col(Project.id),
            col(Project.name),
            col(Project.status),
            func.count().label("trees"),
            func.min(col(Tree.queued_at)).label("oldest"),
        )
        .join(Project, col(Project.id) == col(Tree.project_id))
        .where(col(Tree.status) == TreeStatus.QUEUED)
        .group_by(col(Project.id), col(Project.name), col(Project.status))
        .order_by(col(Project.name))
    )
    return [
        QueuedTrees(
            project_id=row.id,
            project_name=row.name,
            project_status=row.status,
            trees=int(row.trees),
            oldest_queued_at=row.oldest,
        )
        for row in rows
    ]


async def failure_counts(session: AsyncSession) -> dict[str, int]:
    """Webhook deliveries, emails and pushes that gave up (`failed`), each counted on the index
    that starts with its status."""
    counts: dict[str, int] = {}
    for name, status in (
        ("webhooks", col(WebhookDelivery.status)),
        ("emails", col(Email.status)),
        ("pushes", col(PushDelivery.status)),
    ):
        counts[name] = int((await session.execute(select(func.count()).where(status == "failed"))).scalar_one())
    return counts


async def failed_pushes_page(
    session: AsyncSession, cursor: str | None, limit: int
) -> tuple[list[FailedPush], str | None]:
    """Pushes the relay never accepted, newest first, with the handle of the device's owner."""
    query: Any = (
        select(PushDelivery, col(Device.platform), col(User.handle))
        .join(Device, col(Device.id) == col(PushDelivery.device_id))
        .join(User, col(User.id) == col(Device.user_id))
        .where(col(PushDelivery.status) == "failed")
    )
    rows = list((await session.execute(newest_first(query, col(PushDelivery.id), cursor, limit))).all())
    page, next_cursor = page_of(rows, limit, id_of=lambda row: row[0].id)
    return [
        FailedPush(
            id=push.id,
            handle=handle,
            platform=platform,
            attempts=push.attempts,
            last_error=push.last_error,
            created_at=push.created_at,
        )
        for push, platform, handle in page
    ], next_cursor
