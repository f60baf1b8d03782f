"""The documentation tests: code blocks of docs/ run as written, tables checked against server/.

Some examples need Node.js. On a machine without `node` those tests are deselected with a printed
reason, except in CI (CANOPY_REQUIRE_POSTGRES set, as `.ci/run` does), where they run and fail:
the JavaScript example must never go unchecked there.
"""

from __future__ import annotations

import os
import shutil

import pytest

NODE = shutil.which("node")


def node_required() -> bool:
    return bool(os.environ.get("CANOPY_REQUIRE_POSTGRES"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs_node: runs a JavaScript example with Node.js (18 or newer)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if NODE or node_required():
        return
    left_out = [item for item in items if item.get_closest_marker("needs_node")]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if not item.get_closest_marker("needs_node")]
        config.stash[_LEFT_OUT] = [item.nodeid for item in left_out]


_LEFT_OUT = pytest.StashKey[list[str]]()


def pytest_report_collectionfinish(config: pytest.Config) -> list[str]:
    left_out = config.stash.get(_LEFT_OUT, [])
    if not left_out:
        return []
    return [f"node not found: deselected {len(left_out)} JavaScript example test(s) (required in CI):"] + [
        f"  {nodeid}" for nodeid in left_out
    ]
