"""A production start checks the whole configuration at once (SPEC 14): every problem on a line of
its own, naming the variable and the fix, never a secret's value; `canopy keys generate` makes
every secret the check asks for."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from cryptography.fernet import Fernet

from server.configuration import EX_CONFIG, SECRETS, env_name, problems
from server.settings import Settings

POSTGRES_URL = "postgresql://canopy:pg-password-not-shown@db.internal:5432/canopy"
READY = {
    "CANOPY_DATABASE_URL": POSTGRES_URL,
    "CANOPY_SMTP_URL": "smtps://mailer:smtp-password-not-shown@mail.example.org:465",
    "CANOPY_PUBLIC_BASE_URL": "https://canopy.example.org",
}
"""What production needs besides the secrets."""


def canopy(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m server.cli ...` with only these CANOPY_* variables (none inherited)."""
    clean = {name: value for name, value in os.environ.items() if not name.startswith("CANOPY_")}
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def generated() -> dict[str, str]:
    result = canopy("keys", "generate")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def production(**overrides: Any) -> Settings:
    secrets = {field: make() for field, make in SECRETS.items()}
    fields = {name.removeprefix("CANOPY_").lower(): value for name, value in READY.items()}
    return Settings(**({"env": "production"} | secrets | fields | overrides))


def test_keys_generate_sets_every_secret_and_a_production_start_passes() -> None:
    keys = generated()
    assert set(keys) == {env_name(field) for field in SECRETS}
    assert all(len(value) >= 32 for value in keys.values())
    assert generated() != keys  # fresh every time

    result = canopy("check", CANOPY_ENV="production", **keys, **READY)
    assert result.returncode == 0, result.stderr
    assert "fit to run (production)" in result.stdout


def test_a_bare_production_start_lists_every_problem_at_once_and_exits_without_a_traceback() -> None:
    result = canopy("check", CANOPY_ENV="production")
    assert result.returncode == EX_CONFIG
    assert "Traceback" not in result.stderr and result.stdout == ""
    named = {line.split()[1] for line in result.stderr.splitlines() if line.startswith("  - ")}
    assert named == {
        "CANOPY_SECRET_KEY",
        "CANOPY_OPERATOR_TOKEN",
        "CANOPY_SIGNING_KEY",
        "CANOPY_ENCRYPTION_KEY",
        "CANOPY_DATABASE_URL",
        "CANOPY_SMTP_URL",
        "CANOPY_PUBLIC_BASE_URL",
    }
    assert "CANOPY_SECRET_KEY is the development default: run `canopy keys generate`" in result.stderr
    assert "CANOPY_DATABASE_URL is the development SQLite file" in result.stderr


def test_no_part_of_a_secret_is_printed_even_beside_an_invalid_value() -> None:
    secret_key = "kkkk-tail-of-secret"  # too short for production, and distinctive
    result = canopy(
        "migrate",
        CANOPY_ENV="production",
        CANOPY_SECRET_KEY=secret_key,
        CANOPY_OPERATOR_TOKEN=secret_key,
        CANOPY_DATABASE_URL="mysql://canopy:db-password-not-shown@db/canopy",
        CANOPY_DB_POOL_SIZE="many",
        CANOPY_SIGNING_KEY="not-a-key",
        CANOPY_ENCRYPTION_KEY="not-a-fernet-key",
    )
    assert result.returncode == EX_CONFIG and "Traceback" not in result.stderr
    for fragment in ("tail-of-secret", "kkkk", "db-password-not-shown", "not-a-key", "not-a-fernet", "many"):
        assert fragment not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.startswith("  - ")]
    # the invalid values, then everything else the check finds among the valid ones
    assert lines[0].startswith("  - CANOPY_DATABASE_URL must be a sqlite or postgresql URL")
    assert lines[1].startswith("  - CANOPY_DB_POOL_SIZE is invalid")
    for expected in (
        "CANOPY_SECRET_KEY is shorter than 32 characters",
        "CANOPY_OPERATOR_TOKEN is the same as CANOPY_SECRET_KEY",
        "CANOPY_SIGNING_KEY is not an Ed25519 seed",
        "CANOPY_ENCRYPTION_KEY is not a Fernet key",
        "CANOPY_SMTP_URL is not set",
    ):
        assert any(expected in line for line in lines), expected
    assert not any("development SQLite" in line for line in lines)  # the invalid URL is not re-reported


def test_the_app_factory_refuses_to_start_as_granian_would_call_it() -> None:
    clean = {name: value for name, value in os.environ.items() if not name.startswith("CANOPY_")}
    result = subprocess.run(
        [sys.executable, "-c", "from server.app import create_app; create_app()"],
        env=clean | {"CANOPY_ENV": "production", "CANOPY_TEST_CLOCK": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == EX_CONFIG and "Traceback" not in result.stderr
    assert "CANOPY_TEST_CLOCK is on" in result.stderr and "CANOPY_SIGNING_KEY is not set" in result.stderr


def test_generated_values_pass_and_each_unsafe_setting_is_named() -> None:
    assert problems(production()) == []
    assert problems(production(database_url="postgresql+asyncpg://canopy@db/canopy")) == []
    cases = {
        "CANOPY_SECRET_KEY": {"secret_key": "s" * 31},
        "CANOPY_OPERATOR_TOKEN": {"operator_token": "canopy-dev-operator-token"},
        "CANOPY_SIGNING_KEY": {"signing_key": "A" * 10},
        "CANOPY_ENCRYPTION_KEY": {"encryption_key": None},
        "CANOPY_DATABASE_URL": {"database_url": "sqlite:///var/canopy.db"},
        "CANOPY_SMTP_URL": {"smtp_url": None},
        "CANOPY_PUBLIC_BASE_URL": {"public_base_url": "http://canopy.example.org"},
        "CANOPY_TEST_CLOCK": {"test_clock": True},
        "CANOPY_WEBHOOK_ALLOW_PRIVATE": {"webhook_allow_private": True},
        "CANOPY_PUSH_RELAY_URL": {"push_relay_url": "https://relay.example.org", "push_relay_secret": "short"},
    }
    for name, overrides in cases.items():
        found = problems(production(**overrides))
        assert len(found) == 1 and found[0].startswith(name), (name, found)
    assert problems(production(encryption_key=Fernet.generate_key().decode())) == []


def test_development_is_not_held_to_production() -> None:
    assert problems(Settings()) == []
    # a push relay without its secret would send unsigned pushes, whatever the environment
    (found,) = problems(Settings(push_relay_url="https://relay.example.org"))
    assert found.startswith("CANOPY_PUSH_RELAY_URL is set but CANOPY_PUSH_RELAY_SECRET")


@pytest.mark.parametrize("command", [("keys", "generate"), ("--help",)])
def test_commands_that_need_no_settings_run_with_a_broken_production_configuration(command: tuple[str, ...]) -> None:
    result = canopy(*command, CANOPY_ENV="production", CANOPY_DB_POOL_SIZE="many")
    assert result.returncode == 0, result.stderr
