"""Members: invitations, joining, signing in, removal, and the sessions of the portals (SPEC 12.3).

One service for the JSON API (`/v1/admin/.../members`), the portals' members pages, the operator
console and the `canopy` command, so every rule and mail is the same wherever a member is invited.

- An invitation is a random token whose SHA-256 is kept on the member until the link is used;
  the link `<CANOPY_PUBLIC_BASE_URL>/invite?token=` is mailed, and answered once to whoever
  invited. It works once, for `member_invitation_ttl_s` (wall clock, like every credential),
  and is spent by a guarded UPDATE, so two tabs racing with it cannot both join.
- An address belongs to one live member. Inviting it again: a member who joined, or a live
  invitation to another organisation, is 409 `member-exists`; a pending invitation to the same
  organisation is replaced by a fresh one (the old link stops working: a lost link is sent
  again); an expired invitation to another organisation is withdrawn and the new one made.
  A removed member's address may be invited again (a new member, with a new id).
- Removing a member bumps their session epoch: every session they have ends at its next request.
  Nobody removes themselves as the last owner who has joined (409 `last-owner`).

Sessions run on the wall clock. A session ends when it has been idle for `web_session_idle_s`,
when it is `web_session_max_age_s` old, at sign-out, and when the member's epoch moves on
(removal): the store (sessions.py) checks the times, `live_session` the member.
"""

from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio.to_thread
from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from server.clock import wall_clock
from server.db import Database, rowcount, session_scope
from server.dependencies import SessionRecord, SessionStore
from server.errors import BadRequest, Conflict, NotFound
from server.i18n import Language
from server.mail import service as mail
from server.members.models import Member, MemberRole, OrgKind
from server.members.schemas import MemberPublic
from server.members.sessions import token_hash
from server.partners.models import Partner
from server.planting.models import Ngo
from server.settings import Settings
from server.throttle import Throttle
from server.users.security import Passwords

INVITATION_MAIL = "member-invitation"
# What secrets.token_urlsafe(32) makes; anything else was never issued.
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")
OPERATORS_NAME = "Canopy"
"""The operators' organisation, as an invitation names it."""


def _member_exists() -> Conflict:
    return Conflict("This address belongs to a member already.", problem="member-exists")


def _invalid_invitation() -> BadRequest:
    return BadRequest(
        "The invitation is not valid: it was used, it expired, or it never existed.", problem="invalid-token"
    )


async def organisation_name(session: AsyncSession, org_kind: OrgKind, org_id: str | None) -> str:
    """The NGO's or partner's name; 404 for one that does not exist."""
    if org_kind == OrgKind.OPERATOR:
        return OPERATORS_NAME
    model = Ngo if org_kind == OrgKind.NGO else Partner
    name = (
        (await session.execute(select(col(model.name)).where(col(model.id) == org_id))).scalar_one_or_none()
        if org_id
        else None
    )
    if name is None:
        raise NotFound("No such organisation.", problem="not-found")
    return name


async def add_member(
    session: AsyncSession, *, email: str, org_kind: OrgKind, org_id: str | None, role: MemberRole, now: datetime
) -> Member:
    member = Member(email=email.lower(), org_kind=org_kind, org_id=org_id, role=role, invited_at=now)
    session.add(member)
    await session.flush()
    return member


async def join(session: AsyncSession, member: Member, *, name: str, password_hash: str, now: datetime) -> Member:
    """The invitee chose a name and a password: the member can sign in from now on."""
    member.name = name
    member.password_hash = password_hash
    member.joined_at = now
    member.invitation_hash = None
    member.invitation_expires_at = None
    session.add(member)
    await session.flush()
    return member


async def member_by_email(session: AsyncSession, email: str) -> Member | None:
    query = select(Member).where(col(Member.email) == email.lower(), col(Member.removed_at).is_(None))
    return (await session.execute(query)).scalar_one_or_none()


def to_public(member: Member) -> MemberPublic:
    return MemberPublic(
        id=member.id,
        email=member.email,
        name=member.name,
        role=MemberRole(member.role),
        status=member.status,
        invited_at=member.invited_at,
        joined_at=member.joined_at,
        invitation_expires_at=member.invitation_expires_at,
        totp=member.totp_secret is not None,
    )


@dataclass(frozen=True, slots=True)
class Invitation:
    """A member invited, and the link shown this once (and mailed)."""

    member: Member
    url: str


async def invite(
    session: AsyncSession,
    settings: Settings,
    *,
    org_kind: OrgKind,
    org_id: str | None,
    email: str,
    role: MemberRole,
    language: Language,
    now: datetime,
) -> Invitation:
    """Invite `email` to the organisation (404 if it does not exist), mailing the link in
    `language` (the inviter's: the invitee has none yet); see the module's rules for an address
    invited before."""
    organisation = await organisation_name(session, org_kind, org_id)
    wall_now = wall_clock()
    member = await member_by_email(session, email)
    if member is not None:
        same_organisation = member.org_kind == org_kind and member.org_id == org_id
        expired = member.invitation_expires_at is None or member.invitation_expires_at <= wall_now
        if member.joined_at is not None or not (same_organisation or expired):
            raise _member_exists()
        if not same_organisation:  # an expired invitation elsewhere: withdrawn
            member.removed_at = wall_now
            member.invitation_hash = None
            session.add(member)
            await session.flush()
            member = None
    if member is None:
        member = Member(email=email.lower(), org_kind=org_kind, org_id=org_id, role=role, invited_at=now)
    token = secrets.token_urlsafe(32)
    member.role = role
    member.invited_at = now
    member.invitation_hash = token_hash(token)
    member.invitation_expires_at = wall_now + timedelta(seconds=settings.member_invitation_ttl_s)
    session.add(member)
    try:
        await session.flush()
    except IntegrityError as exc:  # the same address invited a moment ago
        raise _member_exists() from exc
    url = f"{settings.public_base_url.rstrip('/')}/invite?token={token}"
    context: dict[str, object] = {
        "organisation": organisation,
        "org_kind": str(org_kind),
        "role": str(role),
        "link": url,
        "days": math.ceil(settings.member_invitation_ttl_s / 86400),
    }
    await mail.enqueue(
        session, settings, to=member.email, kind=INVITATION_MAIL, language=language, context=context, now=now
    )
    return Invitation(member=member, url=url)


def _of_organisation(org_kind: OrgKind, org_id: str | None) -> tuple[ColumnElement[bool], ...]:
    """The live members of one organisation (the operators have no id)."""
    return (
        col(Member.org_kind) == org_kind,
        col(Member.org_id).is_(None) if org_id is None else col(Member.org_id) == org_id,
        col(Member.removed_at).is_(None),
    )


async def list_members(session: AsyncSession, org_kind: OrgKind, org_id: str | None) -> list[Member]:
    """The organisation's live members and pending invitations, in the order they were invited."""
    query = select(Member).where(*_of_organisation(org_kind, org_id)).order_by(col(Member.invited_at), col(Member.id))
    return list((await session.execute(query)).scalars())


async def get_member(session: AsyncSession, org_kind: OrgKind, org_id: str | None, member_id: str) -> Member:
    """One of the organisation's live members; another organisation's is 404, as an unknown id."""
    query = select(Member).where(col(Member.id) == member_id, *_of_organisation(org_kind, org_id))
    found = (await session.execute(query)).scalar_one_or_none()
    if found is None:
        raise NotFound("No such member.", problem="not-found")
    return found


async def remove_member(
    session: AsyncSession,
    org_kind: OrgKind,
    org_id: str | None,
    member_id: str,
    now: datetime,
    *,
    acting_member_id: str | None = None,
) -> Member:
    """Remove a member or withdraw an invitation; their sessions end. `acting_member_id`: the
    member doing it, who may not remove themselves as the organisation's last owner."""
    member = await get_member(session, org_kind, org_id, member_id)
    if member.id == acting_member_id and member.role == MemberRole.OWNER:
        owners = (
            await session.execute(
                select(func.count())
                .select_from(Member)
                .where(
                    *_of_organisation(org_kind, org_id),
                    col(Member.role) == MemberRole.OWNER,
                    col(Member.joined_at).is_not(None),
                )
            )
        ).scalar_one()
        if owners <= 1:
            raise Conflict("You are the organisation's last owner: invite another owner first.", problem="last-owner")
    result = await session.execute(
        update(Member)
        .where(col(Member.id) == member.id, col(Member.removed_at).is_(None))
        .values(
            removed_at=now,
            session_epoch=col(Member.session_epoch) + 1,
            invitation_hash=None,
            invitation_expires_at=None,
        )
    )
    if rowcount(result) != 1:  # removed a moment ago by someone else
        raise NotFound("No such member.", problem="not-found")
    return member


async def pending_invitation(session: AsyncSession, token: str) -> Member | None:
    """The member a live invitation link is for, without spending it (the page shows its form)."""
    if not TOKEN_PATTERN.fullmatch(token):
        return None
    query = select(Member).where(
        col(Member.invitation_hash) == token_hash(token),
        col(Member.invitation_expires_at) > wall_clock(),
        col(Member.joined_at).is_(None),
        col(Member.removed_at).is_(None),
    )
    return (await session.execute(query)).scalar_one_or_none()


async def accept_invitation(
    session: AsyncSession, passwords: Passwords, token: str, *, name: str, password: str, now: datetime
) -> Member:
    """Spend the invitation (once): the member joins with this name and password. The password is
    hashed before the token is looked at, so hashing holds no lock."""
    if not TOKEN_PATTERN.fullmatch(token):
        raise _invalid_invitation()
    password_hash = await anyio.to_thread.run_sync(passwords.hash, password)
    member_id = (
        await session.execute(
            update(Member)
            .where(
                col(Member.invitation_hash) == token_hash(token),
                col(Member.invitation_expires_at) > wall_clock(),
                col(Member.joined_at).is_(None),
                col(Member.removed_at).is_(None),
            )
            .values(
                name=name,
                password_hash=password_hash,
                joined_at=now,
                invitation_hash=None,
                invitation_expires_at=None,
            )
            .returning(col(Member.id))
        )
    ).scalar_one_or_none()
    if member_id is None:
        raise _invalid_invitation()
    member = (
        await session.execute(
            select(Member).where(col(Member.id) == member_id).execution_options(populate_existing=True)
        )
    ).scalar_one()
    return member


async def sign_in(
    session: AsyncSession,
    database: Database,
    passwords: Passwords,
    throttle: Throttle,
    *,
    email: str,
    password: str,
    address: str,
    now: datetime,
) -> Member | None:
    """The joined member with this email and password, else None (429 over the limit). The caller
    starts the session, or asks for the second factor first.

    As the API's login (users.service.login): counted before the password is checked and given
    back when it is right; the member is read outside the request's transaction, which on SQLite
    holds the write lock the counters need; an unknown email costs a hash check too.
    """
    reservation = await throttle.reserve_login(f"member:{email.lower()}", address)
    async with session_scope(database.read_sessions) as reader:
        member = await member_by_email(reader, email)
    verified = await anyio.to_thread.run_sync(passwords.verify, member.password_hash if member else None, password)
    if member is None or not verified:
        return None
    await throttle.give_back(reservation)
    return member


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A live session and its member, as a page sees them."""

    member: Member
    session: SessionRecord


async def start_session(store: SessionStore, member: Member, now: datetime) -> str:
    """A new session for `member`; the returned token goes into the cookie and nowhere else."""
    token, _ = await store.start(member.id, member.session_epoch, now)
    return token


async def live_session(session: AsyncSession, store: SessionStore, token: str, now: datetime) -> SignedIn | None:
    """The session behind a cookie's token, if it is live: by time (the store), and its member
    still there with the epoch the session began under."""
    record = await store.find(token, now)
    if record is None:
        return None
    member = (
        await session.execute(
            select(Member).where(
                col(Member.id) == record.member_id,
                col(Member.removed_at).is_(None),
                col(Member.session_epoch) == record.member_epoch,
            )
        )
    ).scalar_one_or_none()
    return None if member is None else SignedIn(member=member, session=record)


async def live_member(session: AsyncSession, member_id: str, epoch: int) -> Member | None:
    """The member, if still there with this epoch (a sign-in waiting for its second factor)."""
    query = select(Member).where(
        col(Member.id) == member_id,
        col(Member.removed_at).is_(None),
        col(Member.session_epoch) == epoch,
        col(Member.joined_at).is_not(None),
    )
    return (await session.execute(query)).scalar_one_or_none()


async def live_member_by_id(session: AsyncSession, member_id: str) -> Member | None:
    query = select(Member).where(col(Member.id) == member_id, col(Member.removed_at).is_(None))
    return (await session.execute(query)).scalar_one_or_none()


async def end_session(store: SessionStore, token: str, now: datetime) -> None:
    """Sign-out: the token stops working at once, and a copy of the cookie replayed later too."""
    await store.end(token, now)
