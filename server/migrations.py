"""Alembic, driven from code: the schema is only ever made by the migrations."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncConnection

ROOT = Path(__file__).resolve().parents[1]


def alembic_config(database_url: str | None = None) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "alembic"))
    if database_url:
        config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def is_behind(current: str | None) -> bool:
    """Whether a database at `current` lacks migrations this code needs. A revision the code does
    not know was made by a newer release, whose migrations keep this one working (docs/deploy.md):
    during a rollout the previous release's replicas stay ready on the migrated database."""
    head, known = _revisions()
    return current != head and (current is None or current in known)


@lru_cache(maxsize=1)
def _revisions() -> tuple[str | None, frozenset[str]]:
    """The code's head and every revision it knows (read once: the files do not change under a
    running process, and a load balancer asks /ready every few seconds)."""
    script = ScriptDirectory.from_config(alembic_config())
    return script.get_current_head(), frozenset(revision.revision for revision in script.walk_revisions())


async def current_revision(connection: AsyncConnection) -> str | None:
    return await connection.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())
