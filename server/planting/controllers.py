"""HTTP for planting: the NGO API (SPEC 8.3), the operator's NGOs and orders (SPEC 9), thumbnails.

NGOs authenticate with `Authorization: Bearer ngo_<secret>`. A missing, unknown or revoked key
gets 401; a valid user token or the operator token on an NGO route gets 403 (`ngo-only`). Failed
keys are throttled per client address with the operator token's failures (server/throttle.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from litestar import Controller, Response, delete, get, patch, post
from litestar.connection import ASGIConnection
from litestar.datastructures import State, UploadFile
from litestar.di import NamedDependency, Provide
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody, MultipartBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import OperatorController, access_claims, bearer_token, is_operator_token
from server.dependencies import app_services, client_address
from server.errors import BadRequest, Forbidden, Unauthorized, problems
from server.forms import BODY_LIMIT
from server.logs import set_actor
from server.memory import MemoryBudget
from server.openapi import documented_body
from server.pagination import Cursor, Limit, Page
from server.planting import ngos, orders, photo_store, plantings, uploads
from server.planting.models import Ngo
from server.planting.schemas import (
    CancelRequest,
    ItemResults,
    NgoCreate,
    NgoCreated,
    NgoKeyCreated,
    NgoKeyPublic,
    NgoPublic,
    NgoSummary,
    NgoUpdate,
    OrderPublic,
    OrderSummary,
    PhotoPublic,
    PlantingsRequest,
    RejectionsRequest,
)
from server.settings import Settings
from server.validation import ResourceId


def photo_body_limit(settings: Settings) -> int:
    """A photo's body: the file (CANOPY_PHOTO_MAX_BYTES) and its multipart envelope (SPEC 10)."""
    return settings.photo_max_bytes + 64 * 1024


PHOTO_FORM = {
    "type": "object",
    "properties": {"file": {"type": "string", "format": "binary", "description": "A JPEG or PNG image"}},
    "required": ["file"],
    "additionalProperties": False,
}
OrderStatusFilter = Annotated[
    Literal["issued", "acknowledged", "completed", "cancelled"] | None,
    QueryParameter(description="issued|acknowledged|completed|cancelled"),
]


def _unauthorized() -> Unauthorized:
    return Unauthorized("A valid NGO API key is required.", headers={"WWW-Authenticate": "Bearer"})


async def provide_current_ngo(
    state: State, request: ASGIConnection[Any, Any, Any, Any], db_session: NamedDependency[AsyncSession]
) -> Ngo:
    services = app_services(state)
    settings, throttle = services.settings, services.throttle
    token = bearer_token(request)
    if token is None:
        raise _unauthorized()
    address = client_address(request)
    await throttle.check_credential(address)
    if token.startswith("ngo_"):
        ngo = await ngos.authenticate(db_session, token)
        if ngo is not None:
            set_actor("ngo", ngo.id)
            return ngo
    elif is_operator_token(settings, token) or access_claims(request, settings, token):
        raise Forbidden("This route is for NGO partners (Bearer ngo_...).", problem="ngo-only")
    # Refused: end the request's transaction before counting, so that on SQLite the one writing
    # connection (which the key lookup may hold) is free for the counter's own transaction.
    await db_session.rollback()
    await throttle.credential_failed(address)
    raise _unauthorized()


class NgoController(Controller):
    path = "/ngo"
    tags = ["ngo"]
    dependencies = {"current_ngo": Provide(provide_current_ngo)}
    security = [{"ngo": []}]

    @get("/orders")
    async def list_orders(
        self,
        db_session: NamedDependency[AsyncSession],
        current_ngo: NamedDependency[Ngo],
        status: OrderStatusFilter = None,
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> Page[OrderSummary]:
        """NGO: the NGO's own planting orders, newest first, optionally by `status` (SPEC 8.3)."""
        items, next_cursor = await orders.list_orders(
            db_session, ngo_id=current_ngo.id, status=status, cursor=cursor, limit=limit
        )
        return Page(items=items, next_cursor=next_cursor)

    @get("/orders/{order_id:str}", responses=problems("order-not-found"))
    async def read_order(
        self,
        db_session: NamedDependency[AsyncSession],
        current_ngo: NamedDependency[Ngo],
        order_id: FromPath[ResourceId],
    ) -> OrderPublic:
        """NGO: one of the NGO's orders with its trees (another NGO's answers 404, SPEC 8.3)."""
        order = await orders.get_order(db_session, current_ngo.id, order_id)
        return await orders.order_public(db_session, order)

    @post("/orders/{order_id:str}/acknowledge", status_code=200, responses=problems("order-not-found"))
    async def acknowledge(
        self,
        db_session: NamedDependency[AsyncSession],
        current_ngo: NamedDependency[Ngo],
        now: NamedDependency[datetime],
        order_id: FromPath[ResourceId],
    ) -> OrderPublic:
        """NGO: acknowledge an issued order (SPEC 8.3); repeating it changes nothing."""
        order = await orders.get_order(db_session, current_ngo.id, order_id, for_update=True)
        await orders.acknowledge(db_session, order, now)
        return await orders.order_public(db_session, order)

    @post(
        "/orders/{order_id:str}/plantings",
        status_code=200,
        responses={
            200: ResponseSpec(ItemResults, description="One result per tree", generate_examples=False),
            **problems("order-not-found"),
        },
    )
    async def plantings(
        self,
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
        current_ngo: NamedDependency[Ngo],
        now: NamedDependency[datetime],
        order_id: FromPath[ResourceId],
        data: JSONBody[PlantingsRequest],
    ) -> dict[str, Any]:
        """NGO: confirm plantings with date, GPS and an uploaded photo, at most 500 (SPEC 8.3). Each tree is judged
        on its own and refused in its result (422/409 problem); the same confirmation again is `unchanged`, so it
        is safe to retry."""
        results = await plantings.record_plantings(db_session, current_ngo.id, order_id, data.plantings, settings, now)
        return ItemResults(results=results).model_dump(mode="json", exclude_none=True)

    @post(
        "/orders/{order_id:str}/rejections",
        status_code=200,
        responses={
            200: ResponseSpec(ItemResults, description="One result per tree", generate_examples=False),
            **problems("order-not-found"),
        },
    )
    async def rejections(
        self,
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
        current_ngo: NamedDependency[Ngo],
        now: NamedDependency[datetime],
        order_id: FromPath[ResourceId],
        data: JSONBody[RejectionsRequest],
    ) -> dict[str, Any]:
        """NGO: reject trees of an order with a reason (SPEC 8.3): they go back to the queue, or are refunded after 3
        rejections. Each tree is judged on its own, in its result."""
        results = await plantings.record_rejections(
            db_session, current_ngo.id, order_id, data.rejections, settings, now
        )
        return ItemResults(results=results).model_dump(mode="json", exclude_none=True)

    @post(
        "/photos",
        status_code=201,
        opt={BODY_LIMIT: photo_body_limit},
        responses=problems(
            "validation",
            "malformed-form",
            "photo-missing",
            "payload-too-large",
            "unsupported-media-type",
            "photo-format",
            "photo-too-large",
            "photo-reused",
        ),
        operation_class=documented_body("multipart/form-data", PHOTO_FORM),
    )
    async def upload_photo(
        self,
        settings: NamedDependency[Settings],
        photo_memory: NamedDependency[MemoryBudget],
        db_session: NamedDependency[AsyncSession],
        current_ngo: NamedDependency[Ngo],
        now: NamedDependency[datetime],
        data: MultipartBody[dict[str, Any]],
    ) -> PhotoPublic:
        """NGO: upload a planting photo, JPEG or PNG in the multipart field `file`, at most 10 MB and 40 megapixels
        (SPEC 8.3). Metadata is stripped by re-encoding; a photo (nearly) the same as one used for another tree
        answers 409."""
        upload = data.get("file") if isinstance(data, dict) else None
        unknown = sorted(set(data) - {"file"}) if isinstance(data, dict) else []
        if unknown:  # as for JSON bodies: a field the server would ignore is refused
            raise BadRequest(
                "The form has fields other than `file`.",
                problem="validation",
                errors=[{"field": name, "message": "unknown field"} for name in unknown],
            )
        if not isinstance(upload, UploadFile):
            raise BadRequest("Send the image as one file part named `file`.", problem="photo-missing")
        raw = await uploads.read_photo(upload, settings)
        processed = await uploads.process_photo(raw, settings, photo_memory)
        return await photo_store.save_photo(db_session, current_ngo.id, processed, settings, now)


class PhotoController(Controller):
    path = "/photos"
    tags = ["ngo"]

    @get("/{photo_id:str}/thumbnail.jpg", media_type="image/jpeg", responses=problems("photo-not-found"))
    async def thumbnail(
        self, db_session: NamedDependency[AsyncSession], photo_id: FromPath[ResourceId]
    ) -> Response[bytes]:
        """Public: a photo's metadata-free JPEG thumbnail (photo ids are unguessable, SPEC 8.3)."""
        return Response(
            await photo_store.thumbnail(db_session, photo_id),
            media_type="image/jpeg",
            headers={"Cache-Control": "public, max-age=86400, immutable"},
        )


class AdminNgoController(OperatorController):
    path = "/admin/ngos"

    @get("/")
    async def list_ngos(self, db_session: NamedDependency[AsyncSession]) -> Page[NgoSummary]:
        """Operator: every NGO, by name (returned whole: `next_cursor` is always null)."""
        return Page(items=await ngos.list_ngos(db_session))

    @post(
        "/",
        status_code=201,
        responses={
            201: ResponseSpec(NgoCreated, description="Created; the keys are shown only here", generate_examples=False),
            **problems("ngo-name-taken", "webhook-url"),
        },
        issues_credentials=True,
    )
    async def create(
        self,
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
        now: NamedDependency[datetime],
        data: JSONBody[NgoCreate],
    ) -> dict[str, Any]:
        """Operator: create an NGO with its first API key and, with a `webhook_url`, its webhook secret (SPEC 9):
        both are shown only here, so a repeated `Idempotency-Key` answers 409 instead of a copy."""
        ngo, key, secret = await ngos.create_ngo(db_session, data, settings, now)
        created = NgoCreated(id=ngo.id, name=ngo.name, key_id=key.key_id, api_key=key.api_key, webhook_secret=secret)
        return created.model_dump(mode="json", exclude_none=True)

    @patch(
        "/{ngo_id:str}",
        responses={
            200: ResponseSpec(
                NgoPublic, description="The NGO; `webhook_secret` only when the URL changed", generate_examples=False
            ),
            **problems("ngo-not-found", "ngo-name-taken", "webhook-url"),
        },
    )
    async def update(
        self,
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
        ngo_id: FromPath[ResourceId],
        data: JSONBody[NgoUpdate],
    ) -> dict[str, Any]:
        """Operator: change the name, contact or webhook URL (SPEC 8.4); a new URL answers a new webhook_secret,
        once."""
        ngo = await ngos.update_ngo(db_session, ngo_id, data, settings)
        return ngo.model_dump(mode="json", exclude_none=True) | {"webhook_url": ngo.webhook_url}

    @get(
        "/{ngo_id:str}",
        responses={
            200: ResponseSpec(NgoSummary, description="The NGO", generate_examples=False),
            **problems("ngo-not-found"),
        },
    )
    async def read(self, db_session: NamedDependency[AsyncSession], ngo_id: FromPath[ResourceId]) -> dict[str, Any]:
        """Operator: one NGO, its contact and webhook URL (never its secrets)."""
        ngo = ngos.ngo_public(await ngos.get_ngo(db_session, ngo_id))
        return ngo.model_dump(mode="json", exclude={"webhook_secret"})

    @get("/{ngo_id:str}/keys", responses=problems("ngo-not-found"))
    async def keys(self, db_session: NamedDependency[AsyncSession], ngo_id: FromPath[ResourceId]) -> Page[NgoKeyPublic]:
        """Operator: the NGO's API keys (never their secrets), revoked ones included."""
        return Page(items=await ngos.list_keys(db_session, ngo_id))

    @post("/{ngo_id:str}/keys", status_code=201, issues_credentials=True, responses=problems("ngo-not-found"))
    async def add_key(
        self, db_session: NamedDependency[AsyncSession], now: NamedDependency[datetime], ngo_id: FromPath[ResourceId]
    ) -> NgoKeyCreated:
        """Operator: a further API key (SPEC 9); the others stay valid until revoked. The key is shown only here."""
        return await ngos.create_key(db_session, ngo_id, now)

    @delete("/{ngo_id:str}/keys/{key_id:str}", status_code=204, responses=problems("ngo-key-not-found"))
    async def revoke_key(
        self,
        db_session: NamedDependency[AsyncSession],
        now: NamedDependency[datetime],
        ngo_id: FromPath[ResourceId],
        key_id: FromPath[ResourceId],
    ) -> None:
        """Operator: revoke an NGO API key at once; repeating it changes nothing."""
        await ngos.revoke_key(db_session, ngo_id, key_id, now)


class AdminOrderController(OperatorController):
    path = "/admin/orders"

    @get("/")
    async def list_orders(
        self,
        db_session: NamedDependency[AsyncSession],
        status: OrderStatusFilter = None,
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> Page[OrderSummary]:
        """Operator: every planting order, newest first, optionally by `status` (SPEC 9)."""
        items, next_cursor = await orders.list_orders(
            db_session, ngo_id=None, status=status, cursor=cursor, limit=limit
        )
        return Page(items=items, next_cursor=next_cursor)

    @get("/{order_id:str}", responses=problems("order-not-found"))
    async def read(self, db_session: NamedDependency[AsyncSession], order_id: FromPath[ResourceId]) -> OrderPublic:
        """Operator: one planting order with its trees."""
        order = await orders.get_any_order(db_session, order_id)
        return await orders.order_public(db_session, order)

    @post("/{order_id:str}/cancel", status_code=200, responses=problems("order-not-found", "order-not-cancellable"))
    async def cancel(
        self,
        db_session: NamedDependency[AsyncSession],
        now: NamedDependency[datetime],
        order_id: FromPath[ResourceId],
        data: JSONBody[CancelRequest],
    ) -> OrderPublic:
        """Operator: withdraw an issued or acknowledged order: its ordered trees go back to the queue with
        their place in it, planted trees stay planted, the NGO gets `order.cancelled`. Cancelling
        a cancelled order again answers it unchanged; a completed one -> 409 `order-not-cancellable`."""
        order = await orders.cancel_order(db_session, order_id, data.reason, now)
        return await orders.order_public(db_session, order)
