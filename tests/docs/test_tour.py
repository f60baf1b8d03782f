"""docs/tour.md, run as a newcomer runs it: every `sh` block, in order, in one bash, against a real
server on the demo catalogue with the test clock (the first block, `make run`, is that server)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from server.settings import Settings
from tests.processes import canopy_env, running_servers

ROOT = Path(__file__).resolve().parents[2]
TOUR = ROOT / "docs" / "tour.md"
TOUR_BASE = "http://127.0.0.1:8000"


def test_the_tour_runs_as_written(settings: Settings, tmp_path: Path) -> None:
    blocks = re.findall(r"^```sh\n(.*?)^```", TOUR.read_text(), re.S | re.M)
    assert "make run" in blocks[0], "the tour starts by serving the demo"
    env = canopy_env(settings)
    seeded = subprocess.run(
        [sys.executable, "-m", "server.cli", "seed-demo"], env=env, capture_output=True, text=True, timeout=120
    )
    assert seeded.returncode == 0, seeded.stderr
    # The tour uses the development operator token, as `make run` does.
    with running_servers(settings, tmp_path, operator_token=Settings().operator_token) as (base,):
        script = "set -eo pipefail\n" + "\n".join(blocks[1:]).replace(TOUR_BASE, base)
        result = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert re.search(r"^valid: CNP-\d{4}-\d{8} ", result.stdout, re.M), result.stdout[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
