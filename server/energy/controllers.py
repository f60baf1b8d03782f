"""`/me/steps`, `/me/forest`, `/me/balls`, `/me/actions` (SPEC 4)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated

from litestar import Response, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromHeader, FromPath, JSONBody, PathParameter
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import UserController
from server.energy import actions as energy_actions
from server.energy import balls
from server.energy.schemas import (
    ActionPublic,
    CollectedAll,
    CollectedOne,
    ForestPublic,
    StepsPublic,
    StepsRequest,
)
from server.errors import Unprocessable, problems
from server.i18n import Language
from server.ledger import service as ledger
from server.pagination import Cursor, Limit, Page
from server.settings import Settings
from server.trees import service as trees
from server.trees.controllers import NOT_MODIFIED, IfNoneMatch, png_response
from server.users.models import User
from server.validation import ResourceId

# The format is described, not checked by the framework: a day that is not a date is refused like any
# other day steps cannot be reported for (422 steps-date, SPEC 4.1).
DayPath = Annotated[
    str,
    PathParameter(
        max_length=10,
        description="The user's local date, YYYY-MM-DD",
        schema_extra={"format": "date", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
    ),
]
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _parse_day(value: str) -> date:
    try:
        if ISO_DATE.fullmatch(value):
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise Unprocessable("The date must be a calendar date, YYYY-MM-DD.", problem="steps-date")


class EnergyController(UserController):
    path = "/me"
    tags = ["energy"]

    @put("/steps/{day:str}", responses=problems("steps-date", "steps-range", "ball-frozen", "action-unavailable"))
    async def report_steps(
        self,
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
        current_user: NamedDependency[User],
        now: NamedDependency[datetime],
        day: FromPath[DayPath],
        data: JSONBody[StepsRequest],
    ) -> StepsPublic:
        """Report the day's step total from the device (SPEC 4.1) for today, or yesterday until its ball ripens.
        Energy is recomputed from the total; a lower total than stored changes nothing, so the call may be
        repeated."""
        return await energy_actions.report_steps(db_session, settings, current_user, _parse_day(day), data.steps, now)

    @get("/forest")
    async def forest(
        self,
        db_session: NamedDependency[AsyncSession],
        current_user: NamedDependency[User],
        now: NamedDependency[datetime],
        answer_language: NamedDependency[Language],
    ) -> ForestPublic:
        """The user's balance, debt, shields, streak, growing tree and balls (SPEC 4.2): growing and ripe ones, and
        those collected or expired in the last 24 h."""
        balance = await ledger.balance_of(db_session, current_user.id)
        tree = await trees.growing_tree(db_session, current_user.id)
        owned = await balls.forest_balls(db_session, current_user.id, now)
        return ForestPublic(
            balance_g=balance.balance_g,
            owed_g=balance.owed_g,
            shields=current_user.shields,
            shield_until=current_user.shield_until
            if current_user.shield_until and current_user.shield_until > now
            else None,
            streak_days=balls.streak_days(current_user, now),
            tree=(await trees.to_public(db_session, [tree], balance.balance_g, answer_language))[0] if tree else None,
            balls=[balls.to_public(ball, now) for ball in owned],
        )

    @get("/forest.png", media_type="image/png", responses=NOT_MODIFIED)
    async def forest_image(
        self,
        db_session: NamedDependency[AsyncSession],
        current_user: NamedDependency[User],
        now: NamedDependency[datetime],
        if_none_match: FromHeader[IfNoneMatch] = None,
    ) -> Response[bytes]:
        """The user's forest as a PNG (SPEC 6): the growing tree, the ripe balls with their grams and the paid-for
        trees."""
        return png_response(await balls.forest_picture(db_session, current_user.id, now), if_none_match)

    @post(
        "/balls/{ball_id:str}/collect",
        status_code=200,
        responses=problems("ball-not-found", "not-ripe", "ball-collected", "ball-expired"),
    )
    async def collect(
        self,
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
        current_user: NamedDependency[User],
        now: NamedDependency[datetime],
        ball_id: FromPath[ResourceId],
    ) -> CollectedOne:
        """Collect one ripe ball into the balance (SPEC 4.2); an unripe, collected or expired ball answers 409."""
        collected, balance = await balls.collect(db_session, settings, current_user, ball_id, now)
        return CollectedOne(collected_g=collected, balance_g=balance)

    @post("/balls/collect", status_code=200)
    async def collect_all(
        self,
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
        current_user: NamedDependency[User],
        now: NamedDependency[datetime],
    ) -> CollectedAll:
        """Collect every ripe ball at once (SPEC 4.2); `collected_g` is 0 when none is ripe, so it may be repeated."""
        collected, balance, ball_ids = await balls.collect_all(db_session, settings, current_user, now)
        return CollectedAll(collected_g=collected, balance_g=balance, balls=ball_ids)

    @get("/actions")
    async def actions(
        self,
        db_session: NamedDependency[AsyncSession],
        current_user: NamedDependency[User],
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> Page[ActionPublic]:
        """The user's verified actions, newest first, with the energy awarded and whether a cap cut it (SPEC 4.1)."""
        items, next_cursor = await energy_actions.list_actions(db_session, current_user.id, cursor, limit)
        return Page(items=items, next_cursor=next_cursor)
