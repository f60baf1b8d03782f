"""Friends and play (SPEC 5): `/me/friends`, `/me/friend-requests`, `/me/shield`,
`/me/leaderboard` and a friend's `/users/{handle}/...`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from litestar import delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from sqlalchemy.ext.asyncio import AsyncSession

from server.auth import UserController
from server.errors import problems
from server.i18n import Language
from server.pagination import Cursor, Limit, Page
from server.settings import Settings
from server.social import friends as friendships
from server.social import leaderboard as leaderboards
from server.social import play
from server.social.schemas import (
    FriendForest,
    FriendPublic,
    FriendRequestCreate,
    FriendRequestPublic,
    HandlePath,
    HelpCollected,
    Leaderboard,
    ShieldPublic,
    Stolen,
    Watered,
    WaterRequest,
)
from server.users.models import User
from server.validation import ResourceId

Direction = Annotated[
    Literal["incoming", "outgoing"],
    QueryParameter(description="incoming (default): pending requests to you; outgoing: pending requests you sent"),
]
Period = Annotated[Literal["day", "week", "all"], QueryParameter(description="day (default), week or all")]


class FriendsController(UserController):
    path = "/me"
    tags = ["play"]

    @post(
        "/friends",
        status_code=201,
        responses=problems("user-not-found", "self-friend-request", "already-friends", "request-pending"),
    )
    async def request_friend(
        self,
        db_session: NamedDependency[AsyncSession],
        current_user: NamedDependency[User],
        now: NamedDependency[datetime],
        data: JSONBody[FriendRequestCreate],
    ) -> FriendRequestPublic:
        """Ask a user to be friends (SPEC 5); if they already asked you, both become friends at once."""
        request = await friendships.request_friend(db_session, current_user, data.handle, now)
        return (await friendships.requests_public(db_session, [request]))[0]

    @get("/friends")
    async def friends(
        self,
        db_session: NamedDependency[AsyncSession],
        current_user: NamedDependency[User],
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> Page[FriendPublic]:
        """Your friends, the newest friendship first (SPEC 5)."""
        items, next_cursor = await friendships.list_friends(db_session, current_user.id, cursor, limit)
        return Page(items=items, next_cursor=next_cursor)

    @delete("/friends/{handle:str}", status_code=204, responses=problems("user-not-found"))
    async def unfriend(
        self,
        db_session: NamedDependency[AsyncSession],
        current_user: NamedDependency[User],
        handle: FromPath[HandlePath],
    ) -> None:
        """End a friendship, for both (SPEC 5)."""
        await friendships.remove_friend(db_session, current_user, handle)

    @get("/friend-requests")
    async def requests(
        self,
        db_session: NamedDependency[AsyncSession],
        current_user: NamedDependency[User],
        direction: Direction = "incoming",
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> Page[FriendRequestPublic]:
        """Pending friend requests sent to you, or with `direction=outgoing` the ones you sent, newest first (SPEC
        5)."""
        items, next_cursor = await friendships.list_requests(db_session, current_user, direction, cursor, limit)
        return Page(items=items, next_cursor=next_cursor)

    @post(
        "/friend-requests/{request_id:str}/accept",
        status_code=200,
        responses=problems("friend-request-not-found", "request-not-pending"),
    )
    async def accept(
        self,
        db_session: NamedDependency[AsyncSession],
        current_user: NamedDependency[User],
        now: NamedDependency[datetime],
        request_id: FromPath[ResourceId],
    ) -> FriendRequestPublic:
        """Accept a friend request sent to you: you become friends (SPEC 5)."""
        request = await friendships.respond(db_session, current_user, request_id, True, now)
        return (await friendships.requests_public(db_session, [request]))[0]

    @post(
        "/friend-requests/{request_id:str}/decline",
        status_code=200,
        responses=problems("friend-request-not-found", "request-not-pending"),
    )
    async def decline(
        self,
        db_session: NamedDependency[AsyncSession],
        current_user: NamedDependency[User],
        now: NamedDependency[datetime],
        request_id: FromPath[ResourceId],
    ) -> FriendRequestPublic:
        """Decline a friend request sent to you (SPEC 5)."""
        request = await friendships.respond(db_session, current_user, request_id, False, now)
        return (await friendships.requests_public(db_session, [request]))[0]

    @post("/shield", status_code=200, responses=problems("no-shield"))
    async def use_shield(
        self,
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
        current_user: NamedDependency[User],
        now: NamedDependency[datetime],
    ) -> ShieldPublic:
        """Use one shield (SPEC 5): nobody can steal from you until `shield_until` = max(now, shield_until) + 24 h."""
        shields, until = await play.use_shield(db_session, settings, current_user, now)
        return ShieldPublic(shields=shields, shield_until=until)

    @get("/leaderboard")
    async def leaderboard(
        self,
        db_session: NamedDependency[AsyncSession],
        current_user: NamedDependency[User],
        now: NamedDependency[datetime],
        period: Period = "day",
    ) -> Leaderboard:
        """You and your friends ranked by grams collected plus stolen since the start of your local day, your week
        (from Monday) or ever (`starts_at` null) (SPEC 5)."""
        return await leaderboards.leaderboard(db_session, current_user, period, now)


class PlayController(UserController):
    path = "/users/{handle:str}"
    tags = ["play"]

    @get("/forest", responses=problems("user-not-found"))
    async def forest(
        self,
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
        current_user: NamedDependency[User],
        now: NamedDependency[datetime],
        answer_language: NamedDependency[Language],
        handle: FromPath[HandlePath],
    ) -> FriendForest:
        """A friend's tree and balls (never their balance), with what you may do to each ball (SPEC 5); a stranger
        answers 404."""
        return await play.friend_forest(db_session, settings, current_user, handle, now, answer_language)

    @post(
        "/balls/{ball_id:str}/steal",
        status_code=200,
        responses=problems(
            "user-not-found",
            "ball-not-found",
            "not-ripe",
            "ball-collected",
            "ball-expired",
            "user-suspended",
            "opted-out",
            "shielded",
            "already-stolen",
            "nothing-left-to-steal",
            "daily-limit",
            "conflict",
        ),
    )
    async def steal(
        self,
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
        current_user: NamedDependency[User],
        now: NamedDependency[datetime],
        handle: FromPath[HandlePath],
        ball_id: FromPath[ResourceId],
    ) -> Stolen:
        """Steal from a friend's ripe ball (SPEC 5): 10% of its amount, at most 30% in all, once per thief per ball
        and 20 times a day; refused (409) when the friend opted out or is shielded."""
        stolen = await play.steal(db_session, settings, current_user, handle, ball_id, now)
        return Stolen(stolen_g=stolen)

    @post(
        "/balls/{ball_id:str}/help-collect",
        status_code=200,
        responses=problems(
            "user-not-found", "ball-not-found", "not-ripe", "ball-collected", "ball-expired", "not-expiring-soon"
        ),
    )
    async def help_collect(
        self,
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
        current_user: NamedDependency[User],
        now: NamedDependency[datetime],
        handle: FromPath[HandlePath],
        ball_id: FromPath[ResourceId],
    ) -> HelpCollected:
        """Collect a friend's ripe ball that expires within 12 h into the friend's balance (SPEC 5)."""
        collected = await play.help_collect(db_session, settings, current_user, handle, ball_id, now)
        return HelpCollected(collected_g=collected)

    @post("/water", status_code=200, responses=problems("user-not-found", "daily-limit", "short-balance"))
    async def water(
        self,
        settings: NamedDependency[Settings],
        db_session: NamedDependency[AsyncSession],
        current_user: NamedDependency[User],
        now: NamedDependency[datetime],
        handle: FromPath[HandlePath],
        data: JSONBody[WaterRequest],
    ) -> Watered:
        """Give a friend 10, 18, 33 or 66 g from your balance (SPEC 5), at most 3 times per friend a day."""
        balance = await play.water(db_session, settings, current_user, handle, data.amount_g, now)
        return Watered(amount_g=data.amount_g, balance_g=balance)
