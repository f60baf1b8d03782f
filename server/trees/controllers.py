"""`/me/trees` (SPEC 6)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from litestar import Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromHeader, FromPath, HeaderParameter, JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import UserController
from server.errors import problems
from server.i18n import Language
from server.ledger import service as ledger
from server.pagination import Cursor, Limit, Page
from server.trees import images, service
from server.trees.models import Tree, TreeStatus
from server.trees.schemas import AdoptTreeRequest, TreePublic, UpdateTreeRequest
from server.users.models import User
from server.validation import ResourceId

IfNoneMatch = Annotated[str | None, HeaderParameter(name="If-None-Match", description="An ETag of an earlier image")]
PNG_CACHE_CONTROL = "private, max-age=60"
NOT_MODIFIED = {304: ResponseSpec(None, description="The If-None-Match ETag is current: no body")}


def png_response(rendered: images.Rendered, if_none_match: str | None) -> Response[bytes]:
    """The picture, or 304 when the client already holds these exact bytes."""
    headers = {"ETag": rendered.etag, "Cache-Control": PNG_CACHE_CONTROL}
    if if_none_match and rendered.etag in {tag.strip() for tag in if_none_match.split(",")}:
        return Response(b"", status_code=304, headers=headers, media_type="image/png")
    return Response(rendered.png, headers=headers, media_type="image/png")


class TreeController(UserController):
    path = "/me/trees"
    tags = ["trees"]

    async def _public(self, session: AsyncSession, user: User, tree: Tree, language: Language) -> TreePublic:
        balance = await ledger.balance_of(session, user.id)
        return (await service.to_public(session, [tree], balance.balance_g, language))[0]

    @post(
        "/",
        status_code=201,
        responses=problems(
            "project-or-species-not-found", "species-not-offered", "project-not-active", "tree-already-growing"
        ),
    )
    async def adopt(
        self,
        db_session: NamedDependency[AsyncSession],
        current_user: NamedDependency[User],
        now: NamedDependency[datetime],
        answer_language: NamedDependency[Language],
        data: JSONBody[AdoptTreeRequest],
    ) -> TreePublic:
        """Adopt a tree of a project's species (SPEC 6); one growing tree at a time. With `auto_plant` it is paid for
        as soon as the balance covers its cost."""
        tree = await service.adopt(db_session, current_user.id, data, now)
        return await self._public(
            db_session, current_user, await service.get_own(db_session, current_user.id, tree.id), answer_language
        )

    @get("/")
    async def list_trees(
        self,
        db_session: NamedDependency[AsyncSession],
        current_user: NamedDependency[User],
        answer_language: NamedDependency[Language],
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> Page[TreePublic]:
        """The user's trees, newest first, with stage and progress (SPEC 6)."""
        trees, next_cursor = await service.own_trees_page(db_session, current_user.id, cursor, limit)
        balance = await ledger.balance_of(db_session, current_user.id)
        return Page(
            items=await service.to_public(db_session, trees, balance.balance_g, answer_language),
            next_cursor=next_cursor,
        )

    @get("/{tree_id:str}", responses=problems("tree-not-found"))
    async def read(
        self,
        db_session: NamedDependency[AsyncSession],
        current_user: NamedDependency[User],
        answer_language: NamedDependency[Language],
        tree_id: FromPath[ResourceId],
    ) -> TreePublic:
        """One of the user's trees (SPEC 6)."""
        return await self._public(
            db_session, current_user, await service.get_own(db_session, current_user.id, tree_id), answer_language
        )

    @get("/{tree_id:str}/image.png", media_type="image/png", responses={**NOT_MODIFIED, **problems("tree-not-found")})
    async def image(
        self,
        db_session: NamedDependency[AsyncSession],
        current_user: NamedDependency[User],
        tree_id: FromPath[ResourceId],
        if_none_match: FromHeader[IfNoneMatch] = None,
    ) -> Response[bytes]:
        """The tree's species at its stage as a PNG (SPEC 6); rendered once per species and stage."""
        key, stage = await service.tree_picture(db_session, current_user.id, tree_id)
        rendered = await images.cached_png(images.TREES, (key, stage), images.render_tree, key, stage)
        return png_response(rendered, if_none_match)

    @patch("/{tree_id:str}", responses=problems("tree-not-found"))
    async def update(
        self,
        db_session: NamedDependency[AsyncSession],
        current_user: NamedDependency[User],
        now: NamedDependency[datetime],
        answer_language: NamedDependency[Language],
        tree_id: FromPath[ResourceId],
        data: JSONBody[UpdateTreeRequest],
    ) -> TreePublic:
        """Turn `auto_plant` on or off (SPEC 6); turning it on plants at once when the balance covers the cost."""
        tree = await service.get_own(db_session, current_user.id, tree_id)
        tree.auto_plant = data.auto_plant
        db_session.add(tree)
        await db_session.flush()
        if tree.auto_plant and tree.status == TreeStatus.GROWING:
            await service.plant_if_affordable(db_session, current_user.id, now)
            await db_session.refresh(tree)
        return await self._public(db_session, current_user, tree, answer_language)

    @delete("/{tree_id:str}", status_code=204, responses=problems("tree-not-found", "tree-not-growing"))
    async def abandon(
        self,
        db_session: NamedDependency[AsyncSession],
        current_user: NamedDependency[User],
        tree_id: FromPath[ResourceId],
    ) -> None:
        """Abandon the growing tree (SPEC 6); a tree past `growing` answers 409."""
        await service.abandon(db_session, current_user.id, tree_id)

    @post(
        "/{tree_id:str}/plant",
        status_code=200,
        responses=problems("tree-not-found", "tree-not-growing", "short-balance"),
    )
    async def plant(
        self,
        db_session: NamedDependency[AsyncSession],
        current_user: NamedDependency[User],
        now: NamedDependency[datetime],
        answer_language: NamedDependency[Language],
        tree_id: FromPath[ResourceId],
    ) -> TreePublic:
        """Pay for the growing tree (SPEC 6): its cost leaves the balance and it joins the planting queue."""
        tree = await service.plant(db_session, current_user.id, tree_id, now)
        return await self._public(db_session, current_user, tree, answer_language)
