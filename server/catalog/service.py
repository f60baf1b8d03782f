"""Reading and seeding the catalogue."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.catalog import defaults
from server.catalog.models import ActionType, Project, ProjectSpecies, Species
from server.catalog.schemas import (
    ActionTypeCreate,
    ActionTypePublic,
    ActionTypeUpdate,
    AdminProject,
    AdminProjectSpecies,
    Location,
    NgoRef,
    ProjectCreate,
    ProjectPublic,
    ProjectSpeciesIn,
    ProjectSpeciesPublic,
    ProjectUpdate,
    Season,
    SpeciesAdmin,
    SpeciesCreate,
    SpeciesPublic,
    SpeciesUpdate,
    TranslatedLanguage,
)
from server.catalog.seasons import current_window
from server.errors import Conflict, DomainError, NotFound, Unprocessable
from server.i18n import Language
from server.planting.models import Ngo, PlantingOrder
from server.trees import service as trees

LISTED_PROJECT_STATUSES = ("active", "paused")


async def list_actions(session: AsyncSession, language: Language) -> list[ActionTypePublic]:
    rows = await session.execute(select(ActionType).where(ActionType.retired_at.is_(None)).order_by(ActionType.code))
    return [
        ActionTypePublic.model_validate({**action.model_dump(), "name": action.name_in(language)})
        for action in rows.scalars()
    ]


def merged(stored: dict[str, str], changes: dict[TranslatedLanguage, str | None]) -> dict[str, str]:
    """Translations after a PATCH: each language given is set, or removed when null (RFC 7396)."""
    result = dict(stored)
    for language, text in changes.items():
        if text is None:
            result.pop(language, None)
        else:
            result[language] = text
    return result


async def get_action(session: AsyncSession, code: str) -> ActionType:
    action = await session.get(ActionType, code)
    if action is None or action.retired_at is not None:
        raise DomainError(
            f"The action type {code!r} is not in the catalogue.",
            problem="action-unavailable",
            status=503 if code == "walk" else 422,
        )
    return action


async def list_all_actions(session: AsyncSession) -> list[ActionType]:
    """The operator's view: retired action types included."""
    return list((await session.execute(select(ActionType).order_by(ActionType.code))).scalars())


async def _admin_action(session: AsyncSession, code: str) -> ActionType:
    action = await session.get(ActionType, code)
    if action is None:
        raise NotFound("No such action type.", problem="action-not-found")
    return action


async def create_action(session: AsyncSession, data: ActionTypeCreate) -> ActionType:
    if await session.get(ActionType, data.code) is not None:
        raise Conflict("An action type with that code exists (retired ones keep their code).", problem="action-exists")
    action = ActionType(**data.model_dump())
    session.add(action)
    await session.flush()
    return action


async def change_action(session: AsyncSession, code: str, data: ActionTypeUpdate) -> ActionType:
    """Applies to actions credited from now on; what was earned stays as it was."""
    action = await _admin_action(session, code)
    for name, value in data.model_dump(exclude_unset=True).items():
        setattr(action, name, merged(action.names, value) if name == "names" else value)
    session.add(action)
    await session.flush()
    return action


async def retire_action(session: AsyncSession, code: str, now: datetime) -> ActionType:
    """A retired action leaves `/catalog/actions` and is refused in reports; repeating it changes nothing."""
    action = await _admin_action(session, code)
    if action.code == "walk":
        raise Conflict("Walking is the device action every user relies on.", problem="action-required")
    if action.retired_at is None:
        action.retired_at = now
        session.add(action)
        await session.flush()
    return action


async def list_species(session: AsyncSession, language: Language) -> list[SpeciesPublic]:
    """Ordered by the English name in every language, so a list keeps its order when the language changes."""
    rows = await session.execute(select(Species).order_by(Species.common_name))
    return [
        SpeciesPublic.model_validate({**species.model_dump(), "common_name": species.common_name_in(language)})
        for species in rows.scalars()
    ]


async def ordered_in_window(session: AsyncSession, project_id: str, start: date, end: date) -> int:
    """Trees of a project ordered in a season window: they use its capacity.

    Summed over the window's orders rather than counted over trees: every tree ordered in a window
    belongs to an order issued in it (`ordered_at` = `issued_at`), and an order's `tree_count`
    follows its trees in the transaction of every planting or rejection, so the two agree, while
    this reads one row per order (an index on project_id, issued_at) and `trees` needs no index on
    `ordered_at` for it.
    """
    window_start = datetime.combine(start, time(0), tzinfo=UTC)
    window_end = datetime.combine(end + timedelta(days=1), time(0), tzinfo=UTC)
    used = await session.execute(
        select(func.coalesce(func.sum(PlantingOrder.tree_count), 0)).where(
            PlantingOrder.project_id == project_id,
            PlantingOrder.issued_at >= window_start,
            PlantingOrder.issued_at < window_end,
        )
    )
    return int(used.scalar_one())


async def list_projects(
    session: AsyncSession, now: datetime, language: Language, project_id: str | None = None
) -> list[ProjectPublic]:
    query = (
        select(Project, Ngo)
        .join(Ngo, Ngo.id == Project.ngo_id)
        .where(Project.status.in_(LISTED_PROJECT_STATUSES))
        .order_by(Project.name)
    )
    if project_id is not None:
        query = query.where(Project.id == project_id)
    projects = (await session.execute(query)).all()
    offered = await session.execute(
        select(ProjectSpecies, Species)
        .join(Species, Species.id == ProjectSpecies.species_id)
        .where(ProjectSpecies.project_id.in_([p.id for p, _ in projects]))
        .order_by(Species.common_name)
    )
    species_by_project: dict[str, list[ProjectSpeciesPublic]] = {}
    for link, species in offered:
        species_by_project.setdefault(link.project_id, []).append(
            ProjectSpeciesPublic(
                species_id=species.id,
                common_name=species.common_name_in(language),
                scientific_name=species.scientific_name,
                cost_g=link.cost_g,
            )
        )
    result = []
    for project, ngo in projects:
        window = current_window(project.seasons, now.date())
        remaining = 0
        if window is not None:
            remaining = max(0, project.capacity_per_season - await ordered_in_window(session, project.id, *window))
        result.append(
            ProjectPublic(
                id=project.id,
                name=project.name,
                ngo=NgoRef(id=ngo.id, name=ngo.name),
                region=project.region,
                location=Location(lat=project.lat, lon=project.lon),
                radius_km=project.radius_km,
                species=species_by_project.get(project.id, []),
                seasons=[Season(**season) for season in project.seasons],
                capacity_per_season=project.capacity_per_season,
                remaining_capacity=remaining,
                in_season=window is not None,
                status=project.status,
            )
        )
    return result


async def get_project(session: AsyncSession, project_id: str) -> Project:
    project = await session.get(Project, project_id)
    if project is None:
        raise NotFound("No such project.", problem="project-not-found")
    return project


async def seed_demo(session: AsyncSession, now: datetime) -> dict[str, int]:
    """Insert the demo catalogue of CATALOG.md; running it again changes nothing but adding the
    translations an older seed lacked (never replacing one an operator set)."""
    created = {"action_types": 0, "species": 0, "ngos": 0, "projects": 0, "translations": 0}
    for spec in defaults.ACTION_TYPES:
        action = await session.get(ActionType, spec["code"])
        if action is None:
            session.add(ActionType(**spec))
            created["action_types"] += 1
        elif missing := {k: v for k, v in spec["names"].items() if k not in action.names}:
            action.names = {**action.names, **missing}
            created["translations"] += len(missing)
    species_ids: dict[str, str] = {}
    for spec in defaults.SPECIES:
        species = (
            await session.execute(select(Species).where(Species.common_name == spec["common_name"]))
        ).scalar_one_or_none()
        if species is None:
            species = Species(**{k: v for k, v in spec.items() if k != "cost_g"})
            session.add(species)
            created["species"] += 1
        elif missing := {k: v for k, v in spec["common_names"].items() if k not in species.common_names}:
            species.common_names = {**species.common_names, **missing}
            created["translations"] += len(missing)
        species_ids[species.common_name] = species.id
    ngo = (await session.execute(select(Ngo).where(Ngo.name == defaults.DEMO_NGO["name"]))).scalar_one_or_none()
    if ngo is None:
        ngo = Ngo(**defaults.DEMO_NGO, created_at=now)
        session.add(ngo)
        created["ngos"] += 1
    await session.flush()
    for spec in defaults.PROJECTS:
        exists = (await session.execute(select(Project.id).where(Project.name == spec["name"]))).first()
        if exists:
            continue
        project = Project(ngo_id=ngo.id, created_at=now, **{k: v for k, v in spec.items() if k != "species"})
        session.add(project)
        await session.flush()
        for common_name, cost_g in spec["species"].items():
            session.add(ProjectSpecies(project_id=project.id, species_id=species_ids[common_name], cost_g=cost_g))
        created["projects"] += 1
    await session.flush()
    return created


# --- operator edits (SPEC 9) ----------------------------------------------------------------


async def list_all_species(session: AsyncSession) -> list[SpeciesAdmin]:
    rows = await session.execute(select(Species).order_by(Species.common_name))
    return [SpeciesAdmin.model_validate(species) for species in rows.scalars()]


async def create_species(session: AsyncSession, data: SpeciesCreate) -> SpeciesAdmin:
    taken = (await session.execute(select(Species.id).where(Species.common_name == data.common_name))).first()
    if taken:
        raise Conflict("A species with this common name exists.", problem="species-name-taken")
    species = Species(**data.model_dump())
    session.add(species)
    await session.flush()
    return SpeciesAdmin.model_validate(species)


async def update_species(session: AsyncSession, species_id: str, data: SpeciesUpdate) -> SpeciesAdmin:
    species = await session.get(Species, species_id)
    if species is None:
        raise NotFound("No such species.", problem="species-not-found")
    if data.common_names is not None:
        species.common_names = merged(species.common_names, data.common_names)
        session.add(species)
        await session.flush()
    return SpeciesAdmin.model_validate(species)


async def _check_species(session: AsyncSession, items: list[ProjectSpeciesIn]) -> None:
    ids = {item.species_id for item in items}
    known = set((await session.execute(select(Species.id).where(Species.id.in_(ids)))).scalars())
    if unknown := sorted(ids - known):
        raise Unprocessable(f"Unknown species: {', '.join(unknown)}.", problem="unknown-species")


async def _check_name(session: AsyncSession, name: str, project_id: str | None = None) -> None:
    query = select(Project.id).where(Project.name == name)
    if project_id is not None:
        query = query.where(Project.id != project_id)
    if (await session.execute(query)).first():
        raise Conflict("A project with this name exists.", problem="project-name-taken")


async def admin_project(session: AsyncSession, project: Project) -> AdminProject:
    offered = (await session.execute(select(ProjectSpecies).where(ProjectSpecies.project_id == project.id))).scalars()
    return AdminProject(
        id=project.id,
        ngo_id=project.ngo_id,
        name=project.name,
        region=project.region,
        location=Location(lat=project.lat, lon=project.lon),
        radius_km=project.radius_km,
        species=[AdminProjectSpecies(species_id=o.species_id, cost_g=o.cost_g) for o in offered],
        seasons=[Season(**season) for season in project.seasons],
        capacity_per_season=project.capacity_per_season,
        status=project.status,
        created_at=project.created_at,
    )


async def create_project(session: AsyncSession, data: ProjectCreate, now: datetime) -> Project:
    if await session.get(Ngo, data.ngo_id) is None:
        raise Unprocessable("Unknown NGO.", problem="unknown-ngo")
    await _check_species(session, data.species)
    await _check_name(session, data.name)
    project = Project(
        ngo_id=data.ngo_id,
        name=data.name,
        region=data.region,
        lat=data.location.lat,
        lon=data.location.lon,
        radius_km=data.radius_km,
        capacity_per_season=data.capacity_per_season,
        seasons=[season.model_dump() for season in data.seasons],
        created_at=now,
    )
    session.add(project)
    await session.flush()
    for item in data.species:
        session.add(ProjectSpecies(project_id=project.id, species_id=item.species_id, cost_g=item.cost_g))
    await session.flush()
    return project


async def update_project(
    session: AsyncSession, project_id: str, data: ProjectUpdate, now: datetime
) -> tuple[Project, dict[str, int]]:
    """Change a project's fields; closing cancels growing trees and refunds queued ones (SPEC 6)."""
    project = (
        await session.execute(select(Project).where(Project.id == project_id).with_for_update(key_share=True))
    ).scalar_one_or_none()
    if project is None:
        raise NotFound("No such project.", problem="project-not-found")
    if data.name is not None:
        await _check_name(session, data.name, project.id)
        project.name = data.name
    if data.region is not None:
        project.region = data.region
    if data.location is not None:
        project.lat, project.lon = data.location.lat, data.location.lon
    if data.radius_km is not None:
        project.radius_km = data.radius_km
    if data.capacity_per_season is not None:
        project.capacity_per_season = data.capacity_per_season
    if data.seasons is not None:
        project.seasons = [season.model_dump() for season in data.seasons]
    if data.species is not None:
        await _check_species(session, data.species)
        await session.execute(delete(ProjectSpecies).where(ProjectSpecies.project_id == project.id))
        for item in data.species:
            session.add(ProjectSpecies(project_id=project.id, species_id=item.species_id, cost_g=item.cost_g))
    effects: dict[str, int] = {}
    if data.status is not None:
        if data.status == "closed" and project.status != "closed":
            effects = await trees.close_project(session, project.id, now)
        project.status = data.status
    session.add(project)
    await session.flush()
    return project, effects
