"""Partners (SPEC 7, 9): onboarding and keys, green codes and links, signed reports and voids.

Reports are judged in the SPEC's order: report_id (replay or 409), body (400), actions (403), the
user behind the code or `user_ref` (422), `occurred_at` (422). Everything a request's reports name
(known report ids, links, codes, the catalogue) is read once per request. Phase one (`ingest`)
judges each report in order: an accepted one claims its `(partner, report_id)` row with
`INSERT ... ON CONFLICT DO NOTHING` (a concurrent duplicate waits on the unique index, then
replays this report's response) and redeems its code with a guarded UPDATE; a refusal happens
before any write or deletes its own claim, so it leaves nothing behind. Phase two (`settle`) is
set-based for all accepted reports: usage rows are created and locked in one statement (sorted, so
concurrent requests lock in the same order), caps computed in memory in report order, one award
per user and action, and the action records and responses written in bulk.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

import rfc8785
from pydantic import ValidationError
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.catalog.models import ActionType
from server.crypto import SecretBox, new_secret
from server.db import dialect_insert, dialect_name, for_each_dialect, new_id
from server.energy import service as energy
from server.energy.models import ActionRecord, Ball
from server.errors import BadRequest, Conflict, DomainError, Forbidden, NotFound, Unprocessable, problem_body
from server.feed.service import add_feed_item
from server.ledger import service as ledger
from server.pagination import newest_first, page_of
from server.partners.models import ActionUsage, GreenCode, Partner, PartnerKey, PartnerLink, PartnerReport
from server.partners.schemas import REPORT_ID_PATTERN, PartnerCreate, PartnerUpdate, ReportRequest
from server.settings import Settings
from server.users.models import User
from server.users.timezones import local_day, user_zone
from server.webhooks import service as webhooks
from server.webhooks.urls import check_webhook_url

_REPORT_ID = re.compile(REPORT_ID_PATTERN)
_USER_REF = re.compile(r"^[A-Za-z0-9_]{1,40}$")
_GREEN_CODE = re.compile(r"^[0-9]{18}$")


# --- onboarding (operator) ----------------------------------------------------------------------


def new_key_id() -> str:
    return f"pk_{secrets.token_hex(12)}"


async def _check_actions(session: AsyncSession, codes: list[str]) -> list[str]:
    codes = list(dict.fromkeys(codes))
    found = {a.code: a for a in (await session.execute(select(ActionType).where(ActionType.code.in_(codes)))).scalars()}
    bad = [c for c in codes if c not in found or found[c].retired_at is not None or found[c].verification != "partner"]
    if bad:
        raise Unprocessable(
            f"Not partner-verified action types in the catalogue: {', '.join(bad)}.", problem="action-not-partner"
        )
    return codes


def _webhook(settings: Settings, url: str) -> tuple[str, str, str]:
    """(url, plaintext secret shown once, encrypted secret stored)."""
    check_webhook_url(url, allow_private=settings.webhook_allow_private)
    secret = new_secret("whsec")
    return url, secret, SecretBox(settings).encrypt(secret)


async def add_key(session: AsyncSession, settings: Settings, partner_id: str, now: datetime) -> tuple[str, str]:
    key_id, secret = new_key_id(), new_secret("psk")
    session.add(
        PartnerKey(key_id=key_id, partner_id=partner_id, secret=SecretBox(settings).encrypt(secret), created_at=now)
    )
    await session.flush()
    return key_id, secret


async def create_partner(
    session: AsyncSession, settings: Settings, data: PartnerCreate, now: datetime
) -> tuple[Partner, str, str, str | None]:
    """A partner and its first key: (partner, key_id, secret, webhook_secret); secrets shown once."""
    actions = await _check_actions(session, data.allowed_actions)
    taken = (await session.execute(select(Partner.id).where(Partner.name == data.name))).first()
    if taken:
        raise Conflict("A partner with that name exists.", problem="partner-name-taken")
    webhook_secret = None
    partner = Partner(name=data.name, kind=data.kind, allowed_actions=actions, created_at=now)
    if data.webhook_url:
        partner.webhook_url, webhook_secret, partner.webhook_secret = _webhook(settings, data.webhook_url)
    session.add(partner)
    await session.flush()
    key_id, secret = await add_key(session, settings, partner.id, now)
    return partner, key_id, secret, webhook_secret


async def get_partner(session: AsyncSession, partner_id: str) -> Partner:
    partner = await session.get(Partner, partner_id)
    if partner is None:
        raise NotFound("No such partner.", problem="partner-not-found")
    return partner


async def update_partner(
    session: AsyncSession, settings: Settings, partner_id: str, data: PartnerUpdate
) -> tuple[Partner, str | None]:
    partner = await get_partner(session, partner_id)
    webhook_secret = None
    if data.name is not None and data.name != partner.name:
        taken = (await session.execute(select(Partner.id).where(Partner.name == data.name))).first()
        if taken:
            raise Conflict("A partner with that name exists.", problem="partner-name-taken")
        partner.name = data.name
    if data.kind is not None:
        partner.kind = data.kind
    if data.allowed_actions is not None:
        partner.allowed_actions = await _check_actions(session, data.allowed_actions)
    if data.webhook_url is not None:
        if data.webhook_url == "":
            partner.webhook_url = partner.webhook_secret = None
        else:
            partner.webhook_url, webhook_secret, partner.webhook_secret = _webhook(settings, data.webhook_url)
    session.add(partner)
    await session.flush()
    return partner, webhook_secret


async def revoke_key(session: AsyncSession, partner_id: str, key_id: str, now: datetime) -> None:
    key = (
        await session.execute(
            select(PartnerKey).where(PartnerKey.key_id == key_id, PartnerKey.partner_id == partner_id)
        )
    ).scalar_one_or_none()
    if key is None:
        raise NotFound("No such key for this partner.", problem="key-not-found")
    if key.revoked_at is None:
        key.revoked_at = now
        session.add(key)
        await session.flush()


# --- green codes and links (users) --------------------------------------------------------------


async def lock_user(session: AsyncSession, user_id: str) -> None:
    """Serialize a user's writes: a row lock on PostgreSQL (SQLite writers already hold the lock)."""
    await session.execute(select(User.id).where(User.id == user_id).with_for_update())


def _live(user_id: str, now: datetime) -> list[Any]:
    return [GreenCode.user_id == user_id, GreenCode.redeemed_at.is_(None), GreenCode.expires_at > now]


async def issue_green_code(session: AsyncSession, settings: Settings, user_id: str, now: datetime) -> GreenCode:
    """A new 18-digit code valid 5 minutes; at most 5 live codes per user, a sixth drops the oldest."""
    await lock_user(session, user_id)
    await session.execute(
        delete(GreenCode).where(
            GreenCode.user_id == user_id,
            GreenCode.expires_at < now - timedelta(seconds=settings.green_code_retention_s),
        )
    )
    live = list(
        (
            await session.execute(
                select(GreenCode.id).where(*_live(user_id, now)).order_by(GreenCode.created_at, GreenCode.id)
            )
        ).scalars()
    )
    excess = len(live) - (settings.green_code_max_live - 1)
    if excess > 0:
        await session.execute(delete(GreenCode).where(GreenCode.id.in_(live[:excess])))
    for _ in range(5):
        code = GreenCode(
            code=str(10**17 + secrets.randbelow(9 * 10**17)),
            user_id=user_id,
            created_at=now,
            expires_at=now + timedelta(seconds=settings.green_code_ttl_s),
        )
        try:
            async with session.begin_nested():
                session.add(code)
                await session.flush()
            return code
        except IntegrityError:  # the same 18 digits are in use: draw again
            continue
    raise Conflict("Could not issue a unique code; retry.", problem="conflict")


async def newest_live_code(session: AsyncSession, settings: Settings, user_id: str, now: datetime) -> GreenCode:
    code = (
        await session.execute(
            select(GreenCode)
            .where(*_live(user_id, now))
            .order_by(GreenCode.created_at.desc(), GreenCode.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    return code or await issue_green_code(session, settings, user_id, now)


async def list_links(session: AsyncSession, user_id: str) -> list[tuple[PartnerLink, Partner]]:
    rows = await session.execute(
        select(PartnerLink, Partner)
        .join(Partner, Partner.id == PartnerLink.partner_id)
        .where(PartnerLink.user_id == user_id, PartnerLink.unlinked_at.is_(None))
        .order_by(PartnerLink.linked_at.desc(), PartnerLink.id.desc())
    )
    return [(link, partner) for link, partner in rows.all()]


async def unlink(session: AsyncSession, user_id: str, partner_id: str, now: datetime) -> None:
    result = await session.execute(
        update(PartnerLink)
        .where(PartnerLink.user_id == user_id, PartnerLink.partner_id == partner_id, PartnerLink.unlinked_at.is_(None))
        .values(unlinked_at=now)
    )
    if result.rowcount == 0:
        raise NotFound("You are not linked to that partner.", problem="link-not-found")


async def _link(session: AsyncSession, partner_id: str, user_id: str, now: datetime) -> str:
    """Link (or relink) a user to a partner; the `user_ref` stays the same for the pair."""
    insert_ = dialect_insert(session)
    await session.execute(
        insert_(PartnerLink)
        .values(
            id=new_id(), partner_id=partner_id, user_id=user_id, user_ref=f"u_{secrets.token_hex(12)}", linked_at=now
        )
        .on_conflict_do_nothing(index_elements=[PartnerLink.partner_id, PartnerLink.user_id])
    )
    link = (
        await session.execute(
            select(PartnerLink.user_ref, PartnerLink.unlinked_at).where(
                PartnerLink.partner_id == partner_id, PartnerLink.user_id == user_id
            )
        )
    ).one()
    if link.unlinked_at is not None:
        await session.execute(
            update(PartnerLink)
            .where(PartnerLink.partner_id == partner_id, PartnerLink.user_id == user_id)
            .values(unlinked_at=None, linked_at=now)
        )
    return link.user_ref


# --- reports (partners) -------------------------------------------------------------------------


@dataclass
class Outcome:
    status: str  # created | replayed | refused
    http_status: int
    report_id: str | None
    body: dict[str, Any] | None = None  # the response (created) or the problem (refused)
    raw: str | None = None  # the first response, as stored (replayed)
    total_g: int | None = None
    error: DomainError | None = None


@dataclass
class Accepted:
    """A report that passed every check; `settle` gives it its energy and its response."""

    pk: str
    data: ReportRequest
    user: User
    user_ref: str
    occurred_day: date
    outcome: Outcome
    replays: list[Outcome] = field(default_factory=list)  # the same report again in this batch


@dataclass
class ReportContext:
    """What one request's reports share: the catalogue, and the reports, links and codes they
    name, each read once for the whole batch."""

    partner: Partner
    settings: Settings
    now: datetime
    actions: dict[str, ActionType]
    known: dict[str, PartnerReport] = field(default_factory=dict)
    links: dict[str, tuple[User, datetime | None]] = field(default_factory=dict)  # user_ref -> user, unlinked_at
    codes: dict[str, Any] = field(default_factory=dict)  # code -> (id, redeemed_at, expires_at, User)
    claimed: dict[str, tuple[str | None, Accepted]] = field(default_factory=dict)
    pending: list[Accepted] = field(default_factory=list)


def _strings(raw_reports: list[Any], name: str, pattern: re.Pattern[str]) -> list[str]:
    values = {r[name] for r in raw_reports if isinstance(r, dict) and isinstance(r.get(name), str)}
    return [v for v in values if pattern.fullmatch(v)]


async def report_context(
    session: AsyncSession, settings: Settings, partner: Partner, now: datetime, raw_reports: list[Any]
) -> ReportContext:
    ctx = ReportContext(
        partner=partner,
        settings=settings,
        now=now,
        actions={
            a.code: a
            for a in (await session.execute(select(ActionType).where(ActionType.retired_at.is_(None)))).scalars()
        },
    )
    for chunk in _chunks(_strings(raw_reports, "report_id", _REPORT_ID)):
        rows = await session.execute(
            select(PartnerReport).where(
                PartnerReport.partner_id == partner.id,
                PartnerReport.report_id.in_(chunk),
                PartnerReport.response.is_not(None),
            )
        )
        ctx.known.update({r.report_id: r for r in rows.scalars()})
    for chunk in _chunks(_strings(raw_reports, "user_ref", _USER_REF)):
        rows = await session.execute(
            select(PartnerLink.user_ref, PartnerLink.unlinked_at, User)
            .join(User, User.id == PartnerLink.user_id)
            .where(PartnerLink.partner_id == partner.id, PartnerLink.user_ref.in_(chunk))
        )
        ctx.links.update({row.user_ref: (row.User, row.unlinked_at) for row in rows})
    for chunk in _chunks(_strings(raw_reports, "green_code", _GREEN_CODE)):
        rows = await session.execute(
            select(GreenCode.code, GreenCode.id, GreenCode.redeemed_at, GreenCode.expires_at, User)
            .join(User, User.id == GreenCode.user_id)
            .where(GreenCode.code.in_(chunk))
        )
        ctx.codes.update({row.code: row for row in rows})
    return ctx


def _chunks(values: list[Any], size: int = 500) -> list[list[Any]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


def _valid_report_id(value: Any) -> bool:
    return isinstance(value, str) and _REPORT_ID.fullmatch(value) is not None


def body_hash(raw: Any) -> str | None:
    """SHA-256 of the RFC 8785 canonical JSON (so key order and spacing do not matter)."""
    if _plain(raw):  # the C encoder writes the same bytes, and much faster than the pure-Python JCS one
        return hashlib.sha256(
            json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        ).hexdigest()
    try:
        return hashlib.sha256(rfc8785.dumps(raw)).hexdigest()
    except Exception:  # a value JCS cannot represent (huge integers) never matches a stored report
        return None


JS_SAFE_INTEGER = 2**53 - 1


def _plain(value: Any) -> bool:
    """Whether `json.dumps(sort_keys=True, ensure_ascii=False)` is RFC 8785 for this value: no
    floats (JCS formats them as JavaScript does), integers JavaScript holds exactly, no surrogate
    code points, and keys whose code-point order is their UTF-16 order (below U+D800). Both escape
    the same characters (", \\ and U+0000-U+001F) the same way."""
    if isinstance(value, str):
        return value.isascii() or not _SURROGATE.search(value)
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return -JS_SAFE_INTEGER <= value <= JS_SAFE_INTEGER
    if isinstance(value, list):
        return all(_plain(item) for item in value)
    if isinstance(value, dict):
        return all(
            isinstance(key, str) and (key.isascii() or max(key) < "\ud800") and _plain(item)
            for key, item in value.items()
        )
    return False


_SURROGATE = re.compile("[\ud800-\udfff]")


def validation_error(exc: ValidationError) -> BadRequest:
    errors = [
        {"field": ".".join(str(p) for p in error["loc"]) or None, "message": error["msg"]}
        for error in exc.errors(include_url=False)
    ]
    return BadRequest("The report is not valid; see errors.", problem="validation", errors=errors)


def _reused() -> Conflict:
    return Conflict("This report_id was used with a different body.", problem="report-id-reused")


def _replay(existing: PartnerReport, digest: str | None) -> Outcome:
    if digest is None or existing.body_hash != digest:
        raise _reused()
    return Outcome("replayed", 200, existing.report_id, raw=existing.response, total_g=existing.total_g)


def _refused(report_id: str | None, error: DomainError) -> Outcome:
    return Outcome(
        "refused",
        error.status,
        report_id,
        body=problem_body(error.status, error.problem, error.detail, error.errors),
        error=error,
    )


def _precheck(ctx: ReportContext, raw: Any) -> Outcome | tuple[ReportRequest, str | None]:
    """The checks before any write: report_id (replay or 409), body (400), actions (403)."""
    report_id = raw.get("report_id") if isinstance(raw, dict) else None
    report_id = report_id if _valid_report_id(report_id) else None
    try:
        if not isinstance(raw, dict):
            raise BadRequest("A report must be a JSON object.", problem="validation")
        digest = body_hash(raw)
        if report_id is not None:
            if report_id in ctx.claimed:  # the same report earlier in this batch
                first_digest, accepted = ctx.claimed[report_id]
                if digest is None or digest != first_digest:
                    raise _reused()
                replay = Outcome("replayed", 200, report_id)
                accepted.replays.append(replay)
                return replay
            if report_id in ctx.known:
                return _replay(ctx.known[report_id], digest)
        try:
            data = ReportRequest.model_validate(raw)
        except ValidationError as exc:
            raise validation_error(exc) from None
        allowed = set(ctx.partner.allowed_actions)
        for item in data.items:
            action = ctx.actions.get(item.action)
            if item.action not in allowed or action is None or action.verification != "partner":
                raise Forbidden(
                    f"The action {item.action!r} is not allowed for this partner.", problem="action-not-allowed"
                )
        return data, digest
    except DomainError as error:
        return _refused(report_id, error)


async def ingest(session: AsyncSession, ctx: ReportContext, raw: Any) -> Outcome:
    """Judge one report (phase one); a refusal is returned, not raised, and leaves nothing behind.

    An accepted report is claimed and its code redeemed here; `settle` then computes caps and
    energy for every accepted report of the request at once.
    """
    checked = _precheck(ctx, raw)
    if isinstance(checked, Outcome):
        return checked
    data, digest = checked
    try:
        pk = (await _claim_many(session, ctx, [(data, digest)])).get(data.report_id)
        if pk is None:
            return _replay(await _claimed_by_another(session, ctx, data.report_id), digest)
        try:
            return await _accept(session, ctx, data, digest, pk)
        except DomainError:
            await session.execute(delete(PartnerReport).where(PartnerReport.id == pk))
            raise
    except DomainError as error:
        return _refused(data.report_id, error)


async def ingest_many(session: AsyncSession, ctx: ReportContext, raws: list[Any]) -> list[Outcome]:
    """Phase one for a batch, in the order of `raws`, with one claim statement for all of them."""
    outcomes: list[Outcome | None] = [None] * len(raws)
    staged: list[tuple[int, ReportRequest, str | None]] = []
    seen: set[str] = set()
    later: list[int] = []  # an id staged earlier in this batch: judged once the first is settled
    for index, raw in enumerate(raws):
        checked = _precheck(ctx, raw)
        if isinstance(checked, Outcome):
            outcomes[index] = checked
        elif checked[0].report_id in seen:
            later.append(index)
        else:
            seen.add(checked[0].report_id)
            staged.append((index, *checked))
    pks = await _claim_many(session, ctx, [(data, digest) for _, data, digest in staged])
    refused: list[str] = []
    for index, data, digest in staged:
        pk = pks.get(data.report_id)
        try:
            if pk is None:
                outcomes[index] = _replay(await _claimed_by_another(session, ctx, data.report_id), digest)
            else:
                outcomes[index] = await _accept(session, ctx, data, digest, pk)
        except DomainError as error:
            if pk is not None:
                refused.append(pk)
            outcomes[index] = _refused(data.report_id, error)
    for chunk in _chunks(refused):
        await session.execute(delete(PartnerReport).where(PartnerReport.id.in_(chunk)))
    for index in later:
        outcomes[index] = await ingest(session, ctx, raws[index])
    return [outcome for outcome in outcomes if outcome is not None]


async def _claim_many(
    session: AsyncSession, ctx: ReportContext, reports: list[tuple[ReportRequest, str | None]]
) -> dict[str, str]:
    """Claim `(partner, report_id)` rows; returns report_id -> row id for the ones this call inserted.

    A concurrent request holding the same id makes this wait on the unique index, then skip it.
    Rows go in report_id order, so two batches naming the same ids lock them in the same order.
    """
    rows = sorted(
        (
            {
                "id": new_id(),
                "partner_id": ctx.partner.id,
                "report_id": data.report_id,
                "body_hash": digest or "",
                "total_g": 0,
                "created_at": ctx.now,
            }
            for data, digest in reports
        ),
        key=lambda row: row["report_id"],
    )
    if not rows:
        return {}
    statement = (
        dialect_insert(session)(PartnerReport.__table__)
        .on_conflict_do_nothing(index_elements=[PartnerReport.partner_id, PartnerReport.report_id])
        .returning(PartnerReport.report_id, PartnerReport.id)
    )
    return {row.report_id: row.id for row in await session.execute(statement, rows)}


async def _claimed_by_another(session: AsyncSession, ctx: ReportContext, report_id: str) -> PartnerReport:
    existing = (
        await session.execute(
            select(PartnerReport).where(
                PartnerReport.partner_id == ctx.partner.id, PartnerReport.report_id == report_id
            )
        )
    ).scalar_one()
    if existing.response is None:  # pragma: no cover - only a writer that died mid-commit could leave this
        raise Conflict("This report is being processed; retry.", problem="conflict")
    return existing


async def _accept(
    session: AsyncSession, ctx: ReportContext, data: ReportRequest, digest: str | None, pk: str
) -> Outcome:
    """The checks that need the database (422), then the code is redeemed; queued for `settle`."""
    user, user_ref = await _resolve_user(session, ctx, data)
    outcome = Outcome("created", 201, data.report_id)
    accepted = Accepted(
        pk=pk,
        data=data,
        user=user,
        user_ref=user_ref,
        occurred_day=data.occurred_at.astimezone(user_zone(user, ctx.now)).date(),
        outcome=outcome,
    )
    ctx.claimed[data.report_id] = (digest, accepted)
    ctx.pending.append(accepted)
    return outcome


async def _resolve_user(session: AsyncSession, ctx: ReportContext, data: ReportRequest) -> tuple[User, str]:
    """The user behind the code or `user_ref` (422 when unknown, expired, redeemed or unlinked),
    then the `occurred_at` window (422); redeeming a code links the user to the partner."""
    partner, now, settings = ctx.partner, ctx.now, ctx.settings
    code = None
    if data.green_code is not None:
        code = ctx.codes.get(data.green_code)
        if code is None or code.User.deleted_at is not None:
            raise Unprocessable("Unknown green code.", problem="green-code-unknown")
        if code.redeemed_at is not None:
            raise Unprocessable("This green code was redeemed already.", problem="green-code-redeemed")
        if code.expires_at <= now:
            raise Unprocessable("This green code has expired.", problem="green-code-expired")
        user = code.User
    else:
        assert data.user_ref is not None
        link = ctx.links.get(data.user_ref)
        if link is None or link[0].deleted_at is not None:
            raise Unprocessable("Unknown user_ref.", problem="user-ref-unknown")
        if link[1] is not None:
            raise Unprocessable("The user has unlinked this partner.", problem="user-ref-unlinked")
        user = link[0]

    if data.occurred_at > now + timedelta(seconds=settings.report_max_future_s):
        raise Unprocessable("occurred_at is in the future.", problem="occurred-at-future")
    if data.occurred_at < now - timedelta(days=settings.report_max_age_days):
        raise Unprocessable(
            f"occurred_at is more than {settings.report_max_age_days} days old.", problem="occurred-at-too-old"
        )
    if code is None:
        return user, data.user_ref  # type: ignore[return-value]
    redeemed = (
        await session.execute(
            update(GreenCode)
            .where(GreenCode.id == code.id, GreenCode.redeemed_at.is_(None), GreenCode.expires_at > now)
            .values(redeemed_at=now, redeemed_by=partner.id)
            .returning(GreenCode.id)
        )
    ).scalar()
    if redeemed is None:  # an earlier report (in this batch or a concurrent request) took it
        raise Unprocessable("This green code was redeemed already.", problem="green-code-redeemed")
    user_ref = await _link(session, partner.id, user.id, now)
    ctx.links[user_ref] = (user, None)
    return user, user_ref


def _periods(action: ActionType, day: date) -> list[str]:
    periods = []
    if action.daily_cap_count is not None or action.daily_cap_g is not None:
        periods.append(day.isoformat())
    if action.monthly_cap_count is not None:
        periods.append(day.isoformat()[:7])
    return periods


def capped_energy(action: ActionType, quantity: int, day: Any, month: Any) -> tuple[int, int, bool]:
    """SPEC 4.1: with k units left in the day (or month) of occurred_at, an item earns
    floor(min(q, k) x grams_per_unit / per_units), `capped` when q > k; gram caps cut the grams.
    `day` / `month` are the usage so far ([units, grams]); returns (units, grams, capped)."""
    units = quantity
    if action.daily_cap_count is not None:
        units = min(units, max(0, action.daily_cap_count - day[0]))
    if action.monthly_cap_count is not None:
        units = min(units, max(0, action.monthly_cap_count - month[0]))
    capped = units < quantity
    grams = units * action.grams_per_unit // action.per_units
    if action.daily_cap_g is not None:
        room = max(0, action.daily_cap_g - day[1])
        if grams > room:
            grams, capped = room, True
    return units, grams, capped


_USAGE_KEY = [ActionUsage.user_id, ActionUsage.action_code, ActionUsage.period]


def _lock_usage_rows(insert: Any) -> Any:
    """Create the missing usage rows and lock them all; a conflict changes nothing but takes the
    row lock and returns the row."""
    statement = insert(ActionUsage.__table__).on_conflict_do_update(
        index_elements=_USAGE_KEY, set_={"units": ActionUsage.units}
    )
    return statement.returning(*_USAGE_KEY, ActionUsage.units, ActionUsage.grams)


def _store_usage_rows(insert: Any) -> Any:
    """Write the locked usage rows back as an upsert of the new values: it goes as multi-row
    statements, where the executemany UPDATE by key it replaced was an order of magnitude slower on
    PostgreSQL (docs/benchmarks.md)."""
    statement = insert(ActionUsage.__table__)
    return statement.on_conflict_do_update(
        index_elements=_USAGE_KEY, set_={"units": statement.excluded.units, "grams": statement.excluded.grams}
    )


LOCK_USAGE = for_each_dialect(_lock_usage_rows)
STORE_USAGE = for_each_dialect(_store_usage_rows)


async def _lock_usage(session: AsyncSession, keys: list[tuple[str, str, str]]) -> dict[tuple[str, str, str], list[int]]:
    """Create and lock the usage rows (sorted, so concurrent requests lock in the same order)."""
    if not keys:
        return {}
    rows = [{"user_id": u, "action_code": a, "period": p, "units": 0, "grams": 0} for u, a, p in sorted(keys)]
    locked = await session.execute(LOCK_USAGE[dialect_name(session)], rows)
    return {(r.user_id, r.action_code, r.period): [r.units, r.grams] for r in locked}


async def settle(session: AsyncSession, ctx: ReportContext) -> None:
    """Phase two, set-based for every accepted report: caps, balls, action records, responses."""
    pending, now, settings = ctx.pending, ctx.now, ctx.settings
    if not pending:
        return
    keys = {
        (acc.user.id, item.action, period)
        for acc in pending
        for item in acc.data.items
        for period in _periods(ctx.actions[item.action], acc.occurred_day)
    }
    usage = await _lock_usage(session, list(keys))
    changed: set[tuple[str, str, str]] = set()
    grams_by_ball: dict[tuple[str, str], int] = {}
    users: dict[str, User] = {}
    results: list[tuple[Accepted, list[dict[str, Any]]]] = []
    for acc in pending:
        awarded = []
        for item in acc.data.items:
            action = ctx.actions[item.action]
            periods = _periods(action, acc.occurred_day)
            day_key = acc.occurred_day.isoformat()
            day = usage.get((acc.user.id, action.code, day_key), [0, 0])
            month = usage.get((acc.user.id, action.code, day_key[:7]), [0, 0])
            units, grams, capped = capped_energy(action, item.quantity, day, month)
            for period in periods:
                key = (acc.user.id, action.code, period)
                usage[key][0] += units
                usage[key][1] += grams
                changed.add(key)
            if grams:
                ball_key = (acc.user.id, action.code)
                grams_by_ball[ball_key] = grams_by_ball.get(ball_key, 0) + grams
                users[acc.user.id] = acc.user
            awarded.append({"action": action.code, "quantity": item.quantity, "energy_g": grams, "capped": capped})
        results.append((acc, awarded))

    if changed:
        rows = [
            {"user_id": u, "action_code": a, "period": p, "units": usage[(u, a, p)][0], "grams": usage[(u, a, p)][1]}
            for u, a, p in sorted(changed)
        ]
        await session.execute(STORE_USAGE[dialect_name(session)], rows)
    # One award per user and action: the report's energy gathers in the ball of the arrival day;
    # where a timezone change left that ball already ripe, the next day's takes it.
    awards = [
        energy.Award(users[user_id], code, local_day(users[user_id], now), grams)
        for (user_id, code), grams in grams_by_ball.items()
    ]
    ball_ids: dict[tuple[str, str], str] = {}
    frozen: list[energy.Award] = []
    for award, ball_id in zip(awards, await energy.award_many(session, settings, awards, now), strict=True):
        if ball_id is None:
            frozen.append(replace(award, day=award.day + timedelta(days=1)))
        else:
            ball_ids[(award.user.id, award.action_code)] = ball_id
    for award, ball_id in zip(frozen, await energy.award_many(session, settings, frozen, now), strict=True):
        if ball_id is None:  # ripe too (a jump of more than a day): the request fails, as before
            raise Conflict("That day's ball has already ripened.", problem="ball-frozen")
        ball_ids[(award.user.id, award.action_code)] = ball_id

    records: list[dict[str, Any]] = []
    reports: list[dict[str, Any]] = []
    for acc, awarded in results:
        for item in awarded:
            records.append(
                {
                    "id": new_id(),
                    "user_id": acc.user.id,
                    "action_code": item["action"],
                    "quantity": item["quantity"],
                    "energy_g": item["energy_g"],
                    "capped": item["capped"],
                    "source": "partner",
                    "local_day": acc.occurred_day,
                    "ball_id": ball_ids[(acc.user.id, item["action"])] if item["energy_g"] else None,
                    "report_id": acc.pk,
                    "occurred_at": acc.data.occurred_at,
                    "created_at": now,
                }
            )
        total = sum(item["energy_g"] for item in awarded)
        body = {"report_id": acc.data.report_id, "user_ref": acc.user_ref, "awarded": awarded, "total_g": total}
        stored = json.dumps(body, separators=(",", ":"))
        reports.append(
            {
                "id": acc.pk,
                "user_id": acc.user.id,
                "user_ref": acc.user_ref,
                "response": stored,
                "total_g": total,
                "occurred_at": acc.data.occurred_at,
            }
        )
        acc.outcome.body, acc.outcome.total_g = body, total
        for replay in acc.replays:
            replay.raw, replay.total_g = stored, total
    if records:  # Core: the ORM's bulk insert would split rows at every change of NULL columns
        await session.execute(insert(ActionRecord.__table__), records)
    await session.execute(update(PartnerReport), reports)
    ctx.pending = []


async def list_reports(
    session: AsyncSession, partner_id: str, cursor: str | None, limit: int
) -> tuple[list[PartnerReport], str | None]:
    query = select(PartnerReport).where(PartnerReport.partner_id == partner_id, PartnerReport.response.is_not(None))
    rows = list((await session.execute(newest_first(query, PartnerReport.id, cursor, limit))).scalars())
    return page_of(rows, limit)


# --- voids --------------------------------------------------------------------------------------


async def void_report(
    session: AsyncSession, settings: Settings, partner: Partner, report_id: str, reason: str, now: datetime
) -> dict[str, Any]:
    """Take a report's energy back (SPEC 7.2); a repeat answers the first response."""
    report = (
        await session.execute(
            select(PartnerReport)
            .where(
                PartnerReport.partner_id == partner.id,
                PartnerReport.report_id == report_id,
                PartnerReport.response.is_not(None),
            )
            .with_for_update()
        )
    ).scalar_one_or_none()
    if report is None or report.user_id is None:
        raise NotFound("No such report.", problem="report-not-found")
    if report.void_response is not None:
        return json.loads(report.void_response)
    if now > report.created_at + timedelta(days=settings.void_window_days):
        raise Conflict(f"A report can be voided within {settings.void_window_days} days.", problem="void-window-closed")
    records = (
        await session.execute(
            select(ActionRecord.ball_id, ActionRecord.energy_g).where(ActionRecord.report_id == report.id)
        )
    ).all()
    per_ball: dict[str, int] = {}
    for record in records:
        if record.ball_id is not None and record.energy_g > 0:
            per_ball[record.ball_id] = per_ball.get(record.ball_id, 0) + record.energy_g
    balls = {
        b.id: b
        for b in (
            await session.execute(select(Ball.id, Ball.amount_g, Ball.stolen_g).where(Ball.id.in_(list(per_ball))))
        ).all()
    }
    wanted = []
    for ball_id, grams in sorted(per_ball.items()):
        ball = balls[ball_id]
        # stolen grams are charged to a ball's reports in proportion, rounded down
        share = ball.stolen_g * grams // ball.amount_g if ball.amount_g else 0
        wanted.append((ball_id, grams - share))
    taken = await ledger.clawback(session, report.user_id, wanted, now=now, reference=report.id)
    body = {
        "report_id": report.report_id,
        "voided_g": sum(grams for _, grams in wanted),
        "from_ball_g": taken.from_ball_g,
        "from_expired_g": taken.from_expired_g,
        "from_balance_g": taken.from_balance_g,
        "owed_g": taken.owed_g,
    }
    report.voided_at, report.void_reason = now, reason
    report.void_response = json.dumps(body, separators=(",", ":"))
    session.add(report)
    await session.flush()
    await add_feed_item(session, report.user_id, "report.voided", amount_g=body["voided_g"], now=now)
    if partner.webhook_url:
        await webhooks.enqueue(
            session,
            target_kind="partner",
            target_id=partner.id,
            event_type="report.voided",
            data={**body, "user_ref": report.user_ref, "reason": reason, "voided_at": now.isoformat()},
            now=now,
        )
    return body
