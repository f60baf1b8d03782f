"""The public catalogue (SPEC 3) and the operator's species and projects (SPEC 9)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, MediaType, get, patch, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody, PathParameter
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import OperatorController
from server.catalog import service
from server.catalog.schemas import (
    PROJECT_PUBLIC_EXAMPLE,
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
from server.openapi import json_example
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
        """Public: the action types that earn energy, with their grams, caps, verification and emission-factor source
        (SPEC 3); names in the answer's language."""
        return Page(items=await service.list_actions(db_session, answer_language))

    @get("/species")
    async def species(
        self, db_session: NamedDependency[AsyncSession], answer_language: NamedDependency[Language]
    ) -> Page[SpeciesPublic]:
        """Public: the species trees can be adopted as, with their lifetime CO2 estimate (SPEC 3)."""
        return Page(items=await service.list_species(db_session, answer_language))

    @get("/projects")
    async def projects(
        self,
        db_session: NamedDependency[AsyncSession],
        now: NamedDependency[datetime],
        answer_language: NamedDependency[Language],
    ) -> Page[ProjectPublic]:
        """Public: active and paused planting projects by name, with their species and costs, seasons and the
        remaining capacity of the current season (SPEC 3)."""
        return Page(items=await service.list_projects(db_session, now, answer_language))

    @get(
        "/projects.geojson",
        media_type="application/geo+json",
        responses={
            200: json_example(
                feature_collection([ProjectPublic.model_validate(PROJECT_PUBLIC_EXAMPLE)]),
                "The projects as GeoJSON points",
                media_type="application/geo+json",
            )
        },
    )
    async def projects_geojson(
        self,
        db_session: NamedDependency[AsyncSession],
        now: NamedDependency[datetime],
        answer_language: NamedDependency[Language],
    ) -> dict[str, Any]:
        """Public: the projects of `GET /projects` as a GeoJSON FeatureCollection of points (SPEC 3)."""
        return feature_collection(await service.list_projects(db_session, now, answer_language))


class AdminSpeciesController(OperatorController):
    """Species with their names in every language (operators see all of them, never one negotiated)."""

    path = "/admin/species"

    @get("/")
    async def list_species(self, db_session: NamedDependency[AsyncSession]) -> Page[SpeciesAdmin]:
        """Operator: every species with its names in every language (returned whole)."""
        return Page(items=await service.list_all_species(db_session))

    @post("/", status_code=201, responses=problems("species-name-taken"))
    async def create(self, db_session: NamedDependency[AsyncSession], data: JSONBody[SpeciesCreate]) -> SpeciesAdmin:
        """Operator: add a species (SPEC 9); its common name must be unused."""
        return await service.create_species(db_session, data)

    @patch("/{species_id:str}", responses=problems("species-not-found"))
    async def update(
        self,
        db_session: NamedDependency[AsyncSession],
        species_id: FromPath[ResourceId],
        data: JSONBody[SpeciesUpdate],
    ) -> SpeciesAdmin:
        """Operator: set or remove the species' names in other languages."""
        return await service.update_species(db_session, species_id, data)


class AdminProjectController(OperatorController):
    path = "/admin/projects"

    @post("/", status_code=201, responses=problems("unknown-ngo", "unknown-species", "project-name-taken"))
    async def create(
        self,
        db_session: NamedDependency[AsyncSession],
        now: NamedDependency[datetime],
        data: JSONBody[ProjectCreate],
    ) -> AdminProject:
        """Operator: create a planting project of an NGO, with its species and their costs, location, radius, seasons
        and capacity (SPEC 8.1, 9)."""
        project = await service.create_project(db_session, data, now)
        return await service.admin_project(db_session, project)

    @patch(
        "/{project_id:str}",
        media_type=MediaType.JSON,
        responses={
            200: ResponseSpec(
                AdminProject,
                description="The project; closing it adds `trees_cancelled` and `trees_refunded` (counts)",
                generate_examples=False,
            ),
            **problems("project-not-found", "project-name-taken", "unknown-species"),
        },
    )
    async def update(
        self,
        db_session: NamedDependency[AsyncSession],
        now: NamedDependency[datetime],
        project_id: FromPath[ResourceId],
        data: JSONBody[ProjectUpdate],
    ) -> dict[str, Any]:
        """Operator: change a project, `status` included; closing cancels its growing trees and refunds queued ones
        (counts in the answer, SPEC 6)."""
        project, effects = await service.update_project(db_session, project_id, data, now)
        return {**(await service.admin_project(db_session, project)).model_dump(mode="json"), **effects}


class AdminActionController(OperatorController):
    """Action types: list (retired included), create, change, retire (SPEC 9)."""

    path = "/admin/actions"

    @get("/")
    async def list_actions(self, db_session: NamedDependency[AsyncSession]) -> Page[ActionTypeAdmin]:
        """Operator: every action type, retired ones included (returned whole)."""
        return Page(items=[ActionTypeAdmin.model_validate(a) for a in await service.list_all_actions(db_session)])

    @post("/", status_code=201, responses=problems("action-exists"))
    async def create(
        self, db_session: NamedDependency[AsyncSession], data: JSONBody[ActionTypeCreate]
    ) -> ActionTypeAdmin:
        """Operator: add an action type (SPEC 9); a code is never reused, not even a retired one's."""
        return ActionTypeAdmin.model_validate(await service.create_action(db_session, data))

    @patch("/{code:str}", responses=problems("action-not-found"))
    async def change(
        self,
        db_session: NamedDependency[AsyncSession],
        code: FromPath[ActionCodePath],
        data: JSONBody[ActionTypeUpdate],
    ) -> ActionTypeAdmin:
        """Operator: change an action type's grams, caps, names or citation; reports already accepted keep what they
        earned."""
        return ActionTypeAdmin.model_validate(await service.change_action(db_session, code, data))

    @post("/{code:str}/retire", status_code=200, responses=problems("action-not-found", "action-required"))
    async def retire(
        self,
        db_session: NamedDependency[AsyncSession],
        now: NamedDependency[datetime],
        code: FromPath[ActionCodePath],
    ) -> ActionTypeAdmin:
        """Operator: retire an action type: it leaves the catalogue and partners may no longer report it (`walk`
        cannot be retired). Repeating it changes nothing."""
        return ActionTypeAdmin.model_validate(await service.retire_action(db_session, code, now))
