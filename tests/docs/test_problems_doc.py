"""docs/problems.md lists every problem type the server can answer, each once, and no other.

The names are found in server/ by the ways code names a problem: `problem="..."` (an argument,
a default or a class attribute), `problem_response(<status>, "...")`, and the generic names of
server/errors.py. A name made at run time from a template is listed in TEMPLATES below.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NAME = r"""["']([a-z0-9]+(?:-[a-z0-9]+)*)["']"""
PATTERNS = [
    re.compile(r"\bproblem\s*(?::\s*str\s*)?=\s*" + NAME),
    re.compile(r"\bproblem_response\(\s*\d+\s*,\s*" + NAME),
    re.compile(r"_GENERIC_PROBLEMS\.get\([^,]+,\s*" + NAME),
]
GENERIC_TABLE = re.compile(r"_GENERIC_PROBLEMS\b[^=]*=\s*\{(.*?)\}", re.S)
# Names built at run time: the template as it appears in server/, and the names it makes.
TEMPLATES = {'problem=f"ball-{state}"': {"ball-collected", "ball-expired"}}


def server_sources() -> str:
    return "\n".join(path.read_text() for path in sorted((ROOT / "server").rglob("*.py")))


def problems_in_code() -> set[str]:
    source = server_sources()
    names = {match.group(1) for pattern in PATTERNS for match in pattern.finditer(source)}
    for table in GENERIC_TABLE.finditer(source):
        names |= set(re.findall(r":\s*" + NAME, table.group(1)))
    for template, made in TEMPLATES.items():
        assert template in source, f"{template} is gone from server/: update TEMPLATES"
        names |= made
    return names


def problems_in_doc() -> Counter[str]:
    names: Counter[str] = Counter()
    for line in (ROOT / "docs" / "problems.md").read_text().splitlines():
        if line.startswith("| `"):
            cell = line.split("|")[1]
            found = re.findall(r"`([^`]+)`", cell)
            assert len(found) == 1, f"one problem name per row: {line}"
            names[found[0]] += 1
    return names


def test_the_search_finds_the_problem_types() -> None:
    """A guard on the patterns themselves: names made each way are found."""
    found = problems_in_code()
    assert {"validation", "not-ready", "invalid-signature", "http-error", "rate-limited", "ball-expired"} <= found


def test_every_problem_type_is_listed_once() -> None:
    listed = problems_in_doc()
    missing = sorted(problems_in_code() - set(listed))
    assert not missing, f"problem types the server answers but docs/problems.md does not list: {missing}"
    repeated = sorted(name for name, count in listed.items() if count > 1)
    assert not repeated, f"listed more than once in docs/problems.md: {repeated}"


def test_no_problem_type_is_listed_that_the_server_does_not_answer() -> None:
    stale = sorted(set(problems_in_doc()) - problems_in_code())
    assert not stale, f"docs/problems.md lists problem types not found in server/: {stale}"
