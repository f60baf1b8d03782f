"""The Dockerfile and compose.yaml, checked without Docker (no daemon on the build machine, nor
`docker compose config`): the services and their order, what each replica is told, and that the
image runs Granian as an unprivileged user against the app factory that exists."""

from __future__ import annotations

import importlib
import inspect
import json
import re
import shlex
from pathlib import Path
from typing import Any

import yaml
from litestar import Litestar

from server.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
REPLICAS = ("canopy-1", "canopy-2")


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of every instruction, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(maxsplit=1)[0].upper(), line.split(maxsplit=1)[1]) for line in lines]


def runtime_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (name, _) in enumerate(instructions) if name == "FROM")
    return instructions[last_from:]


def test_compose_runs_two_replicas_after_a_one_shot_migration() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "redis", "migrate", *REPLICAS}
    assert services["migrate"]["command"] == ["canopy", "migrate"]
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in REPLICAS:
        replica = services[name]
        assert replica["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"},
            "postgres": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
        }
        assert "command" not in replica  # the image's CMD: Granian
        assert replica["restart"] == "unless-stopped"
    assert services["postgres"]["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    published = [services[name]["ports"][0] for name in REPLICAS]
    assert len(set(published)) == 2 and all(port.endswith(":8000") for port in published)


def test_every_canopy_container_reads_the_env_file_and_shares_postgresql_and_redis() -> None:
    services = compose()["services"]
    for name in ("migrate", *REPLICAS):
        service = services[name]
        assert service["image"] == "canopy:local" and service["build"] == "."
        assert service["env_file"] == [{"path": ".env", "required": True}]
        environment = service["environment"]
        assert environment["CANOPY_ENV"] == "production"
        assert environment["CANOPY_REDIS_URL"] == "redis://redis:6379/0"
        url = environment["CANOPY_DATABASE_URL"]
        assert url.startswith("postgresql://canopy:${POSTGRES_PASSWORD") and url.endswith("@postgres:5432/canopy")
        # the URL is one the settings accept, once Compose has filled in the password
        filled = re.sub(r"\$\{POSTGRES_PASSWORD[^}]*\}", "password", url)
        assert Settings(database_url=filled).database_url.startswith("postgresql+asyncpg://")
    postgres = services["postgres"]["environment"]
    assert postgres["POSTGRES_USER"] == "canopy" and postgres["POSTGRES_DB"] == "canopy"
    assert postgres["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")


def test_the_image_is_multi_stage_and_runs_as_an_unprivileged_user() -> None:
    instructions = dockerfile_instructions()
    stages = [arguments for name, arguments in instructions if name == "FROM"]
    assert len(stages) == 2 and stages[0].endswith("AS wheels") and stages[1].endswith("AS runtime")
    runtime = runtime_stage()
    (user,) = [arguments for name, arguments in runtime if name == "USER"]
    assert user.split(":")[0] not in {"root", "0"}
    # the user is set before the command runs, and nothing runs as root after it
    names = [name for name, _ in runtime]
    assert names.index("USER") < names.index("CMD") and "RUN" not in names[names.index("USER") :]
    (install,) = [arguments for name, arguments in runtime if name == "RUN"]
    assert "useradd" in install and "--uid 10001" in install and "pip install --no-cache-dir --no-index" in install


def test_the_command_is_granian_on_the_app_factory() -> None:
    runtime = runtime_stage()
    (command,) = [json.loads(arguments) for name, arguments in runtime if name == "CMD"]
    assert command[0] == "granian"
    assert command[command.index("--interface") + 1] == "asgi" and "--factory" in command
    module_name, _, attribute = command[-1].partition(":")
    factory = getattr(importlib.import_module(module_name), attribute)
    assert inspect.signature(factory).return_annotation in {Litestar, "Litestar"}
    assert all(parameter.default is None for parameter in inspect.signature(factory).parameters.values())
    environment = dict(
        item.split("=", 1) for name, arguments in runtime if name == "ENV" for item in shlex.split(arguments)
    )
    assert environment["GRANIAN_HOST"] == "0.0.0.0" and environment["CANOPY_ENV"] == "production"
    # Granian is in the optional group the wheels stage installs
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^serve = \["granian>=', pyproject, re.MULTILINE)
    assert '".[serve,redis]"' in (ROOT / "Dockerfile").read_text()


async def test_the_healthcheck_asks_the_health_route(api: Any) -> None:
    (healthcheck,) = [arguments for name, arguments in runtime_stage() if name == "HEALTHCHECK"]
    probe = json.loads(healthcheck.split(" CMD ", 1)[1])
    assert probe[:2] == ["python", "-c"] and "/health" in probe[2]
    assert (await api.client.get("/health")).json() == {"status": "ok"}


def test_the_build_context_leaves_out_what_must_not_ship() -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignore[ignore.index("*") :].count("*") == 1  # everything out, then only what the image copies
    allowed = {line.removeprefix("!").rstrip("/") for line in ignore if line.startswith("!")}
    assert allowed == {"pyproject.toml", "README.md", "alembic.ini", "alembic", "assets", "server"}
    copied = {arguments.split()[0] for name, arguments in dockerfile_instructions() if name == "COPY"}
    copied = {path for path in copied if not path.startswith("--")}
    assert copied <= allowed
