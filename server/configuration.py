"""The settings as a process starts with them: every problem at once, in plain words (SPEC 14).

Settings load first (pydantic checks each value's type and range); then `problems()` looks at
the whole and collects everything unsafe, so a newcomer fixes the env file in one pass instead of
one traceback per restart. No line names a secret's value, nor any part of one: only the
variable, what is wrong and how to fix it.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import sys
from collections.abc import Callable

from cryptography.fernet import Fernet
from pydantic import ValidationError

from server.settings import DEVELOPMENT_OPERATOR_TOKEN, DEVELOPMENT_SECRET, Settings, get_settings

EX_CONFIG = 78
"""The exit status of a configuration error (sysexits.h), distinct from a crash's 1."""

MIN_SECRET_KEY = 32
MIN_OPERATOR_TOKEN = 24
MIN_PUSH_RELAY_SECRET = 16
GENERATE = "run `canopy keys generate` and copy its line into your env file"


def _seed() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


SECRETS: dict[str, Callable[[], str]] = {
    "secret_key": lambda: secrets.token_urlsafe(48),
    "operator_token": lambda: secrets.token_urlsafe(32),
    "signing_key": _seed,
    "encryption_key": lambda: Fernet.generate_key().decode(),
    "push_relay_secret": lambda: secrets.token_urlsafe(32),
}
"""Every secret setting and how a fresh value is made (`canopy keys generate`)."""


def env_name(field: str) -> str:
    return f"CANOPY_{field.upper()}"


def _is_ed25519_seed(value: str) -> bool:
    try:
        return len(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))) == 32
    except (binascii.Error, ValueError):
        return False


def _is_fernet_key(value: str) -> bool:
    try:
        Fernet(value.encode())
    except (binascii.Error, ValueError):
        return False
    return True


def _secret_problems(settings: Settings) -> list[str]:
    found = []
    for field, development, minimum in (
        ("secret_key", DEVELOPMENT_SECRET, MIN_SECRET_KEY),
        ("operator_token", DEVELOPMENT_OPERATOR_TOKEN, MIN_OPERATOR_TOKEN),
    ):
        value = getattr(settings, field)
        if value == development:
            found.append(f"{env_name(field)} is the development default: {GENERATE}.")
        elif len(value) < minimum:
            found.append(f"{env_name(field)} is shorter than {minimum} characters: {GENERATE}.")
    if settings.secret_key == settings.operator_token:
        found.append(f"CANOPY_OPERATOR_TOKEN is the same as CANOPY_SECRET_KEY: give each its own value ({GENERATE}).")
    if not settings.signing_key:
        found.append(f"CANOPY_SIGNING_KEY is not set (it signs the tree certificates): {GENERATE}.")
    elif not _is_ed25519_seed(settings.signing_key):
        found.append(f"CANOPY_SIGNING_KEY is not an Ed25519 seed (base64url of 32 bytes): {GENERATE}.")
    if not settings.encryption_key:
        found.append(f"CANOPY_ENCRYPTION_KEY is not set (it encrypts partner and webhook secrets): {GENERATE}.")
    elif not _is_fernet_key(settings.encryption_key):
        found.append(f"CANOPY_ENCRYPTION_KEY is not a Fernet key (urlsafe base64 of 32 bytes): {GENERATE}.")
    return found


def _production_problems(settings: Settings) -> list[str]:
    found = _secret_problems(settings)
    if settings.database_url == Settings.model_fields["database_url"].default:
        found.append(
            "CANOPY_DATABASE_URL is the development SQLite file var/canopy.db: "
            "set your PostgreSQL URL, e.g. postgresql://canopy:PASSWORD@db.internal:5432/canopy."
        )
    if not settings.smtp_url:
        found.append(
            "CANOPY_SMTP_URL is not set (mail, password reset links included, would go to the log): "
            "set smtp://USER:PASSWORD@HOST:587 or smtps://USER:PASSWORD@HOST:465."
        )
    if settings.public_base_url == Settings.model_fields["public_base_url"].default:
        found.append(
            "CANOPY_PUBLIC_BASE_URL is the development default: set the https:// address people reach "
            "Canopy at (links in mail, certificates and pages use it)."
        )
    elif not settings.public_base_url.startswith("https://"):
        found.append(
            "CANOPY_PUBLIC_BASE_URL does not start with https://: portal sign-in cookies are Secure in "
            "production and browsers drop them over http."
        )
    if settings.test_clock:
        found.append("CANOPY_TEST_CLOCK is on (anyone with the operator token could move time): remove it.")
    if settings.webhook_allow_private:
        found.append(
            "CANOPY_WEBHOOK_ALLOW_PRIVATE is on (webhooks could reach addresses inside your network): remove it."
        )
    if settings.log_format != "json":
        found.append("CANOPY_LOG_FORMAT is text, whose lines are not scrubbed of credentials: remove it (json).")
    return found


def problems(settings: Settings) -> list[str]:
    """Everything wrong with `settings`, one plain line each; empty when they are fit to run."""
    found = _production_problems(settings) if settings.env == "production" else []
    if settings.push_relay_url and len(settings.push_relay_secret) < MIN_PUSH_RELAY_SECRET:
        found.append(
            f"CANOPY_PUSH_RELAY_URL is set but CANOPY_PUSH_RELAY_SECRET is shorter than {MIN_PUSH_RELAY_SECRET} "
            f"characters: {GENERATE}, and give the relay the same value."
        )
    return found


def _invalid_values(error: ValidationError) -> dict[str, str]:
    """pydantic's errors by field, without the values it was given (a value may be a secret, or a
    URL with a password in it)."""
    lines: dict[str, str] = {}
    for item in error.errors(include_url=False, include_input=False, include_context=False):
        field = str(item["loc"][0]) if item["loc"] else "settings"
        message = str(item["msg"]).removeprefix("Value error, ")
        name = env_name(field)
        lines.setdefault(field, f"{message}." if message.startswith(name) else f"{name} is invalid: {message}.")
    return lines


class ConfigurationProblems(Exception):
    """The settings cannot run; `lines` says why, one problem a line."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def checked_settings() -> Settings:
    """The settings from the environment, or ConfigurationProblems naming everything wrong."""
    try:
        settings = get_settings()
    except ValidationError as exc:
        # The other values are still checked: the invalid ones stand at their defaults meanwhile,
        # and what that says about them is left out.
        invalid = _invalid_values(exc)
        defaults = {field: Settings.model_fields[field].default for field in invalid if field in Settings.model_fields}
        try:
            rest = problems(Settings(**defaults))
        except ValidationError:  # a check of the whole model failed: nothing more to say
            rest = []
        others = [line for line in rest if not line.startswith(tuple(map(env_name, invalid)))]
        raise ConfigurationProblems([*invalid.values(), *others]) from None
    found = problems(settings)
    if found:
        raise ConfigurationProblems(found)
    return settings


def settings_or_exit() -> Settings:
    """`checked_settings()` for a process starting: on problems, print them and exit EX_CONFIG, with
    no traceback (the app factory Granian calls, and every `canopy` command that needs them)."""
    try:
        return checked_settings()
    except ConfigurationProblems as exc:
        count = len(exc.lines)
        print(f"Canopy cannot start: {count} problem{'s' if count > 1 else ''} in its configuration.", file=sys.stderr)
        for line in exc.lines:
            print(f"  - {line}", file=sys.stderr)
        print("See docs/deploy.md and docs/configuration.md.", file=sys.stderr)
        raise SystemExit(EX_CONFIG) from None
