"""docs/partners.md's signing examples, run as written against a real server.

Every `python`, `js` and `sh` block of the guide is run here: the three report examples with
the key, secret, base URL and a fresh green code in their environment, each of which must get its
report accepted (201); the webhook verifier against a signature made by the server's own code.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.settings import Settings
from server.webhooks.jobs import signature as webhook_signature
from tests.docs.conftest import NODE
from tests.processes import running_servers

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "partners.md"
RUNNABLE = ("python", "js", "sh")


def code_blocks(text: str) -> list[tuple[str, str]]:
    """(language, code) of each fenced block, in order."""
    return [(m.group(1), m.group(2)) for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M)]


BLOCKS = [(language, code) for language, code in code_blocks(GUIDE.read_text()) if language in RUNNABLE]
REPORT_EXAMPLES = {language: code for language, code in BLOCKS if "GREEN_CODE" in code}
VERIFIERS = [code for language, code in BLOCKS if "def verify_webhook" in code]


def command(language: str, script: Path) -> list[str]:
    if language == "python":
        return [sys.executable, str(script)]
    if language == "js":
        if NODE is None:
            pytest.fail("node is required to check docs/partners.md's JavaScript example (CI sets it up)")
        return [NODE, str(script)]
    return ["bash", "-eo", "pipefail", str(script)]


def test_every_runnable_block_is_checked() -> None:
    """A new example in the guide must be one of the kinds checked here, not silently unchecked."""
    assert sorted(REPORT_EXAMPLES) == sorted(RUNNABLE)
    assert len(VERIFIERS) == 1
    assert len(BLOCKS) == len(REPORT_EXAMPLES) + len(VERIFIERS)


def _setup(base: str, settings: Settings) -> tuple[dict[str, str], dict[str, str]]:
    """A partner allowed reusable cups, and a signed-in customer: (partner credentials, user headers)."""
    operator = {"Authorization": f"Bearer {settings.operator_token}"}
    partner = httpx.post(
        f"{base}/v1/admin/partners",
        headers=operator,
        json={"name": "Guide Cafe", "kind": "merchant", "allowed_actions": ["reusable_cup"]},
    )
    assert partner.status_code == 201, partner.text
    user = httpx.post(
        f"{base}/v1/auth/register",
        json={"handle": "guide_reader", "password": "correct horse battery", "display_name": "Reader"},
    )
    assert user.status_code == 201, user.text
    return partner.json(), {"Authorization": f"Bearer {user.json()['access_token']}"}


def _run(language: str, code: str, tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = tmp_path / f"example.{language}"
    script.write_text(code)
    return subprocess.run(command(language, script), env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)


@pytest.mark.parametrize(
    "language", [pytest.param(language, marks=[pytest.mark.needs_node] * (language == "js")) for language in RUNNABLE]
)
def test_report_example_is_accepted(language: str, settings: Settings, tmp_path: Path) -> None:
    with running_servers(settings, tmp_path) as (base,):
        partner, customer = _setup(base, settings)
        code = httpx.post(f"{base}/v1/me/green-code", headers=customer)
        assert code.status_code == 201, code.text
        env = dict(os.environ) | {
            "CANOPY_URL": base,
            "CANOPY_KEY_ID": partner["key_id"],
            "CANOPY_SECRET": partner["secret"],
            "GREEN_CODE": code.json()["code"],
        }
        result = _run(language, REPORT_EXAMPLES[language], tmp_path, env)
        assert result.returncode == 0, result.stdout + result.stderr

        lines = result.stdout.strip().splitlines()
        status, answer = _status_and_answer(language, lines)
        assert status == 201, result.stdout
        assert answer["total_g"] == 110 and answer["user_ref"].startswith("u_"), answer
        actions = httpx.get(f"{base}/v1/me/actions", headers=customer).json()["items"]
        assert [(a["action"], a["source"]) for a in actions] == [("reusable_cup", "partner")], actions


def _status_and_answer(language: str, lines: list[str]) -> tuple[int, dict[str, Any]]:
    """Python and Node print `<status> <json>`; curl prints the body, then the status."""
    if language == "sh":
        return int(lines[-1]), json.loads(lines[-2])
    status, _, body = lines[-1].partition(" ")
    return int(status), json.loads(body)


def test_webhook_verifier_accepts_canopy_signatures_only() -> None:
    namespace: dict[str, Any] = {}
    exec(compile(VERIFIERS[0], str(GUIDE), "exec"), namespace)
    verify = namespace["verify_webhook"]
    secret, body, now = "whsec_guide", b'{"id":"e1","type":"report.voided"}', int(time.time())
    headers = {"Canopy-Timestamp": str(now), "Canopy-Signature": webhook_signature(secret, now, body)}

    assert verify(secret, headers, body)
    assert not verify(secret, headers, body + b" ")
    assert not verify("another secret", headers, body)
    stale = now - 3600
    assert not verify(
        secret, {"Canopy-Timestamp": str(stale), "Canopy-Signature": webhook_signature(secret, stale, body)}, body
    )
