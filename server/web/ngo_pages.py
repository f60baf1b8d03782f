"""What the NGO portal's order pages show, and the judging of its batch forms (photos, plantings
by rows or CSV), for server/web/ngo.py's controller.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from litestar import Request
from litestar.datastructures import UploadFile
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from server.errors import DomainError, Forbidden
from server.memory import MemoryBudget
from server.planting import orders, photo_store, planting_rows, uploads
from server.planting.photos import ProcessedPhoto
from server.planting.planting_rows import MAX_CSV_BYTES, PlantingRow
from server.settings import Settings
from server.web.pages import page_language
from server.web.session import CSRF_FIELD, PortalMember, check_csrf, portal_page

PHOTOS_PER_FORM = 20
ROW_FORM_TREES = 25  # open trees offered in the order's planting form; more go by CSV
REASON_MAX = 500


def member_ngo_id(member: PortalMember) -> str:
    if member.org_id is None:  # an NGO member always belongs to one NGO; a guard, not a path
        raise Forbidden("This member belongs to no NGO.", problem="wrong-portal")
    return member.org_id


def upload_files(value: Any) -> list[UploadFile]:
    """The files of a multipart field (one, several, or a browser's empty part: none)."""
    values = value if isinstance(value, list) else [value]
    return [item for item in values if isinstance(item, UploadFile) and item.filename]


def form_text(form: dict[str, Any], name: str) -> str:
    """A multipart form's text field, or "" (a missing field, or a file where text was asked)."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


async def judge_photos(
    session: AsyncSession,
    settings: Settings,
    photo_memory: MemoryBudget,
    ngo_id: str,
    order_id: str,
    files: list[UploadFile],
    now: datetime,
) -> list[dict[str, Any]]:
    """Every file judged as `POST /v1/ngo/photos` judges one, each on its own: all decoded first
    (no transaction open, see the caller), then the good ones saved; a result per file."""
    judged: list[tuple[str | None, ProcessedPhoto | DomainError]] = []
    for upload in files:
        name = uploads.upload_file_name(upload)
        try:
            raw = await uploads.read_photo(upload, settings)
            judged.append((name, await uploads.process_photo(raw, settings, photo_memory)))
        except DomainError as refusal:
            judged.append((name, refusal))
    results: list[dict[str, Any]] = []
    for name, outcome in judged:
        if isinstance(outcome, DomainError):
            results.append({"name": name, "reason": outcome.problem, "detail": outcome.detail})
            continue
        try:
            saved = await photo_store.save_photo(
                session, ngo_id, outcome, settings, now, order_id=order_id, file_name=name
            )
            results.append({"name": name, "reason": None, "photo": saved})
        except DomainError as refusal:
            results.append({"name": name, "reason": refusal.problem, "detail": refusal.detail})
    return results


async def _form_rows(data: dict[str, Any]) -> tuple[list[PlantingRow], str | None]:
    """The rows of the page's form that were filled in (at least one), parsed."""
    rows = []
    for index in range(ROW_FORM_TREES):
        tree_id = form_text(data, f"rows-{index}-tree_id")
        values = {name: form_text(data, f"rows-{index}-{name}") for name in planting_rows.COLUMNS[1:]}
        if tree_id and any(value.strip() for value in values.values()):
            rows.append(planting_rows.parse_row(index + 1, {"tree_id": tree_id, **values}))
    return rows, None if rows else "fill-a-row"


async def _csv_rows(data: dict[str, Any]) -> tuple[list[PlantingRow], str | None]:
    """The rows of the one CSV file sent, parsed, or the problem of the whole file."""
    files = upload_files(data.get("csv"))
    if len(files) != 1:
        return [], "choose-csv"
    return planting_rows.read_csv(await files[0].read(MAX_CSV_BYTES + 1))


ROW_READERS = {"rows": _form_rows, "csv": _csv_rows}


async def order_context(
    request: Request[Any, Any, Any], session: AsyncSession, member: PortalMember, order_id: str
) -> dict[str, Any]:
    """The order page: the order, its trees (species in the page's language), the rejection form."""
    order = await orders.get_order(session, member_ngo_id(member), order_id)
    trees = await orders.order_trees(session, order, page_language(request))
    return {
        "order": await orders.order_summary(session, order),
        "trees": trees,
        "open_trees": [tree for tree in trees if tree.status == "ordered"],
        "rejection": {"tree_id": "", "reason": ""},
        "rejection_errors": {},
        "reason_max": REASON_MAX,
    }


async def photos_context(
    session: AsyncSession, settings: Settings, member: PortalMember, order_id: str
) -> dict[str, Any]:
    order = await orders.get_order(session, member_ngo_id(member), order_id)
    return {
        "order": await orders.order_summary(session, order),
        "photos": await photo_store.order_photos(session, member_ngo_id(member), order_id),
        "results": None,
        "upload_error": None,
        "photos_per_form": PHOTOS_PER_FORM,
        "photo_max_mb": settings.photo_max_bytes // (1024 * 1024),
    }


async def plantings_context(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    member: PortalMember,
    order_id: str,
    kept: dict[str, PlantingRow] | None = None,
) -> dict[str, Any]:
    """The planting page: the first open trees as form rows (with what was sent for them kept),
    and the names of the photos uploaded for the order and not yet used, to pick from."""
    context = await order_context(request, session, member, order_id)
    photos = await photo_store.order_photos(session, member_ngo_id(member), order_id)
    return {
        **context,
        "form_trees": context["open_trees"][:ROW_FORM_TREES],
        "kept": kept or {},
        "photo_names": sorted({p.file_name for p in photos if p.file_name and p.tree_id is None}),
        "results": None,
        "source": None,
        "form_error": None,
        "max_csv_kib": MAX_CSV_BYTES // 1024,
        "max_rows": planting_rows.MAX_ROWS,
    }


async def planted_page(
    request: Request[Any, Any, Any],
    settings: Settings,
    session: AsyncSession,
    member: PortalMember,
    now: datetime,
    order_id: str,
    data: dict[str, Any],
    source: Literal["rows", "csv"],
) -> Template:
    """A planting form sent (the page's rows, or a CSV): its CSRF token checked, its rows read,
    judged (when the form could be read) and shown with a result each, the refused ones of the
    page's form kept in their fields: 200 when any row was confirmed, else 422 with nothing changed."""
    check_csrf(member, form_text(data, CSRF_FIELD))
    await orders.get_order(session, member_ngo_id(member), order_id)
    rows, error = await ROW_READERS[source](data)
    if error is None:
        await planting_rows.plant_rows(session, member_ngo_id(member), order_id, rows, settings, now)
    accepted = error is None and any(row.ok for row in rows)
    if not accepted:
        await session.rollback()  # as for any refused form: not even the order's implicit acknowledgement
    kept = {row.values["tree_id"]: row for row in rows if source == "rows" and not row.ok}
    context = await plantings_context(request, session, member, order_id, kept)
    context |= {"results": rows if error is None else None, "source": source, "form_error": error}
    status = 200 if accepted else 422
    return portal_page(request, member, "ngo/plantings.html", context, status_code=status)
