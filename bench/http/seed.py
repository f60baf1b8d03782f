"""Realistic data for the HTTP benchmark, inserted set-based (never through the API).

`seed(url, users)` fills a migrated database (demo catalogue included) with:
  * `users` users `bu-<i>` (handle `bench<i>`), each with an open balance and one ripe 200 g walk
    ball from yesterday, written with its `award` ledger transaction (issued -> ball), so the
    ledger audit holds before the load starts;
  * user 0 owns the hot ball (296 g) and is friends with users 1..`thieves` (both ways round);
  * a partner (signing key made by the server's own service) linked to every user (`user_ref`
    `ur_<i>`), with one settled report per user from two days ago (its history);
  * an NGO (API key from the server's service), a year-round project, and `orders` acknowledged
    orders of 500 ordered trees each, with one unused photo per tree (distinct perceptual hashes);
  * a growing tree for user 1 (the cached tree image).
Bulk rows come from one `INSERT ... SELECT` over a recursive number series per table, so the same
statements run on SQLite and PostgreSQL; ids are `<prefix>-<i>`, so request files can name them
without reading the database back.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, case, cast, insert, literal, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bench.batching import add_year_round_project
from server.catalog.models import Species
from server.clock import wall_clock
from server.db import Database
from server.ledger.models import Balance, Ball, LedgerEntry, LedgerTransaction
from server.partners.models import PartnerLink, PartnerReport
from server.partners.onboarding import create_partner
from server.partners.schemas import PartnerCreate
from server.planting.models import Photo, PlantingOrder
from server.planting.ngos import create_ngo
from server.planting.schemas import NgoCreate
from server.settings import Settings
from server.social.models import Friendship
from server.trees.models import Tree
from server.users.models import User

BALL_G = 200
HOT_BALL_G = 296
ORDER_TREES = 500
PHOTO_CHUNK = 10_000


def user_id(i: int) -> str:
    return f"bu-{i}"


def ball_id(i: int) -> str:
    return f"bb-{i}"


def handle(i: int) -> str:
    return f"bench{i}"


def user_ref(i: int) -> str:
    return f"ur_{i}"


def tree_id(i: int) -> str:
    return f"bt-{i}"


def photo_id(i: int) -> str:
    return f"bp-{i}"


def order_id(i: int) -> str:
    return f"bo-{i}"


@dataclass
class Seeded:
    """What the request files need to know about the seeded database (JSON-serialisable)."""

    users: int
    thieves: int
    orders: int
    partner_key_id: str
    partner_secret: str
    ngo_api_key: str
    image_tree_id: str
    seeded_at: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def async_url(url: str) -> str:
    """The URL on the async driver, as the server normalises CANOPY_DATABASE_URL."""
    return Settings(database_url=url).database_url


def _numbers(n: int) -> Any:
    """0 .. n-1 as a recursive CTE (both databases)."""
    series = select(literal_column("0").label("i")).cte("n", recursive=True)
    return series.union_all(select((series.c.i + 1).label("i")).where(series.c.i < n - 1))


def _id(prefix: str, i: Any) -> Any:
    return literal(prefix).concat(cast(i, String))


def _sql(value: Any) -> Any:
    return value if hasattr(value, "__clause_element__") or hasattr(value, "compile") else literal(value)


def _typed(table: Any, column: str, value: Any) -> Any:
    return literal(value, type_=table.c[column].type)


async def _bulk(session: AsyncSession, table: Any, n: int, offset: int, values: dict[str, Any]) -> None:
    """INSERT INTO table (keys) SELECT values(i) FROM 0..n-1 (i + offset), one statement."""
    series = _numbers(n)
    i = series.c.i + offset if offset else series.c.i
    columns = [value(i) if callable(value) else _sql(value) for value in values.values()]
    await session.execute(insert(table).from_select(list(values), select(*columns).select_from(series)))


async def seed(url: str, users: int, thieves: int, orders: int, settings: Settings) -> Seeded:
    database = Database(async_url(url))
    now = wall_clock()
    try:
        async with database.transaction() as session:
            await _users_and_balls(session, users, now)
            await _friends(session, thieves, now)
            partner_key_id, partner_secret = await _partner(session, settings, users, now)
            ngo_api_key = await _ngo_orders(session, settings, orders, users, now)
        if database.dialect == "postgresql":
            async with database.writer.connect() as connection:
                await connection.execution_options(isolation_level="AUTOCOMMIT")
                await connection.execute(text("VACUUM ANALYZE"))
        else:
            async with database.transaction() as session:
                await session.execute(text("ANALYZE"))
    finally:
        await database.dispose()
    return Seeded(
        users=users,
        thieves=thieves,
        orders=orders,
        partner_key_id=partner_key_id,
        partner_secret=partner_secret,
        ngo_api_key=ngo_api_key,
        image_tree_id=tree_id(0),
        seeded_at=now.isoformat(),
    )


async def _users_and_balls(session: AsyncSession, n: int, now: datetime) -> None:
    users, balls = User.__table__, Ball.__table__
    txs, entries = LedgerTransaction.__table__, LedgerEntry.__table__
    created = _typed(users, "created_at", now - timedelta(days=30))
    await _bulk(
        session,
        users,
        n,
        0,
        {
            "id": lambda i: _id("bu-", i),
            "handle": lambda i: _id("bench", i),
            "display_name": lambda i: _id("Bench user ", i),
            "timezone": literal("UTC"),
            "allow_steal": literal(True),
            "streak_days": literal(0),
            "shields": literal(0),
            "created_at": created,
        },
    )
    await _bulk(session, Balance.__table__, n, 0, {"user_id": lambda i: _id("bu-", i), "balance_g": 0, "owed_g": 0})
    # Yesterday's walk ball, ripe since an hour ago; user 0's is the hot ball.
    ripens = now - timedelta(hours=1)
    amount = lambda i: _case_hot(i)  # noqa: E731
    ball_time = lambda column, value: _typed(balls, column, value)  # noqa: E731
    await _bulk(
        session,
        balls,
        n,
        0,
        {
            "id": lambda i: _id("bb-", i),
            "user_id": lambda i: _id("bu-", i),
            "action_code": literal("walk"),
            "local_day": ball_time("local_day", (now - timedelta(days=1)).date()),
            "amount_g": amount,
            "remaining_g": amount,
            "stolen_g": literal(0),
            "collected_g": literal(0),
            "expired_g": literal(0),
            "ripens_at": ball_time("ripens_at", ripens),
            "expires_at": ball_time("expires_at", ripens + timedelta(hours=72)),
            "created_at": ball_time("created_at", now - timedelta(days=1)),
        },
    )
    awarded = _typed(txs, "created_at", now - timedelta(days=1))
    await _bulk(
        session,
        txs,
        n,
        0,
        {
            "id": lambda i: _id("bx-", i),
            "kind": literal("award"),
            "user_id": lambda i: _id("bu-", i),
            "reference": literal("walk"),
            "created_at": awarded,
        },
    )
    for prefix, account, sign, owner in (("bei-", "issued", -1, False), ("beb-", "ball", 1, True)):
        await _bulk(
            session,
            entries,
            n,
            0,
            {
                "id": lambda i, p=prefix: _id(p, i),
                "transaction_id": lambda i: _id("bx-", i),
                "kind": literal("award"),
                "account": literal(account),
                "user_id": (lambda i: _id("bu-", i)) if owner else literal(None, type_=String),
                "ball_id": (lambda i: _id("bb-", i)) if owner else literal(None, type_=String),
                "amount_g": lambda i, s=sign: s * _case_hot(i),
                "created_at": awarded,
            },
        )


def _case_hot(i: Any) -> Any:
    return case((i == 0, literal(HOT_BALL_G)), else_=literal(BALL_G))


async def _friends(session: AsyncSession, thieves: int, now: datetime) -> None:
    table = Friendship.__table__
    created = _typed(table, "created_at", now - timedelta(days=10))
    for prefix, user, friend in (
        ("bfa-", lambda i: literal(user_id(0)), lambda i: _id("bu-", i)),
        ("bfb-", lambda i: _id("bu-", i), lambda i: literal(user_id(0))),
    ):
        await _bulk(
            session,
            table,
            thieves,
            1,
            {"id": lambda i, p=prefix: _id(p, i), "user_id": user, "friend_id": friend, "created_at": created},
        )


async def _partner(session: AsyncSession, settings: Settings, n: int, now: datetime) -> tuple[str, str]:
    data = PartnerCreate(name="Bench transit", kind="transit", allowed_actions=["metro_ride", "bus_ride"])
    partner, key_id, secret, _ = await create_partner(session, settings, data, now)
    table = PartnerLink.__table__
    await _bulk(
        session,
        table,
        n,
        0,
        {
            "id": lambda i: _id("bl-", i),
            "partner_id": literal(partner.id),
            "user_id": lambda i: _id("bu-", i),
            "user_ref": lambda i: _id("ur_", i),
            "linked_at": _typed(table, "linked_at", now - timedelta(days=10)),
        },
    )
    # Its history: a settled report per user from two days ago. A partner sending thousands of
    # reports a second has one, and without it the statistics describe an empty table, so
    # PostgreSQL finds a batch's report ids by scanning all of the partner's reports (the first
    # minute of a new partner until autovacuum analyses; docs/benchmarks.md has the figures).
    reports = PartnerReport.__table__
    await _bulk(
        session,
        reports,
        n,
        0,
        {
            "id": lambda i: _id("bh-", i),
            "partner_id": literal(partner.id),
            "report_id": lambda i: _id("history-", i),
            "body_hash": literal("0" * 64),
            "user_id": lambda i: _id("bu-", i),
            "user_ref": lambda i: _id("ur_", i),
            "response": literal('{"awarded":[],"total_g":0}'),
            "total_g": literal(0),
            "occurred_at": _typed(reports, "occurred_at", now - timedelta(days=2)),
            "created_at": _typed(reports, "created_at", now - timedelta(days=2)),
        },
    )
    return key_id, secret


async def _ngo_orders(session: AsyncSession, settings: Settings, orders: int, users: int, now: datetime) -> str:
    data = NgoCreate(name="Bench NGO", contact_email="bench@example.org")
    ngo, key, _ = await create_ngo(session, data, settings, now)
    species = (await session.execute(select(Species).order_by(Species.common_name).limit(1))).scalar_one()
    project = await add_year_round_project(
        session, ngo.id, species.id, cost_g=1000, created_at=now - timedelta(days=30)
    )

    trees_table = Tree.__table__
    # The image tree: user 1's growing tree (tree 0); then orders x 500 ordered trees (1..).
    common = {
        "project_id": literal(project.id),
        "species_id": literal(species.id),
        "cost_g": literal(1000),
        "auto_plant": literal(False),
        "rejections": literal(0),
        "created_at": _typed(trees_table, "created_at", now - timedelta(days=20)),
    }
    await _bulk(
        session,
        trees_table,
        1,
        0,
        {"id": lambda i: _id("bt-", i), "user_id": literal(user_id(1)), "status": literal("growing"), **common},
    )
    if orders <= 0:
        return key.api_key
    orders_table = PlantingOrder.__table__
    await _bulk(
        session,
        orders_table,
        orders,
        0,
        {
            "id": lambda i: _id("bo-", i),
            "project_id": literal(project.id),
            "ngo_id": literal(ngo.id),
            "status": literal("acknowledged"),
            "overdue": literal(False),
            "tree_count": literal(ORDER_TREES),
            "issued_at": _typed(orders_table, "issued_at", now - timedelta(days=2)),
            "acknowledged_at": _typed(orders_table, "acknowledged_at", now - timedelta(days=1)),
        },
    )
    # Tree i (1..) is in order (i - 1) // 500 and belongs to user i % users (never user 0's forest).
    trees = orders * ORDER_TREES
    ordered = _typed(trees_table, "ordered_at", now - timedelta(days=2))
    await _bulk(
        session,
        trees_table,
        trees,
        1,
        {
            "id": lambda i: _id("bt-", i),
            "user_id": lambda i: _id("bu-", i % users),
            "status": literal("ordered"),
            "order_id": lambda i: _id("bo-", (i - 1) // ORDER_TREES),
            "queued_at": ordered,
            "ordered_at": ordered,
            **common,
        },
    )
    # Photos: distinct perceptual hashes (so none is a near-duplicate of another), made in Python.
    photos = Photo.__table__
    for offset in range(1, trees + 1, PHOTO_CHUNK):
        rows = []
        for i in range(offset, min(trees + 1, offset + PHOTO_CHUNK)):
            digest = hashlib.sha256(f"bench photo {i}".encode()).hexdigest()
            rows.append(
                {
                    "id": photo_id(i),
                    "ngo_id": ngo.id,
                    "sha256": digest,
                    "width": 1024,
                    "height": 768,
                    "phash": digest[:16],
                    "thumbnail": b"bench",
                    "created_at": now - timedelta(days=1),
                }
            )
        await session.execute(insert(photos), rows)
    return key.api_key
