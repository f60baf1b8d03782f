"""Database plumbing: engines, the per-request session, ids and the naming convention.

SQLite is set up for correctness (WAL, busy timeout, foreign keys) and every writing
transaction takes the write lock when it starts (`BEGIN IMMEDIATE`), so a read followed by a
write can never lose an update. Read-only requests use a second engine with a plain `BEGIN`
so readers do not queue behind writers. SQLite statements go through aiosqlite with one trip
to its thread each (server/sqlite_driver.py).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, cast

from litestar import Request
from litestar.di import NamedDependency
from litestar.types import ASGIApp, Receive, Scope, Send
from sqlalchemy import Table, event, func, inspect, literal, literal_column
from sqlalchemy.engine import CursorResult, Result, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.util.typing import TupleAny
from sqlmodel import SQLModel

from server.sqlite_driver import OneTripDBAPI

# Constraint names must exist before the first table class is defined (SQLite batch migrations).
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

WITHOUT_NAMED_STATEMENTS = {"statement_cache_size": 0, "prepared_statement_cache_size": 0}
"""asyncpg's statement cache and SQLAlchemy's off: every statement is then prepared unnamed, inside
its own transaction, which a PgBouncer in transaction mode can hand to any server connection
(a named one lives on one server connection only; CANOPY_DB_PGBOUNCER, docs/deploy.md)."""


def new_id() -> str:
    """A UUIDv7 string: opaque to clients, time-ordered so it doubles as a stable cursor key."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(secrets.token_bytes(10), "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    # formatted by hand: str(uuid.UUID(...)) is slower, and a batch of reports makes thousands
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _prepare_sqlite_file(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def create_engine(url: str, *, immediate: bool = True, **kwargs: Any) -> AsyncEngine:
    """An async engine; on SQLite, connections configured for correctness. Its errors name no
    statement parameters (passwords' hashes, addresses, tokens' hashes): they reach the logs."""
    kwargs.setdefault("hide_parameters", True)
    if not url.startswith("sqlite"):
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "checkout", _refuse_closed_connection)
        return engine

    kwargs.pop("pool_size", None)
    kwargs.pop("max_overflow", None)
    if immediate and "poolclass" not in kwargs:
        # One writing connection per process: SQLite runs one write transaction at a time anyway,
        # and this way a process's writers queue for it in order on the pool, where they used to
        # poll the file lock with growing sleeps. Another process
        # still waits on the busy timeout. Readers keep the default pool.
        kwargs.update(pool_size=1, max_overflow=0)
    _prepare_sqlite_file(url)
    engine = create_async_engine(url, connect_args={"timeout": 30}, module=OneTripDBAPI(), **kwargs)
    begin_statement = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin_statement)

    return engine


def _refuse_closed_connection(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Hand out no connection the server has closed (a restart, a failover, an idle timeout).

    asyncpg notices the server's goodbye as soon as the event loop reads the socket, so this check
    costs no round trip, where `pool_pre_ping` costs one per request (docs/benchmarks.md). The pool
    replaces a refused connection and tries again.
    """
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("the server closed this pooled connection")


@asynccontextmanager
async def session_scope(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One session: committed when the block ends normally, rolled back on any exception."""
    async with factory() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


class Database:
    """The app's engines and session factories (one writer, one reader)."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 20,
        max_overflow: int = 10,
        pool_timeout: float = 30,
        pgbouncer: bool = False,
    ) -> None:
        self.url = url
        self.writer = create_engine(
            url,
            immediate=True,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            **({"connect_args": WITHOUT_NAMED_STATEMENTS} if pgbouncer and not url.startswith("sqlite") else {}),
        )
        self.reader = create_engine(url, immediate=False) if url.startswith("sqlite") else self.writer
        self.write_sessions = async_sessionmaker(self.writer, class_=AsyncSession, expire_on_commit=False)
        self.read_sessions = async_sessionmaker(self.reader, class_=AsyncSession, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.writer.dialect.name

    def transaction(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A writing unit of work outside a request (jobs, CLI): commit on success, else roll back."""
        return session_scope(self.write_sessions)

    async def dispose(self) -> None:
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()


OPEN_SESSIONS = "canopy.open_sessions"
"""A key of our own in the ASGI scope (the scope's TypedDict does not know it: hence two ignores)."""


class CloseRequestSessions:
    """Closes, when a request is over, every session it opened, whatever raised and wherever.

    The session dependencies below commit or roll back when Litestar tears them down, after the
    handler. Litestar does not tear down a generator dependency when a later dependency raises
    (a 401 after the user lookup, a database error inside it): that session would keep its
    connection, and on SQLite the process's only writing connection and the file's write lock,
    until the garbage collector found it. Closing rolls back and returns the connection; for a
    session torn down normally it does nothing. Put it innermost, so that it runs before any
    middleware that writes after the response.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            for session in scope.pop(OPEN_SESSIONS, ()):  # type: ignore[misc]
                await session.close()


def _request_session(
    pick: Callable[[Database, Request[Any, Any, Any]], async_sessionmaker[AsyncSession]],
) -> Callable[[Database, Request[Any, Any, Any]], AsyncIterator[AsyncSession]]:
    """A session dependency: committed after the handler and before the response is sent (so a
    failed commit becomes an error response, never a false 2xx), rolled back if anything raised,
    and registered for `CloseRequestSessions`. One generator, not `session_scope` inside one: a
    generator left suspended is finalized by the garbage collector, and two nested ones are
    finalized concurrently ("aclose(): asynchronous generator is already running")."""

    async def provide(
        database: NamedDependency[Database], request: Request[Any, Any, Any]
    ) -> AsyncIterator[AsyncSession]:
        async with pick(database, request)() as session:
            request.scope.setdefault(OPEN_SESSIONS, []).append(session)  # type: ignore[misc]
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise
            else:
                await session.commit()

    return provide


provide_db_session = _request_session(
    lambda database, request: database.read_sessions if request.method in READ_ONLY_METHODS else database.write_sessions
)
"""One session per request: a reading one for GET, HEAD and OPTIONS."""

provide_write_session = _request_session(lambda database, _: database.write_sessions)
"""A writing session for a GET that may write (e.g. the green-code QR issues a code)."""


def table_of(model: type[SQLModel]) -> Table:
    """A table model's Core table, for Core statements (SQLModel sets `__table__` undeclared)."""
    return cast(Table, inspect(model).local_table)


def rowcount(result: Result[*TupleAny]) -> int:
    """The rows an UPDATE or DELETE matched. `AsyncSession.execute` is typed to answer a plain
    Result; for those statements it is a CursorResult, which counts them."""
    return cast(CursorResult[*TupleAny], result).rowcount


def dialect_name(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else ""


def for_each_dialect(build: Callable[[Any], Any]) -> dict[str, Any]:
    """A statement built once per dialect from that dialect's INSERT (for `ON CONFLICT`)."""
    from sqlalchemy.dialects.postgresql import insert as postgresql_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return {"postgresql": build(postgresql_insert), "sqlite": build(sqlite_insert)}


def dialect_insert(session: AsyncSession) -> Any:
    """The dialect's INSERT construct, for `ON CONFLICT` clauses that both databases speak."""
    if dialect_name(session) == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def new_ids_sql(dialect: str) -> Any:
    """A SQL expression giving every row its own UUIDv7 string, as `new_id()` makes them: the
    millisecond timestamp (taken now, in Python) and the version digit, then 74 random bits from
    the database (`gen_random_uuid()`'s random digits and variant on PostgreSQL, `randomblob()` on
    SQLite)."""
    stamp = f"{time.time_ns() // 1_000_000:012x}"
    prefix = literal(f"{stamp[:8]}-{stamp[8:]}-7")
    if dialect == "postgresql":
        # gen_random_uuid() is 'xxxxxxxx-xxxx-4xxx-Vxxx-xxxxxxxxxxxx': keep what follows the '4'.
        return prefix + func.substr(literal_column("gen_random_uuid()::text"), 16)

    def hex_of(n: int) -> Any:  # 2n random hex digits
        return func.lower(func.hex(func.randomblob(n)))

    variant = func.substr(literal("89ab"), literal_column("1 + (abs(random()) % 4)"), 1)
    return (
        prefix
        + func.substr(hex_of(2), 2)
        + literal("-")
        + variant
        + func.substr(hex_of(2), 2)
        + literal("-")
        + hex_of(6)
    )
