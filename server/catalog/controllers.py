"""The public catalogue (SPEC 3) and the operator's project status switch (SPEC 9)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Controller, MediaType, get, patch
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import operator_guard
from server.catalog import service
from server.catalog.schemas import (
    ActionTypePublic,
    ProjectPublic,
    ProjectStatusUpdate,
    SpeciesPublic,
    feature_collection,
)
from server.pagination import Page
from server.trees import service as trees
from server.validation import ResourceId


class CatalogController(Controller):
    """Small, public lists: returned whole, with `next_cursor` always null."""

    path = "/"
    tags = ["catalogue"]

    @get("/catalog/actions")
    async def actions(self, db_session: NamedDependency[AsyncSession]) -> Page[ActionTypePublic]:
        return Page(items=await service.list_actions(db_session))

    @get("/species")
    async def species(self, db_session: NamedDependency[AsyncSession]) -> Page[SpeciesPublic]:
        return Page(items=await service.list_species(db_session))

    @get("/projects")
    async def projects(
        self, db_session: NamedDependency[AsyncSession], now: NamedDependency[datetime]
    ) -> Page[ProjectPublic]:
        return Page(items=await service.list_projects(db_session, now))

    @get("/projects.geojson", media_type="application/geo+json")
    async def projects_geojson(
        self, db_session: NamedDependency[AsyncSession], now: NamedDependency[datetime]
    ) -> dict[str, Any]:
        return feature_collection(await service.list_projects(db_session, now))


class AdminProjectController(Controller):
    path = "/admin/projects"
    tags = ["operator"]
    guards = [operator_guard]
    security = [{"operator": []}]

    @patch("/{project_id:str}", media_type=MediaType.JSON)
    async def update_status(
        self,
        db_session: NamedDependency[AsyncSession],
        now: NamedDependency[datetime],
        project_id: FromPath[ResourceId],
        data: JSONBody[ProjectStatusUpdate],
    ) -> dict[str, Any]:
        """Pause, reopen or close a project; closing cancels growing trees and refunds queued ones."""
        project = await service.get_project(db_session, project_id)
        effects: dict[str, int] = {}
        if data.status == "closed" and project.status != "closed":
            effects = await trees.close_project(db_session, project.id, now)
        project.status = data.status
        db_session.add(project)
        await db_session.flush()
        return {"id": project.id, "status": project.status, **effects}
