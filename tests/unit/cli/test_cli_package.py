"""The shape of kasir.cli (docs/architecture.md, "CLI"): commands parse, call the owning
package's functions and print. No SQL is written there, and failures are turned into exit codes
in one place, kasir.cli.context."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import TypeGuard

import kasir.cli

PACKAGE = Path(kasir.cli.__file__).parent
MODULES = sorted(PACKAGE.glob("*.py"))
# What may come from SQLAlchemy: a type for annotations, and the URL printer (passwords hidden).
ALLOWED_FROM_SQLALCHEMY = {"Connection", "make_url"}


def _trees() -> list[tuple[str, ast.Module]]:
    return [(path.name, ast.parse(path.read_text(), str(path))) for path in MODULES]


def test_the_package_is_there() -> None:
    names = {path.name for path in MODULES}
    assert {"__init__.py", "__main__.py", "context.py", "root.py", "server.py"} <= names
    assert not (PACKAGE.parent / "cli.py").exists()


def test_the_cli_runs_no_sql() -> None:
    found = []
    for name, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [f"{name}: import {a.name}" for a in node.names if a.name.split(".")[0] == "sqlalchemy"]
                found += [f"{name}: import {a.name}" for a in node.names if a.name == "kasir.db.tables"]
            elif isinstance(node, ast.ImportFrom) and node.module:
                if node.module == "kasir.db.tables" or (node.module == "kasir.db" and "tables" in _names(node)):
                    found.append(f"{name}: from {node.module} import ...")
                if node.module.split(".")[0] == "sqlalchemy":
                    found += [f"{name}: from {node.module} import {n}" for n in _names(node) - ALLOWED_FROM_SQLALCHEMY]
            elif isinstance(node, ast.Attribute) and node.attr in ("execute", "exec_driver_sql"):
                found.append(f"{name}:{node.lineno}: .{node.attr}")
    assert found == []


def _names(node: ast.ImportFrom) -> set[str]:
    return {alias.name for alias in node.names}


def test_failures_become_exit_codes_in_the_context_alone() -> None:
    """`except KasirError` (or a missing or wrong key) is written once, in kasir.cli.context."""
    caught = []
    for name, tree in _trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.ExceptHandler) and node.type is not None:
                kinds = {n.id if isinstance(n, ast.Name) else n.attr for n in ast.walk(node.type) if _named(n)}
                if kinds & {"KasirError", "SecretKeyError", "ValidationError"}:
                    caught.append(f"{name}:{node.lineno}")
    assert [where for where in caught if not where.startswith("context.py:")] == []


def _named(node: ast.AST) -> TypeGuard[ast.Name | ast.Attribute]:
    return isinstance(node, ast.Name | ast.Attribute)


def test_every_command_module_is_registered() -> None:
    """A module of kasir/cli/ the package did not import would be commands nobody can run."""
    import sys

    for path in MODULES:
        if path.stem not in ("__init__", "__main__"):
            assert f"kasir.cli.{path.stem}" in sys.modules, path.name
