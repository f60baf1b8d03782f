"""A rule import-linter cannot say: controllers build no SQL (they call services)."""

from __future__ import annotations

import ast
from pathlib import Path

SERVER = Path(__file__).resolve().parents[2] / "server"
SQL_BUILDERS = {"select", "insert", "update", "delete", "text", "union", "func"}


def test_controllers_build_and_run_no_sql() -> None:
    offenders = []
    for path in sorted(SERVER.glob("*/controllers.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in {"sqlalchemy", "sqlmodel"}:
                offenders += [f"{path.parent.name}: imports {a.name}" for a in node.names if a.name in SQL_BUILDERS]
            if isinstance(node, ast.Attribute) and node.attr in {"execute", "scalar", "scalars"}:
                offenders.append(f"{path.parent.name}: calls .{node.attr}() at line {node.lineno}")
    assert not offenders, offenders
