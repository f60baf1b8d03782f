"""Friends (SPEC 5): friend requests, friendships, and looking a friend up by handle.

Friend requests between two users queue on a lock on the pair, so crossing requests get the
answers of a serial order. A refusal raises, and the request's transaction is rolled back whole.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.db import dialect_insert, dialect_name, new_id
from server.errors import Conflict, NotFound
from server.feed.models import FeedType
from server.feed.service import add_feed_item
from server.notifications.service import notify
from server.pagination import Ordering, newest_first, page_of
from server.social.models import FriendRequest, Friendship, RequestStatus
from server.social.schemas import FriendPublic, FriendRequestPublic, UserRef
from server.users.models import User

# The first key of the PostgreSQL advisory locks on a pair of users (the second is the pair's
# hash): a namespace of its own, so the pair locks meet no other advisory lock.
FRIEND_PAIR_LOCKS = 5_318_001


async def find_user(session: AsyncSession, handle: str) -> User | None:
    return (
        await session.execute(select(User).where(col(User.handle) == handle.lower(), col(User.deleted_at).is_(None)))
    ).scalar_one_or_none()


async def friend_by_handle(session: AsyncSession, viewer_id: str, handle: str) -> User:
    """The viewer's friend with that handle; unknown handles and strangers are both 404."""
    friend = (
        await session.execute(
            select(User)
            .join(Friendship, and_(col(Friendship.friend_id) == col(User.id), col(Friendship.user_id) == viewer_id))
            .where(col(User.handle) == handle.lower(), col(User.deleted_at).is_(None))
        )
    ).scalar_one_or_none()
    if friend is None:
        raise NotFound("No friend with that handle.", problem="user-not-found")
    return friend


async def are_friends(session: AsyncSession, user_id: str, other_id: str) -> bool:
    found = await session.execute(
        select(col(Friendship.id)).where(col(Friendship.user_id) == user_id, col(Friendship.friend_id) == other_id)
    )
    return found.first() is not None


def _pair_key(a: str, b: str) -> str:
    return ":".join(sorted((a, b)))


async def _befriend(session: AsyncSession, a: str, b: str, now: datetime) -> None:
    insert = dialect_insert(session)
    for user_id, friend_id in ((a, b), (b, a)):
        await session.execute(
            insert(Friendship)
            .values(id=new_id(), user_id=user_id, friend_id=friend_id, created_at=now)
            .on_conflict_do_nothing(index_elements=[col(Friendship.user_id), col(Friendship.friend_id)])
        )


async def requests_public(session: AsyncSession, requests: list[FriendRequest]) -> list[FriendRequestPublic]:
    ids = {r.from_user_id for r in requests} | {r.to_user_id for r in requests}
    users = {
        u.id: UserRef(handle=u.handle, display_name=u.display_name)
        for u in (await session.execute(select(User).where(col(User.id).in_(ids)))).scalars()
    }
    return [
        FriendRequestPublic(
            id=r.id,
            to=users[r.to_user_id],
            status=r.status,
            created_at=r.created_at,
            **{"from": users[r.from_user_id]},
        )
        for r in requests
    ]


async def _lock_pair(session: AsyncSession, pair_key: str) -> None:
    """Serialise friend requests between two users until this transaction ends.

    On PostgreSQL a `SELECT ... FOR UPDATE` locks nothing while no request exists yet, so two
    requests sent at once would both find none and both insert (the unique index then refuses
    one). A transaction-scoped advisory lock on the pair makes the second wait for the first to
    commit; every later statement of its READ COMMITTED transaction then sees what the first did.
    SQLite needs nothing: each writing transaction holds the database's write lock from its
    `BEGIN IMMEDIATE` (server/db.py).
    """
    if dialect_name(session) == "postgresql":
        await session.execute(select(func.pg_advisory_xact_lock(FRIEND_PAIR_LOCKS, func.hashtext(pair_key))))


async def request_friend(session: AsyncSession, user: User, handle: str, now: datetime) -> FriendRequest:
    """SPEC 5: 409 for oneself, a friend or a pending request; a crossing request accepts both.

    Requests between the same two users run one after the other (`_lock_pair`), so the answers
    are those of a serial order: of two crossing requests sent at once, the first is a pending
    request (201) and the second accepts it (201, accepted). The pending request is locked
    before the friendship is read: an accept or decline by its addressee (`respond`, which does
    not take the pair lock) has then either committed and is seen, or waits for us.
    """
    other = await find_user(session, handle)
    if other is None:
        raise NotFound("No user with that handle.", problem="user-not-found")
    if other.id == user.id:
        raise Conflict("You cannot befriend yourself.", problem="self-friend-request")
    key = _pair_key(user.id, other.id)
    await _lock_pair(session, key)
    pending = (
        await session.execute(
            select(FriendRequest)
            .where(col(FriendRequest.pair_key) == key, col(FriendRequest.status) == RequestStatus.PENDING)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if await are_friends(session, user.id, other.id):
        raise Conflict("You are friends already.", problem="already-friends")
    if pending is not None and pending.from_user_id == user.id:
        raise Conflict("Your request is still pending.", problem="request-pending")
    if pending is not None:
        # They asked first: this request accepts theirs, and both are recorded as accepted.
        pending.status = RequestStatus.ACCEPTED
        pending.responded_at = now
        request = FriendRequest(
            from_user_id=user.id,
            to_user_id=other.id,
            pair_key=key,
            status=RequestStatus.ACCEPTED,
            created_at=now,
            responded_at=now,
        )
        session.add(request)
        await session.flush()
        await _befriend(session, user.id, other.id, now)
        return request
    request = FriendRequest(from_user_id=user.id, to_user_id=other.id, pair_key=key, created_at=now)
    session.add(request)
    await session.flush()
    await add_feed_item(session, other.id, FeedType.FRIEND_REQUESTED, friend_id=user.id, now=now)
    await notify(session, other.id, "friend.requested", request.id, {"friend_id": user.id}, now=now)
    return request


async def respond(session: AsyncSession, user: User, request_id: str, accept: bool, now: datetime) -> FriendRequest:
    """Accept or decline a pending request addressed to the user (anyone else's is 404)."""
    status = RequestStatus.ACCEPTED if accept else RequestStatus.DECLINED
    row = (
        await session.execute(
            update(FriendRequest)
            .where(
                col(FriendRequest.id) == request_id,
                col(FriendRequest.to_user_id) == user.id,
                col(FriendRequest.status) == RequestStatus.PENDING,
            )
            .values(status=status, responded_at=now)
            .returning(col(FriendRequest.from_user_id))
            .execution_options(synchronize_session=False)
        )
    ).first()
    if row is None:
        existing = (
            await session.execute(
                select(col(FriendRequest.id)).where(
                    col(FriendRequest.id) == request_id, col(FriendRequest.to_user_id) == user.id
                )
            )
        ).first()
        if existing is None:
            raise NotFound("No such friend request.", problem="friend-request-not-found")
        raise Conflict("This request was answered already.", problem="request-not-pending")
    if accept:
        await _befriend(session, user.id, row.from_user_id, now)
    return await session.get_one(FriendRequest, request_id, populate_existing=True)


async def list_requests(
    session: AsyncSession, user: User, direction: Literal["incoming", "outgoing"], cursor: str | None, limit: int
) -> tuple[list[FriendRequestPublic], str | None]:
    side = col(FriendRequest.to_user_id) if direction == "incoming" else col(FriendRequest.from_user_id)
    query = select(FriendRequest).where(side == user.id, col(FriendRequest.status) == RequestStatus.PENDING)
    rows = list((await session.execute(newest_first(query, col(FriendRequest.id), cursor, limit))).scalars())
    rows, next_cursor = page_of(rows, limit)
    return await requests_public(session, rows), next_cursor


async def list_friends(
    session: AsyncSession, user_id: str, cursor: str | None, limit: int, order: Ordering = newest_first
) -> tuple[list[FriendPublic], str | None]:
    query = (
        select(col(Friendship.id), col(Friendship.created_at), col(User.handle), col(User.display_name))
        .join(User, col(User.id) == col(Friendship.friend_id))
        .where(col(Friendship.user_id) == user_id, col(User.deleted_at).is_(None))
    )
    rows = list((await session.execute(order(query, col(Friendship.id), cursor, limit))).all())
    rows, next_cursor = page_of(rows, limit)
    return [FriendPublic(handle=r.handle, display_name=r.display_name, since=r.created_at) for r in rows], next_cursor


async def remove_friend(session: AsyncSession, user: User, handle: str) -> None:
    friend = await friend_by_handle(session, user.id, handle)
    await session.execute(
        delete(Friendship).where(
            or_(
                and_(col(Friendship.user_id) == user.id, col(Friendship.friend_id) == friend.id),
                and_(col(Friendship.user_id) == friend.id, col(Friendship.friend_id) == user.id),
            )
        )
    )


async def forget_user(session: AsyncSession, user_id: str, now: datetime) -> None:
    """Account deletion (SPEC 2): the user's friendships go, and pending requests are declined."""
    await session.execute(
        delete(Friendship).where(or_(col(Friendship.user_id) == user_id, col(Friendship.friend_id) == user_id))
    )
    await session.execute(
        update(FriendRequest)
        .where(
            col(FriendRequest.status) == RequestStatus.PENDING,
            or_(col(FriendRequest.from_user_id) == user_id, col(FriendRequest.to_user_id) == user_id),
        )
        .values(status=RequestStatus.DECLINED, responded_at=now)
        .execution_options(synchronize_session=False)
    )
