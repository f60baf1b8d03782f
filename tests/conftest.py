"""Test harness: every test gets a fresh database built by the Alembic migrations.

`--db=sqlite` (default) migrates a template file once per run and copies it per test;
`--db=postgres` migrates a template database once and clones it per test
(`CREATE DATABASE ... TEMPLATE`). The PostgreSQL server comes from CANOPY_TEST_POSTGRES_URL
(default postgresql://postgres@127.0.0.1:5432/test); if it is unreachable the run fails.
Tests marked `redis` use the Redis at CANOPY_TEST_REDIS_URL (default redis://127.0.0.1:6379/0);
without one they are left out, unless CANOPY_REQUIRE_POSTGRES is set (CI), where they fail.
Tests marked `browser` drive Chromium (CANOPY_TEST_CHROMIUM, default /usr/bin/chromium): the same.
After every test that used the API, the ledger audit must hold.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis
from litestar.testing import AsyncTestClient

from server.app import create_app
from server.catalog.service import seed_demo
from server.clock import wall_clock
from server.db import Database
from server.migrations import upgrade
from server.settings import Settings
from tests.api import Api

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
LEFT_OUT = pytest.StashKey[list[str]]()


def redis_test_url() -> str:
    return os.environ.get("CANOPY_TEST_REDIS_URL", DEFAULT_REDIS_URL)


def chromium_path() -> str:
    return os.environ.get("CANOPY_TEST_CHROMIUM", DEFAULT_CHROMIUM)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--db", choices=["sqlite", "postgres"], default="sqlite", help="database to test on")


def pytest_report_header(config: pytest.Config) -> str:
    return f"canopy database: {config.getoption('--db')}"


def build_template(url: str) -> None:
    """The migrations, then the demo catalogue, exactly as `canopy migrate && canopy seed-demo`."""
    upgrade(url)

    async def seed() -> None:
        database = Database(url)
        try:
            async with database.transaction() as session:
                await seed_demo(session, wall_clock())
        finally:
            await database.dispose()

    asyncio.run(seed())


class SqliteDatabases:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.template = root / "template.db"
        build_template(f"sqlite+aiosqlite:///{self.template}")
        self.counter = itertools.count()

    def create(self) -> str:
        path = self.root / f"test_{next(self.counter)}.db"
        shutil.copyfile(self.template, path)
        return f"sqlite+aiosqlite:///{path}"

    def drop(self, url: str) -> None:
        path = Path(url.removeprefix("sqlite+aiosqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)

    def close(self) -> None:
        pass


class PostgresDatabases:
    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.prefix = f"canopy_test_{os.getpid()}"
        self.template = f"{self.prefix}_template"
        self.counter = itertools.count()
        self._admin(f'DROP DATABASE IF EXISTS "{self.template}"', f'CREATE DATABASE "{self.template}"')
        build_template(self._url(self.template))

    def _url(self, name: str) -> str:
        base, _, _ = self.admin_url.rpartition("/")
        return f"{base}/{name}".replace("postgresql://", "postgresql+asyncpg://", 1)

    def _admin(self, *statements: str) -> None:
        async def run() -> None:
            connection = await asyncpg.connect(self.admin_url, timeout=5)
            try:
                for statement in statements:
                    await connection.execute(statement)
            finally:
                await connection.close()

        asyncio.run(run())

    def create(self) -> str:
        name = f"{self.prefix}_{next(self.counter)}"
        self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        return self._url(name)

    def drop(self, url: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{url.rpartition("/")[2]}" WITH (FORCE)')

    def close(self) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')


@pytest.fixture(scope="session")
def databases(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    if request.config.getoption("--db") == "postgres":
        admin_url = os.environ.get("CANOPY_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
        try:
            factory: SqliteDatabases | PostgresDatabases = PostgresDatabases(admin_url)
        except (OSError, asyncpg.PostgresError) as exc:
            pytest.exit(f"PostgreSQL is required for --db=postgres but unreachable at {admin_url}: {exc}", 1)
    else:
        factory = SqliteDatabases(tmp_path_factory.mktemp("db"))
    yield factory
    factory.close()


@pytest.fixture
def database_url(databases: SqliteDatabases | PostgresDatabases) -> Iterator[str]:
    url = databases.create()
    yield url
    databases.drop(url)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "settings(**overrides): Settings fields for this test's app")
    config.addinivalue_line("markers", "postgres_only: a behaviour only a database server has (left out on SQLite)")
    config.addinivalue_line("markers", "redis: needs the Redis at CANOPY_TEST_REDIS_URL (left out when unreachable)")
    config.addinivalue_line("markers", "browser: drives Chromium at CANOPY_TEST_CHROMIUM (left out when missing)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`--db=sqlite` leaves out the `postgres_only` tests: there is nothing there for them to test.
    Without a reachable Redis the `redis` tests are left out too, and without Chromium the `browser`
    tests, except where CI requires the servers (CANOPY_REQUIRE_POSTGRES): there they run, and fail."""
    marks = ["redis", "browser"] if config.getoption("--db") == "postgres" else ["postgres_only", "redis", "browser"]
    required = bool(os.environ.get("CANOPY_REQUIRE_POSTGRES"))
    if required or _redis_reachable():
        marks.remove("redis")
    if required or os.access(chromium_path(), os.X_OK):
        marks.remove("browser")
    left_out = [item for item in items if any(item.get_closest_marker(mark) for mark in marks)]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if item not in left_out]
    reasons = {
        "redis": f"no Redis at {redis_test_url()} (set CANOPY_TEST_REDIS_URL",
        "browser": f"no Chromium at {chromium_path()} (install Debian's chromium or set CANOPY_TEST_CHROMIUM",
    }
    notes = []
    for mark, reason in reasons.items():
        count = sum(1 for item in left_out if item.get_closest_marker(mark))
        if count:
            notes.append(
                f"{count} {mark} test(s) left out: {reason}, or CANOPY_REQUIRE_POSTGRES to make them fail instead)"
            )
    if notes:
        config.stash[LEFT_OUT] = notes


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    for note in config.stash.get(LEFT_OUT, []):
        terminalreporter.write_line(note, yellow=True)


def _redis_reachable() -> bool:
    try:
        with redis.Redis.from_url(redis_test_url(), socket_connect_timeout=1) as client:
            return bool(client.ping())
    except redis.RedisError:
        return False


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of this test's own in the test Redis; its keys are deleted after the test."""
    prefix = f"canopy-test:{uuid.uuid4().hex}:"
    with redis.Redis.from_url(redis_test_url(), socket_connect_timeout=5) as client:
        client.ping()
        yield prefix
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)


def make_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    """The settings every test app runs with: test clock on, scheduler off, cheap password hashing,
    and rate limits out of reach (a test sends all its requests from one address within a minute;
    tests/ops/test_rate_limits.py sets its own)."""
    cheap_hashing = {"argon2_time_cost": 1, "argon2_memory_kib": 1024}
    unlimited = {
        "rate_limit_user": 1_000_000,
        "rate_limit_partner_reports": 1_000_000,
        "rate_limit_ngo": 1_000_000,
        "rate_limit_per_address": 1_000_000,
    }
    return Settings(
        database_url=database_url,
        data_dir=data_dir,
        test_clock=True,
        scheduler_enabled=False,
        webhook_allow_private=True,
        **(cheap_hashing | unlimited | overrides),
    )


@pytest.fixture
def settings(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """Test settings; `@pytest.mark.settings(order_min_trees=5, ...)` overrides fields for one test."""
    marker = request.node.get_closest_marker("settings")
    return make_settings(database_url, tmp_path / "data", **(marker.kwargs if marker else {}))


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    """The app over HTTP (in-process ASGI), with the ledger audit checked after the test."""
    app = create_app(settings)
    async with AsyncTestClient(app, base_url="http://canopy.test", timeout=60) as client:
        api = Api(client, settings)
        yield api
        audit = await api.audit()
        assert audit["ok"], audit
