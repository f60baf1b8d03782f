"""The public catalogue (SPEC 3) and the operator's species and projects (SPEC 9)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from litestar import Controller, MediaType, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import operator_guard
from server.catalog import service
from server.catalog.schemas import (
    ActionTypePublic,
    AdminProject,
    ProjectCreate,
    ProjectPublic,
    ProjectUpdate,
    SpeciesCreate,
    SpeciesPublic,
    feature_collection,
)
from server.pagination import Page
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


class AdminSpeciesController(Controller):
    path = "/admin/species"
    tags = ["operator"]
    guards = [operator_guard]
    security = [{"operator": []}]

    @post("/", status_code=201)
    async def create(self, db_session: NamedDependency[AsyncSession], data: JSONBody[SpeciesCreate]) -> SpeciesPublic:
        return await service.create_species(db_session, data)


class AdminProjectController(Controller):
    path = "/admin/projects"
    tags = ["operator"]
    guards = [operator_guard]
    security = [{"operator": []}]

    @post("/", status_code=201)
    async def create(
        self,
        db_session: NamedDependency[AsyncSession],
        now: NamedDependency[datetime],
        data: JSONBody[ProjectCreate],
    ) -> AdminProject:
        project = await service.create_project(db_session, data, now)
        return await service.admin_project(db_session, project)

    @patch("/{project_id:str}", media_type=MediaType.JSON)
    async def update(
        self,
        db_session: NamedDependency[AsyncSession],
        now: NamedDependency[datetime],
        project_id: FromPath[ResourceId],
        data: JSONBody[ProjectUpdate],
    ) -> dict[str, Any]:
        """Change a project; closing cancels growing trees and refunds queued ones (counts in the answer)."""
        project, effects = await service.update_project(db_session, project_id, data, now)
        return {**(await service.admin_project(db_session, project)).model_dump(mode="json"), **effects}
