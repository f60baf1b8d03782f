"""The `canopy` command (SPEC 9): migrate, seed the demo, serve, create NGOs, run jobs; check the
configuration and make its secrets (SPEC 14)."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from server.configuration import SECRETS, env_name, settings_or_exit
from server.settings import Settings

if TYPE_CHECKING:  # imported when a command runs, so that `canopy --help` stays quick
    from server.clock import Clock
    from server.db import Database

T = TypeVar("T")


def _print(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def _run(work: Callable[[Database, Clock, Settings], Awaitable[T]]) -> T:
    """Run `work` with a database and clock of its own (as a job gets them), then close them."""
    from server.clock import Clock
    from server.db import Database

    settings = settings_or_exit()

    async def main() -> T:
        database = Database(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pgbouncer=settings.db_pgbouncer,
        )
        try:
            return await work(database, Clock(test_clock=settings.test_clock, engine=database.reader), settings)
        finally:
            await database.dispose()

    return asyncio.run(main())


@click.group()
def main() -> None:
    """Canopy: green energy for verified low-carbon actions, grown into real trees."""


@main.command()
def migrate() -> None:
    """Bring the database schema to the newest revision (alembic upgrade head)."""
    from server.migrations import upgrade

    upgrade(settings_or_exit().database_url)
    click.echo("database migrated to head")


@main.command("seed-demo")
def seed_demo() -> None:
    """Insert the demo catalogue (actions, species, an NGO, two projects); safe to repeat. In
    development, also a demo partner and an owner invitation for it and for the NGO: their links
    are printed (a new link each run, until the owner has joined)."""
    from server.catalog.service import seed_demo as seed
    from server.clock import wall_clock
    from server.members.demo import seed_demo_members

    async def work(database: Database, clock: Clock, settings: Settings) -> dict[str, Any]:
        async with database.transaction() as session:
            now = await clock.now(session)
            created = await seed(session, now)
        if settings.env == "production":
            return {"created": created}
        async with database.transaction() as session:
            return {"created": created, "invitations": await seed_demo_members(session, settings, wall_clock())}

    _print(_run(work))


@main.group()
def operator() -> None:
    """The operators, who sign in to the console at /admin/."""


@operator.command("invite")
@click.option("--email", required=True, help="The new operator's email address")
def operator_invite(email: str) -> None:
    """Invite an operator and print the invitation link (shown this once; it is mailed too)."""
    import re

    from server.clock import wall_clock
    from server.errors import DomainError
    from server.i18n import DEFAULT_LANGUAGE
    from server.members import service
    from server.members.models import MemberRole, OrgKind
    from server.users.schemas import EMAIL_PATTERN

    if not re.fullmatch(EMAIL_PATTERN, email):
        raise click.ClickException("--email must be an email address such as ops@example.org")

    async def work(database: Database, clock: Clock, settings: Settings) -> dict[str, Any]:
        async with database.transaction() as session:
            invitation = await service.invite(
                session,
                settings,
                org_kind=OrgKind.OPERATOR,
                org_id=None,
                email=email,
                role=MemberRole.OWNER,
                language=DEFAULT_LANGUAGE,
                now=wall_clock(),
            )
            return {"id": invitation.member.id, "email": invitation.member.email, "invitation_url": invitation.url}

    try:
        _print(_run(work))
    except DomainError as exc:
        raise click.ClickException(exc.detail) from exc
    click.echo("The link works once; it is not shown again (it was mailed too).", err=True)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
def serve(host: str, port: int, workers: int) -> None:
    """Serve the API with uvicorn (run `canopy migrate` first)."""
    import uvicorn

    from server.logs import server_log_config

    settings = settings_or_exit()
    os.environ.setdefault("CANOPY_DATABASE_URL", settings.database_url)
    # No proxy headers: the client address that throttling counts by is the socket peer, never an
    # X-Forwarded-For that any local client could make up.
    uvicorn.run(
        "server.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=server_log_config(settings),
        access_log=False,  # the app writes its own (server/logs.py)
        proxy_headers=False,
        # uvicorn's supervisor kills a worker that has not answered its health check in 5 s; on a
        # busy machine a worker still importing the app took longer and was killed again and again.
        timeout_worker_healthcheck=30,
    )


@main.group()
def ngo() -> None:
    """NGO partners."""


@ngo.command("create")
@click.option("--name", required=True)
@click.option("--contact-email", required=True)
@click.option("--webhook-url", default=None)
def ngo_create(name: str, contact_email: str, webhook_url: str | None) -> None:
    """Create an NGO and print its API key (and webhook secret) once: they are stored hashed/encrypted."""
    from pydantic import ValidationError

    from server.errors import DomainError
    from server.planting import ngos
    from server.planting.schemas import NgoCreate

    async def work(database: Database, clock: Clock, settings: Settings) -> dict[str, Any]:
        async with database.transaction() as session:
            data = NgoCreate(name=name, contact_email=contact_email, webhook_url=webhook_url)
            ngo, key, secret = await ngos.create_ngo(session, data, settings, await clock.now(session))
            created = {"id": ngo.id, "name": ngo.name, "key_id": key.key_id, "api_key": key.api_key}
            return created | ({"webhook_secret": secret} if secret else {})

    try:
        _print(_run(work))
    except ValidationError as exc:
        raise click.ClickException(str(exc)) from exc
    except DomainError as exc:
        raise click.ClickException(exc.detail) from exc


@main.group()
def partner() -> None:
    """Merchants, transit operators and utilities that report signed actions."""


@partner.command("create")
@click.option("--name", required=True, help="Unique partner name")
@click.option("--kind", required=True, type=click.Choice(["merchant", "transit", "utility"]))
@click.option("--actions", required=True, help="Comma-separated action codes, e.g. metro_ride,bus_ride")
@click.option("--webhook-url", default=None, help="https:// URL for report.voided events")
def partner_create(name: str, kind: str, actions: str, webhook_url: str | None) -> None:
    """Create a partner and print its id, key_id and secret (shown this once only)."""
    from pydantic import ValidationError

    from server.errors import DomainError
    from server.partners.onboarding import create_partner
    from server.partners.schemas import PartnerCreate

    try:
        data = PartnerCreate.model_validate(
            {
                "name": name,
                "kind": kind,
                "allowed_actions": [code.strip() for code in actions.split(",") if code.strip()],
                "webhook_url": webhook_url,
            }
        )
    except ValidationError as exc:
        raise click.ClickException(str(exc)) from exc

    async def work(database: Database, clock: Clock, settings: Settings) -> dict[str, Any]:
        async with database.transaction() as session:
            created, key_id, secret, webhook_secret = await create_partner(
                session, settings, data, await clock.now(session)
            )
            result: dict[str, Any] = {
                "id": created.id,
                "name": created.name,
                "kind": created.kind,
                "allowed_actions": created.allowed_actions,
                "key_id": key_id,
                "secret": secret,
            }
            if webhook_secret:
                result |= {"webhook_url": created.webhook_url, "webhook_secret": webhook_secret}
            return result

    try:
        _print(_run(work))
    except DomainError as exc:
        raise click.ClickException(exc.detail) from exc
    click.echo("Store the secret now: it is not shown again.", err=True)


@main.command()
def check() -> None:
    """Check the configuration (the CANOPY_* variables) as a start would, and list every problem."""
    settings = settings_or_exit()
    click.echo(f"The configuration is fit to run ({settings.env}).")


@main.group()
def keys() -> None:
    """The secrets of an installation."""


@keys.command("generate")
def keys_generate() -> None:
    """Print a fresh value for every secret setting, as lines for an env file:
    `canopy keys generate > .env` (docs/deploy.md)."""
    click.echo("# Canopy's secrets, from `canopy keys generate`. Keep this file private; never commit it.")
    click.echo("# Make them once per installation and keep them: a new CANOPY_ENCRYPTION_KEY cannot read")
    click.echo("# the partner and webhook secrets stored under the old one, and a certificate verifies")
    click.echo("# only with the public key of the CANOPY_SIGNING_KEY that signed it.")
    for field, make in SECRETS.items():
        if field == "push_relay_secret":
            click.echo("# Used with CANOPY_PUSH_RELAY_URL: give the push relay the same value.")
        click.echo(f"{env_name(field)}={make()}")


@main.group()
def jobs() -> None:
    """Background jobs."""


@jobs.command("run")
@click.argument("name")
def run_job(name: str) -> None:
    """Run one job now and print its counts."""
    from server.errors import DomainError
    from server.scheduler import run_job as run

    try:
        _print(_run(lambda database, clock, settings: run(name, database, clock, settings)))
    except DomainError as exc:
        raise click.ClickException(exc.detail) from exc


if __name__ == "__main__":
    main()
