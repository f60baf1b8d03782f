"""Friends and play (SPEC 5): friend requests, friendships, stealing, help-collect, watering,
shields and leaderboards.

Every rule that must hold under concurrency is decided by the database in the same transaction
as the change: a steal is one guarded UPDATE of the ball (the allowance re-checked in its WHERE)
plus an insert under a unique (ball, thief) constraint; daily limits are counter rows raised by
a guarded upsert; a watering debits with a guarded UPDATE; friend requests between two users
queue on a lock on the pair. A refusal raises, and the request's transaction is rolled back as a
whole.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Literal

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.catalog.models import Project, Species
from server.db import dialect_insert, dialect_name, new_id
from server.energy.models import Ball
from server.energy.service import ball_state, forest_balls, ripe_at
from server.errors import Conflict, NotFound
from server.feed.models import FeedType
from server.feed.service import add_feed_item
from server.ledger.models import Account, LedgerEntry, TransactionKind
from server.ledger.service import Leg, balance_of
from server.notifications.service import notify
from server.pagination import newest_first, page_of
from server.settings import Settings
from server.social.models import FriendRequest, Friendship, PlayCounter, RequestStatus, Steal
from server.social.schemas import (
    FriendBall,
    FriendForest,
    FriendPublic,
    FriendRequestPublic,
    FriendTree,
    Leaderboard,
    LeaderboardItem,
    UserRef,
)
from server.trees import service as trees
from server.trees.schemas import ProjectRef, SpeciesRef
from server.users.models import User
from server.users.timezones import local_day, local_time_on, user_zone

STEAL = "steal"
WATER = "water"
# A steal re-reads the ball and retries when a concurrent thief changed it first; every retry
# means another thief succeeded, and a ball allows only a few steals, so this is never reached
# in practice (a last resort answers 409 conflict, nothing written).
MAX_STEAL_ATTEMPTS = 50
# The first key of the PostgreSQL advisory locks on a pair of users (the second is the pair's
# hash): a namespace of its own, so the pair locks meet no other advisory lock.
FRIEND_PAIR_LOCKS = 5_318_001


# --- people -----------------------------------------------------------------------------------


async def find_user(session: AsyncSession, handle: str) -> User | None:
    return (
        await session.execute(select(User).where(User.handle == handle.lower(), User.deleted_at.is_(None)))
    ).scalar_one_or_none()


async def friend_by_handle(session: AsyncSession, viewer_id: str, handle: str) -> User:
    """The viewer's friend with that handle; unknown handles and strangers are both 404."""
    friend = (
        await session.execute(
            select(User)
            .join(Friendship, and_(Friendship.friend_id == User.id, Friendship.user_id == viewer_id))
            .where(User.handle == handle.lower(), User.deleted_at.is_(None))
        )
    ).scalar_one_or_none()
    if friend is None:
        raise NotFound("No friend with that handle.", problem="user-not-found")
    return friend


async def are_friends(session: AsyncSession, user_id: str, other_id: str) -> bool:
    found = await session.execute(
        select(Friendship.id).where(Friendship.user_id == user_id, Friendship.friend_id == other_id)
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
            .on_conflict_do_nothing(index_elements=[Friendship.user_id, Friendship.friend_id])
        )


async def requests_public(session: AsyncSession, requests: list[FriendRequest]) -> list[FriendRequestPublic]:
    ids = {r.from_user_id for r in requests} | {r.to_user_id for r in requests}
    users = {
        u.id: UserRef(handle=u.handle, display_name=u.display_name)
        for u in (await session.execute(select(User).where(User.id.in_(ids)))).scalars()
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
            .where(FriendRequest.pair_key == key, FriendRequest.status == RequestStatus.PENDING)
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
                FriendRequest.id == request_id,
                FriendRequest.to_user_id == user.id,
                FriendRequest.status == RequestStatus.PENDING,
            )
            .values(status=status, responded_at=now)
            .returning(FriendRequest.from_user_id)
            .execution_options(synchronize_session=False)
        )
    ).first()
    if row is None:
        existing = (
            await session.execute(
                select(FriendRequest.id).where(FriendRequest.id == request_id, FriendRequest.to_user_id == user.id)
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
    side = FriendRequest.to_user_id if direction == "incoming" else FriendRequest.from_user_id
    query = select(FriendRequest).where(side == user.id, FriendRequest.status == RequestStatus.PENDING)
    rows = list((await session.execute(newest_first(query, FriendRequest.id, cursor, limit))).scalars())
    rows, next_cursor = page_of(rows, limit)
    return await requests_public(session, rows), next_cursor


async def list_friends(
    session: AsyncSession, user: User, cursor: str | None, limit: int
) -> tuple[list[FriendPublic], str | None]:
    query = (
        select(Friendship.id, Friendship.created_at, User.handle, User.display_name)
        .join(User, User.id == Friendship.friend_id)
        .where(Friendship.user_id == user.id, User.deleted_at.is_(None))
    )
    rows = list((await session.execute(newest_first(query, Friendship.id, cursor, limit))).all())
    rows, next_cursor = page_of(rows, limit)
    return [FriendPublic(handle=r.handle, display_name=r.display_name, since=r.created_at) for r in rows], next_cursor


async def remove_friend(session: AsyncSession, user: User, handle: str) -> None:
    friend = await friend_by_handle(session, user.id, handle)
    await session.execute(
        delete(Friendship).where(
            or_(
                and_(Friendship.user_id == user.id, Friendship.friend_id == friend.id),
                and_(Friendship.user_id == friend.id, Friendship.friend_id == user.id),
            )
        )
    )


async def forget_user(session: AsyncSession, user_id: str, now: datetime) -> None:
    """Account deletion (SPEC 2): the user's friendships go, and pending requests are declined."""
    await session.execute(delete(Friendship).where(or_(Friendship.user_id == user_id, Friendship.friend_id == user_id)))
    await session.execute(
        update(FriendRequest)
        .where(
            FriendRequest.status == RequestStatus.PENDING,
            or_(FriendRequest.from_user_id == user_id, FriendRequest.to_user_id == user_id),
        )
        .values(status=RequestStatus.DECLINED, responded_at=now)
        .execution_options(synchronize_session=False)
    )


# --- limits -----------------------------------------------------------------------------------


async def _use_daily_allowance(
    session: AsyncSession, user_id: str, kind: str, subject_id: str, day: date, limit: int
) -> bool:
    """Count one more use today; False (nothing changed) when `limit` is reached. One guarded
    upsert: concurrent requests of the same user queue on the counter row."""
    if limit <= 0:
        return False
    insert = dialect_insert(session)
    statement = insert(PlayCounter).values(user_id=user_id, kind=kind, subject_id=subject_id, local_day=day, count=1)
    statement = statement.on_conflict_do_update(
        index_elements=[PlayCounter.user_id, PlayCounter.kind, PlayCounter.subject_id, PlayCounter.local_day],
        set_={"count": PlayCounter.count + 1},
        where=PlayCounter.count < limit,
    ).returning(PlayCounter.count)
    return (await session.execute(statement)).scalar() is not None


async def _used_today(session: AsyncSession, user_id: str, kind: str, subject_id: str, day: date) -> int:
    used = (
        await session.execute(
            select(PlayCounter.count).where(
                PlayCounter.user_id == user_id,
                PlayCounter.kind == kind,
                PlayCounter.subject_id == subject_id,
                PlayCounter.local_day == day,
            )
        )
    ).scalar()
    return used or 0


# --- stealing ---------------------------------------------------------------------------------


def steal_take(settings: Settings, amount_g: int, stolen_g: int, remaining_g: int) -> int:
    """ceil(10%) of the ball's amount, trimmed to what is left of the floor(30%) allowance and to
    what the ball still holds (settings)."""
    per_steal = -(-amount_g * settings.steal_percent // 100)
    allowance = amount_g * settings.steal_max_percent // 100
    return max(0, min(per_steal, allowance - stolen_g, remaining_g))


def is_shielded(user: User, now: datetime) -> bool:
    return user.shield_until is not None and user.shield_until > now


def _state_conflict(state: str) -> Conflict:
    if state == "growing":
        return Conflict("This ball is not ripe yet.", problem="not-ripe")
    return Conflict(f"This ball is {state}.", problem=f"ball-{state}")


def _check_owner(owner: User, now: datetime) -> None:
    if not owner.allow_steal:
        raise Conflict("This friend does not allow stealing.", problem="opted-out")
    if is_shielded(owner, now):
        raise Conflict("This friend's forest is shielded.", problem="shielded")


async def _friend_ball(session: AsyncSession, owner_id: str, ball_id: str) -> Ball:
    ball = (
        await session.execute(
            select(Ball).where(Ball.id == ball_id, Ball.user_id == owner_id).execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if ball is None:
        raise NotFound("No such ball.", problem="ball-not-found")
    return ball


async def steal(
    session: AsyncSession, settings: Settings, thief: User, handle: str, ball_id: str, now: datetime
) -> int:
    owner = await friend_by_handle(session, thief.id, handle)
    ball = await _friend_ball(session, owner.id, ball_id)
    _check_owner(owner, now)
    state = ball_state(ball, now)
    if state != "ripe":
        raise _state_conflict(state)
    stolen_before = await session.execute(select(Steal.id).where(Steal.ball_id == ball_id, Steal.thief_id == thief.id))
    if stolen_before.first() is not None:
        raise Conflict("You have stolen from this ball already.", problem="already-stolen")
    if steal_take(settings, ball.amount_g, ball.stolen_g, ball.remaining_g) == 0:
        raise Conflict("Nothing is left to steal from this ball.", problem="nothing-left-to-steal")
    day = local_day(thief, now)
    if not await _use_daily_allowance(session, thief.id, STEAL, "", day, settings.steals_per_day):
        raise Conflict(f"You may steal {settings.steals_per_day} times a day.", problem="daily-limit")

    take = await _take_from_ball(session, settings, owner.id, ball_id, now)
    recorded = await session.execute(
        dialect_insert(session)(Steal)
        .values(
            id=new_id(),
            ball_id=ball_id,
            owner_id=owner.id,
            thief_id=thief.id,
            grams=take,
            local_day=day,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=[Steal.ball_id, Steal.thief_id])
        .returning(Steal.id)
    )
    if recorded.scalar() is None:  # the same thief, in a parallel request, got there first
        raise Conflict("You have stolen from this ball already.", problem="already-stolen")
    await trees.credit(
        session,
        thief.id,
        take,
        TransactionKind.STEAL,
        [Leg(Account.BALL, -take, owner.id, ball_id=ball_id)],
        now=now,
        reference=ball_id,
    )
    await add_feed_item(session, owner.id, FeedType.BALL_STOLEN, friend_id=thief.id, amount_g=take, now=now)
    await notify(session, owner.id, "ball.stolen", ball_id, {"friend_id": thief.id, "amount_g": take}, now=now)
    return take


async def _take_from_ball(session: AsyncSession, settings: Settings, owner_id: str, ball_id: str, now: datetime) -> int:
    """Take this thief's share with one guarded UPDATE whose WHERE re-checks the bound.

    `take` comes from a read; stolen_g only rises and remaining_g only falls, so a take that
    still passes `stolen_g <= allowance - take AND remaining_g >= take` is exactly what a fresh
    read would give. When a concurrent thief got there first the WHERE fails, and we re-read.
    """
    owner_open = (
        select(User.id)
        .where(
            User.id == owner_id,
            User.allow_steal.is_(True),
            or_(User.shield_until.is_(None), User.shield_until <= now),
        )
        .exists()
    )
    for _ in range(MAX_STEAL_ATTEMPTS):
        row = (
            await session.execute(select(Ball.amount_g, Ball.stolen_g, Ball.remaining_g).where(Ball.id == ball_id))
        ).one()
        take = steal_take(settings, row.amount_g, row.stolen_g, row.remaining_g)
        if take <= 0:
            raise Conflict("Nothing is left to steal from this ball.", problem="nothing-left-to-steal")
        allowance = row.amount_g * settings.steal_max_percent // 100
        taken = await session.execute(
            update(Ball)
            .where(
                Ball.id == ball_id,
                Ball.user_id == owner_id,
                *ripe_at(now),
                Ball.amount_g == row.amount_g,
                Ball.stolen_g <= allowance - take,
                Ball.remaining_g >= take,
                owner_open,
            )
            .values(remaining_g=Ball.remaining_g - take, stolen_g=Ball.stolen_g + take)
            .returning(Ball.id)
            .execution_options(synchronize_session=False)
        )
        if taken.scalar() is not None:
            return take
        ball = await _friend_ball(session, owner_id, ball_id)
        state = ball_state(ball, now)
        if state != "ripe":
            raise _state_conflict(state)
        owner = (
            await session.execute(select(User).where(User.id == owner_id).execution_options(populate_existing=True))
        ).scalar_one()
        _check_owner(owner, now)
    raise Conflict("Too many thieves at once; try again.", problem="conflict")


# --- help-collect and water -------------------------------------------------------------------


async def help_collect(
    session: AsyncSession, settings: Settings, helper: User, handle: str, ball_id: str, now: datetime
) -> int:
    """Collect a friend's ripe ball that expires within the window, into the friend's balance."""
    owner = await friend_by_handle(session, helper.id, handle)
    window = timedelta(hours=settings.help_collect_window_h)
    claimed = (
        await session.execute(
            update(Ball)
            .where(Ball.id == ball_id, Ball.user_id == owner.id, *ripe_at(now), Ball.expires_at <= now + window)
            .values(collected_g=Ball.remaining_g, remaining_g=0, collected_at=now)
            .returning(Ball.collected_g)
            .execution_options(synchronize_session=False)
        )
    ).scalar()
    if claimed is None:
        ball = await _friend_ball(session, owner.id, ball_id)
        state = ball_state(ball, now)
        if state != "ripe":
            raise _state_conflict(state)
        raise Conflict(
            f"Friends may help collect a ball only in its last {settings.help_collect_window_h} hours.",
            problem="not-expiring-soon",
        )
    await trees.credit(
        session,
        owner.id,
        claimed,
        TransactionKind.HELP_COLLECT,
        [Leg(Account.BALL, -claimed, owner.id, ball_id=ball_id)],
        now=now,
        reference=ball_id,
    )
    await add_feed_item(session, owner.id, FeedType.BALL_HELPED, friend_id=helper.id, amount_g=claimed, now=now)
    return claimed


async def water(
    session: AsyncSession, settings: Settings, user: User, handle: str, amount_g: int, now: datetime
) -> int:
    """Give `amount_g` of the user's balance to a friend; returns the user's new balance."""
    friend = await friend_by_handle(session, user.id, handle)
    day = local_day(user, now)
    if not await _use_daily_allowance(session, user.id, WATER, friend.id, day, settings.waterings_per_friend_per_day):
        raise Conflict(
            f"You may water a friend {settings.waterings_per_friend_per_day} times a day.", problem="daily-limit"
        )
    result = await trees.transfer(session, user.id, friend.id, amount_g, TransactionKind.WATER, now=now, reference=None)
    if result is None:
        raise Conflict(f"Your balance is below {amount_g} g.", problem="short-balance")
    await add_feed_item(session, friend.id, FeedType.FRIEND_WATERED, friend_id=user.id, amount_g=amount_g, now=now)
    await notify(session, friend.id, "friend.watered", new_id(), {"friend_id": user.id, "amount_g": amount_g}, now=now)
    return result[0]


# --- shields ----------------------------------------------------------------------------------


async def use_shield(session: AsyncSession, settings: Settings, user: User, now: datetime) -> tuple[int, datetime]:
    """shield_until = max(now, shield_until) + 24 h, using one shield; none held -> 409."""
    row = (
        await session.execute(select(User.shields, User.shield_until).where(User.id == user.id).with_for_update())
    ).one()
    if row.shields <= 0:
        raise Conflict("You hold no shield.", problem="no-shield")
    start = row.shield_until if row.shield_until is not None and row.shield_until > now else now
    until = start + timedelta(hours=settings.shield_hours)
    result = (
        await session.execute(
            update(User)
            .where(User.id == user.id, User.shields > 0)
            .values(shields=User.shields - 1, shield_until=until)
            .returning(User.shields)
            .execution_options(synchronize_session=False)
        )
    ).scalar()
    if result is None:  # pragma: no cover - the row is locked above
        raise Conflict("You hold no shield.", problem="no-shield")
    return result, until


# --- a friend's forest ------------------------------------------------------------------------


async def friend_forest(
    session: AsyncSession, settings: Settings, viewer: User, handle: str, now: datetime
) -> FriendForest:
    owner = await friend_by_handle(session, viewer.id, handle)
    balls = await forest_balls(session, owner.id, now)
    stolen_by_me = set(
        (
            await session.execute(
                select(Steal.ball_id).where(Steal.thief_id == viewer.id, Steal.ball_id.in_([b.id for b in balls]))
            )
        ).scalars()
    )
    steals_left = settings.steals_per_day - await _used_today(session, viewer.id, STEAL, "", local_day(viewer, now))
    owner_open = owner.allow_steal and not is_shielded(owner, now)
    window = timedelta(hours=settings.help_collect_window_h)
    items = []
    for ball in balls:
        state = ball_state(ball, now)
        ripe = state == "ripe"
        items.append(
            FriendBall(
                id=ball.id,
                action=ball.action_code,
                amount_g=ball.amount_g,
                remaining_g=ball.remaining_g,
                stolen_g=ball.stolen_g,
                ripens_at=ball.ripens_at,
                expires_at=ball.expires_at,
                state=state,
                can_steal=ripe
                and owner_open
                and steals_left > 0
                and ball.id not in stolen_by_me
                and steal_take(settings, ball.amount_g, ball.stolen_g, ball.remaining_g) > 0,
                can_help_collect=ripe and ball.expires_at <= now + window,
            )
        )
    tree = await trees.growing_tree(session, owner.id)
    friend_tree = None
    if tree is not None:
        stage, _ = trees.stage_and_progress(tree, (await balance_of(session, owner.id)).balance_g)
        species = await session.get_one(Species, tree.species_id)
        project = await session.get_one(Project, tree.project_id)
        friend_tree = FriendTree(
            id=tree.id,
            species=SpeciesRef(id=species.id, common_name=species.common_name),
            project=ProjectRef(id=project.id, name=project.name),
            stage=stage,
        )
    return FriendForest(
        handle=owner.handle or "",
        display_name=owner.display_name,
        shielded=is_shielded(owner, now),
        tree=friend_tree,
        balls=items,
    )


# --- leaderboards -----------------------------------------------------------------------------

COUNTED_KINDS = (TransactionKind.COLLECT.value, TransactionKind.STEAL.value)
COUNTED_ACCOUNTS = (Account.BALANCE.value, Account.OWED.value)


def period_start(user: User, period: Literal["day", "week", "all"], now: datetime) -> datetime | None:
    """Local midnight of the user's today (day) or of this week's Monday (week); None for all."""
    if period == "all":
        return None
    zone = user_zone(user, now)
    today = local_day(user, now)
    first = today if period == "day" else today - timedelta(days=today.weekday())
    return local_time_on(first, time(0), zone)


async def leaderboard(
    session: AsyncSession, user: User, period: Literal["day", "week", "all"], now: datetime
) -> Leaderboard:
    """The user and their friends by grams collected plus stolen in the period, from the ledger:
    credits to their balance or debt (`owed`, when a collection repaid it) of kind collect or
    steal. Equal totals share a rank (1, 2, 2, 4); within a tie, by handle."""
    starts_at = period_start(user, period, now)
    friend_ids = select(Friendship.friend_id).where(Friendship.user_id == user.id)
    members = (
        await session.execute(
            select(User.id, User.handle, User.display_name).where(
                or_(User.id == user.id, User.id.in_(friend_ids)), User.deleted_at.is_(None)
            )
        )
    ).all()
    conditions = [
        LedgerEntry.kind.in_(COUNTED_KINDS),
        LedgerEntry.account.in_(COUNTED_ACCOUNTS),
        LedgerEntry.user_id.in_([m.id for m in members]),
        LedgerEntry.created_at <= now,
    ]
    if starts_at is not None:
        conditions.append(LedgerEntry.created_at >= starts_at)
    totals = dict(
        (
            await session.execute(
                select(LedgerEntry.user_id, func.sum(LedgerEntry.amount_g))
                .where(*conditions)
                .group_by(LedgerEntry.user_id)
            )
        ).all()
    )
    ordered = sorted(members, key=lambda m: (-int(totals.get(m.id) or 0), m.handle or ""))
    items: list[LeaderboardItem] = []
    for position, member in enumerate(ordered, start=1):
        grams = int(totals.get(member.id) or 0)
        rank = items[-1].rank if items and items[-1].collected_g == grams else position
        items.append(
            LeaderboardItem(rank=rank, handle=member.handle or "", display_name=member.display_name, collected_g=grams)
        )
    return Leaderboard(period=period, starts_at=starts_at, items=items)
