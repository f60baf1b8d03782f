"""docs/configuration.md names every `CANOPY_*` setting of server/settings.py, and only real ones."""

from __future__ import annotations

import re
from pathlib import Path

from server.settings import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
# Read by the tests, the Makefile and the benchmark, not by the server.
NOT_SETTINGS = {
    "CANOPY_TEST_POSTGRES_URL",
    "CANOPY_REQUIRE_POSTGRES",
    "CANOPY_BENCH_DATABASE_URL",
    "CANOPY_TEST_CHROMIUM",
}


def documented() -> set[str]:
    rows = [line for line in DOC.read_text().splitlines() if line.startswith("| `CANOPY_")]
    return {re.match(r"\| `(CANOPY_[A-Z0-9_]+)`", row).group(1) for row in rows}  # type: ignore[union-attr]


def test_every_setting_is_documented() -> None:
    settings = {f"CANOPY_{name.upper()}" for name in Settings.model_fields}
    missing = sorted(settings - documented())
    assert not missing, f"settings missing from docs/configuration.md: {missing}"


def test_no_documented_setting_is_unknown() -> None:
    settings = {f"CANOPY_{name.upper()}" for name in Settings.model_fields}
    unknown = sorted(documented() - settings - NOT_SETTINGS)
    assert not unknown, f"docs/configuration.md names variables that nothing reads: {unknown}"
