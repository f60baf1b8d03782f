"""The public catalogue (SPEC 3) and the operator's species and projects (SPEC 9)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, MediaType, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, PathParameter
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import OperatorController
from server.catalog import service
from server.catalog.schemas import (
    ActionTypeAdmin,
    ActionTypeCreate,
    ActionTypePublic,
    ActionTypeUpdate,
    AdminProject,
    ProjectCreate,
    ProjectPublic,
    ProjectUpdate,
    SpeciesAdmin,
    SpeciesCreate,
    SpeciesPublic,
    SpeciesUpdate,
    feature_collection,
)
from server.errors import problems
from server.i18n import Language
from server.pagination import Page
from server.validation import ResourceId

ActionCodePath = Annotated[str, PathParameter(min_length=1, max_length=40, pattern=r"^[a-z0-9_]+$")]


class CatalogController(Controller):
    """Small, public lists: returned whole, with `next_cursor` always null; names in the language of
    `Accept-Language` (server/content_language.py)."""

    path = "/"
    tags = ["catalogue"]

    @get("/catalog/actions")
    async def actions(
        self, db_session: NamedDependency[AsyncSession], answer_language: NamedDependency[Language]
    ) -> Page[ActionTypePublic]:
        return Page(items=await service.list_actions(db_session, answer_language))

    @get("/species")
    async def species(
        self, db_session: NamedDependency[AsyncSession], answer_language: NamedDependency[Language]
    ) -> Page[SpeciesPublic]:
        return Page(items=await service.list_species(db_session, answer_language))

    @get("/projects")
    async def projects(
        self,
        db_session: NamedDependency[AsyncSession],
        now: NamedDependency[datetime],
        answer_language: NamedDependency[Language],
    ) -> Page[ProjectPublic]:
        return Page(items=await service.list_projects(db_session, now, answer_language))

    @get("/projects.geojson", media_type="application/geo+json")
    async def projects_geojson(
        self,
        db_session: NamedDependency[AsyncSession],
        now: NamedDependency[datetime],
        answer_language: NamedDependency[Language],
    ) -> dict[str, Any]:
        return feature_collection(await service.list_projects(db_session, now, answer_language))


class AdminSpeciesController(OperatorController):
    """Species with their names in every language (operators see all of them, never one negotiated)."""

    path = "/admin/species"

    @get("/")
    async def list_species(self, db_session: NamedDependency[AsyncSession]) -> Page[SpeciesAdmin]:
        return Page(items=await service.list_all_species(db_session))

    @post("/", status_code=201, responses=problems(409))
    async def create(self, db_session: NamedDependency[AsyncSession], data: JSONBody[SpeciesCreate]) -> SpeciesAdmin:
        return await service.create_species(db_session, data)

    @patch("/{species_id:str}")
    async def update(
        self,
        db_session: NamedDependency[AsyncSession],
        species_id: FromPath[ResourceId],
        data: JSONBody[SpeciesUpdate],
    ) -> SpeciesAdmin:
        """Set or remove the species' names in other languages."""
        return await service.update_species(db_session, species_id, data)


class AdminProjectController(OperatorController):
    path = "/admin/projects"

    @post("/", status_code=201, responses=problems(409, 422))
    async def create(
        self,
        db_session: NamedDependency[AsyncSession],
        now: NamedDependency[datetime],
        data: JSONBody[ProjectCreate],
    ) -> AdminProject:
        project = await service.create_project(db_session, data, now)
        return await service.admin_project(db_session, project)

    @patch("/{project_id:str}", media_type=MediaType.JSON, responses=problems(409, 422))
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


class AdminActionController(OperatorController):
    """Action types: list (retired included), create, change, retire (SPEC 9)."""

    path = "/admin/actions"

    @get("/")
    async def list_actions(self, db_session: NamedDependency[AsyncSession]) -> Page[ActionTypeAdmin]:
        return Page(items=[ActionTypeAdmin.model_validate(a) for a in await service.list_all_actions(db_session)])

    @post("/", status_code=201, responses=problems(409))
    async def create(
        self, db_session: NamedDependency[AsyncSession], data: JSONBody[ActionTypeCreate]
    ) -> ActionTypeAdmin:
        return ActionTypeAdmin.model_validate(await service.create_action(db_session, data))

    @patch("/{code:str}")
    async def change(
        self,
        db_session: NamedDependency[AsyncSession],
        code: FromPath[ActionCodePath],
        data: JSONBody[ActionTypeUpdate],
    ) -> ActionTypeAdmin:
        return ActionTypeAdmin.model_validate(await service.change_action(db_session, code, data))

    @post("/{code:str}/retire", status_code=200, responses=problems(409))
    async def retire(
        self,
        db_session: NamedDependency[AsyncSession],
        now: NamedDependency[datetime],
        code: FromPath[ActionCodePath],
    ) -> ActionTypeAdmin:
        return ActionTypeAdmin.model_validate(await service.retire_action(db_session, code, now))
