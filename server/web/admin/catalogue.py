"""`/admin/projects` (create, change, species and costs, pause, resume, close) and
`/admin/species`."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from server.catalog import service as catalog
from server.catalog.schemas import ProjectCreate, ProjectUpdate, SpeciesCreate
from server.errors import DomainError
from server.ops import console
from server.planting import ngos
from server.validation import ResourceId
from server.web.admin.common import (
    AnyRequest,
    ConsolePage,
    Errors,
    console_page,
    form_number,
    refused,
    see,
    validated,
)
from server.web.session import PortalMember, read_portal_form

CountQuery = Annotated[int | None, QueryParameter(ge=0, le=10**9)]


PROJECT_FIELDS = ("name", "region", "lat", "lon", "radius_km", "capacity_per_season", "seasons")


def _seasons(text: str) -> Any:
    """Seasons typed one a line, `03-01 to 05-31` (any words or dashes between the two days)."""
    seasons = []
    for line in text.splitlines():
        if not line.strip():
            continue
        days = re.findall(r"\b\d{2}-\d{2}\b", line)
        if len(days) != 2:
            return text
        seasons.append({"start": days[0], "end": days[1]})
    return seasons


def _project_body(form: dict[str, str]) -> dict[str, Any]:
    """The fields the create and edit forms share, as the JSON API takes them."""
    return {
        "name": form["name"].strip(),
        "region": form["region"].strip(),
        "location": {"lat": form_number(form["lat"]), "lon": form_number(form["lon"])},
        "radius_km": form_number(form["radius_km"]),
        "capacity_per_season": form_number(form["capacity_per_season"], integer=True),
        "seasons": _seasons(form["seasons"]),
    }


def _species_field(species_id: str) -> str:
    return f"cost_{species_id}"


class ConsoleProjects(ConsolePage):
    path = "/admin/projects"

    @get("/")
    async def list_projects(
        self, request: AnyRequest, member: NamedDependency[PortalMember], db_session: NamedDependency[AsyncSession]
    ) -> Template:
        return console_page(
            request, member, "projects.html", "projects", {"projects": await console.all_projects(db_session)}
        )

    @get("/new")
    async def new(
        self, request: AnyRequest, member: NamedDependency[PortalMember], db_session: NamedDependency[AsyncSession]
    ) -> Template:
        return await self._new_page(request, member, db_session)

    @post("/", status_code=303)
    async def create(
        self,
        request: AnyRequest,
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        now: NamedDependency[datetime],
    ) -> Redirect | Template:
        """As `POST /v1/admin/projects`, with one species to start (more on the project's page)."""
        form = await read_portal_form(request, member, ("ngo_id", *PROJECT_FIELDS, "species_id", "cost_g"))
        species = [{"species_id": form["species_id"], "cost_g": form_number(form["cost_g"], integer=True)}]
        body = {"ngo_id": form["ngo_id"], **_project_body(form), "species": species}
        data, errors = validated(ProjectCreate, body, form)
        if "species" in errors:  # the one species row: say which of its two fields
            errors["species_id" if not form["species_id"] else "cost_g"] = errors.pop("species")
        if data is not None:
            try:
                project = await catalog.create_project(db_session, data, now)
            except DomainError as refusal:
                errors = await refused(db_session, refusal)
                errors = {"species_id" if k == "species" else k: v for k, v in errors.items()}
            else:
                return see(f"/admin/projects/{project.id}?done=created")
        return await self._new_page(request, member, db_session, form, errors)

    @get("/{project_id:str}")
    async def read(
        self,
        request: AnyRequest,
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        project_id: FromPath[ResourceId],
        cancelled: FromQuery[CountQuery] = None,
        refunded: FromQuery[CountQuery] = None,
    ) -> Template:
        closed = {"trees_cancelled": cancelled or 0, "trees_refunded": refunded or 0}
        return await self._project_page(request, member, db_session, project_id, closed=closed)

    @post("/{project_id:str}", status_code=303)
    async def update(
        self,
        request: AnyRequest,
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        now: NamedDependency[datetime],
        project_id: FromPath[ResourceId],
    ) -> Redirect | Template:
        """As `PATCH /v1/admin/projects/{id}` with the details (species and status have forms of their own)."""
        form = await read_portal_form(request, member, PROJECT_FIELDS)
        return await self._patch(request, member, db_session, now, project_id, _project_body(form), form)

    @post("/{project_id:str}/species", status_code=303)
    async def species(
        self,
        request: AnyRequest,
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        now: NamedDependency[datetime],
        project_id: FromPath[ResourceId],
    ) -> Redirect | Template:
        """The species offered and their costs: a cost left empty removes a species; one may be added."""
        offered = (await catalog.admin_project(db_session, await catalog.get_project(db_session, project_id))).species
        cost_fields = tuple(_species_field(item.species_id) for item in offered)
        form = await read_portal_form(request, member, (*cost_fields, "species_id", "cost_g"))
        rows = [
            {"species_id": item.species_id, "cost_g": form_number(form[_species_field(item.species_id)], integer=True)}
            for item in offered
            if form[_species_field(item.species_id)].strip()
        ]
        if form["species_id"]:
            rows.append({"species_id": form["species_id"], "cost_g": form_number(form["cost_g"], integer=True)})
        return await self._patch(request, member, db_session, now, project_id, {"species": rows}, form)

    @post("/{project_id:str}/status", status_code=303)
    async def status(
        self,
        request: AnyRequest,
        member: NamedDependency[PortalMember],
        db_session: NamedDependency[AsyncSession],
        now: NamedDependency[datetime],
        project_id: FromPath[ResourceId],
    ) -> Redirect | Template:
        """Pause, resume or close; closing first asks for confirmation, then shows what it changed."""
        form = await read_portal_form(request, member, ("status", "confirm"))
        project = await catalog.get_project(db_session, project_id)
        if form["status"] == "closed" and form["confirm"] != "yes" and project.status != "closed":
            return console_page(request, member, "project_close.html", "projects", {"project": project})
        return await self._patch(request, member, db_session, now, project_id, {"status": form["status"]}, form)

    async def _patch(
        self,
        request: AnyRequest,
        member: PortalMember,
        session: AsyncSession,
        now: datetime,
        project_id: str,
        body: dict[str, Any],
        form: dict[str, str],
    ) -> Redirect | Template:
        data, errors = validated(ProjectUpdate, body, form)
        if data is not None:
            try:
                _, effects = await catalog.update_project(session, project_id, data, now)
            except DomainError as refusal:
                errors = await refused(session, refusal)
            else:
                if data.status == "closed" and effects:
                    counts = {"cancelled": effects["trees_cancelled"], "refunded": effects["trees_refunded"]}
                    return see(f"/admin/projects/{project_id}?" + urlencode({"done": "closed", **counts}))
                return see(f"/admin/projects/{project_id}?done={data.status or 'saved'}")
        return await self._project_page(request, member, session, project_id, form=form, errors=errors, status_code=422)

    async def _new_page(
        self,
        request: AnyRequest,
        member: PortalMember,
        session: AsyncSession,
        form: dict[str, str] | None = None,
        errors: Errors | None = None,
    ) -> Template:
        context = {
            "ngos": await ngos.list_ngos(session),
            "species": await catalog.list_all_species(session),
            "form": form or {"seasons": "01-01 to 12-31"},
            "errors": errors or {},
        }
        return console_page(
            request, member, "project_new.html", "projects", context, status_code=422 if errors else 200
        )

    async def _project_page(
        self,
        request: AnyRequest,
        member: PortalMember,
        session: AsyncSession,
        project_id: str,
        *,
        form: dict[str, str] | None = None,
        errors: Errors | None = None,
        closed: dict[str, int] | None = None,
        status_code: int = 200,
    ) -> Template:
        project = await catalog.admin_project(session, await catalog.get_project(session, project_id))
        current = {
            "name": project.name,
            "region": project.region,
            "lat": f"{project.location.lat:g}",
            "lon": f"{project.location.lon:g}",
            "radius_km": f"{project.radius_km:g}",
            "capacity_per_season": str(project.capacity_per_season),
            "seasons": "\n".join(f"{s.start} to {s.end}" for s in project.seasons),
        } | {_species_field(item.species_id): str(item.cost_g) for item in project.species}
        context = {
            "project": project,
            "ngo": ngos.ngo_public(await ngos.get_ngo(session, project.ngo_id)),
            "species": await catalog.list_all_species(session),
            "form": current | (form or {}),
            "errors": errors or {},
            "closed": closed or {},
        }
        return console_page(request, member, "project.html", "projects", context, status_code=status_code)


class ConsoleSpecies(ConsolePage):
    path = "/admin/species"
    FIELDS = ("common_name", "common_name_zh", "scientific_name", "co2_lifetime_kg")

    @get("/")
    async def list_species(
        self, request: AnyRequest, member: NamedDependency[PortalMember], db_session: NamedDependency[AsyncSession]
    ) -> Template:
        return await self._page(request, member, db_session)

    @post("/", status_code=303)
    async def create(
        self, request: AnyRequest, member: NamedDependency[PortalMember], db_session: NamedDependency[AsyncSession]
    ) -> Redirect | Template:
        """As `POST /v1/admin/species`, with the Chinese common name if given."""
        form = await read_portal_form(request, member, self.FIELDS)
        chinese = form["common_name_zh"].strip()
        body = {
            "common_name": form["common_name"].strip(),
            "common_names": {"zh-Hans": chinese} if chinese else {},
            "scientific_name": form["scientific_name"].strip(),
            "co2_lifetime_kg": form_number(form["co2_lifetime_kg"], integer=True),
        }
        data, errors = validated(SpeciesCreate, body, form)
        if data is not None:
            try:
                await catalog.create_species(db_session, data)
            except DomainError as refusal:
                errors = await refused(db_session, refusal)
            else:
                return see("/admin/species?done=created")
        return await self._page(request, member, db_session, form, errors)

    async def _page(
        self,
        request: AnyRequest,
        member: PortalMember,
        session: AsyncSession,
        form: dict[str, str] | None = None,
        errors: Errors | None = None,
    ) -> Template:
        context = {"species": await catalog.list_all_species(session), "form": form or {}, "errors": errors or {}}
        return console_page(request, member, "species.html", "species", context, status_code=422 if errors else 200)
