"""Each table has one owner package, and only the owner runs SQL on it (docs/architecture.md,
"Aggregates and their owners"): a read that needs another aggregate's rows calls a function of
that owner. Checked on the source: every module under kasir/ that takes a table from
kasir.db.tables (``from kasir.db.tables import payments``, ``from kasir.db import tables`` then
``tables.payments``, ``import kasir.db.tables``) must be in the table's owner package.

SQL written as text is held to the same rule by ``test_no_sql_text_outside_the_schema``: only
kasir.db writes statements as text (the engine's pragmas and savepoints)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from kasir.db.tables import metadata

KASIR = Path(__file__).resolve().parents[2] / "kasir"

# table -> the package (or module) whose modules alone may use it.
OWNERS = {
    "payments": "kasir.payments",
    "mutations": "kasir.payments",
    "mutation_forwarders": "kasir.payments.forwarders",
    "events": "kasir.delivery",
    "deliveries": "kasir.delivery",
    "delivery_attempts": "kasir.delivery",
    "endpoints": "kasir.delivery",
    "webhook_settings": "kasir.delivery",
    "merchants": "kasir.merchants",
    "api_keys": "kasir.merchants",
    "digital_files": "kasir.goods",
    "hidden_contents": "kasir.goods",
    "product_images": "kasir.goods",
    "download_grants": "kasir.goods",
    # Not in the list: the keys of signed download links, used by kasir.goods alone.
    "instance_secrets": "kasir.goods",
    "store_orders": "kasir.store",
    "payment_sources": "kasir.sources",
    "source_notifications": "kasir.sources",
    "payment_links": "kasir.links",
    "owner_alerts": "kasir.alerts",
    "alert_cooldowns": "kasir.alerts",
    "alert_recipients": "kasir.alerts",
    "dashboard_users": "kasir.team",
    "dashboard_sessions": "kasir.team",
    "dashboard_invitations": "kasir.team",
    "audit_log": "kasir.team",
    # The kasir.api.idempotency, moved to kasir/idempotency.py (below api and dashboard).
    "idempotency_keys": "kasir.idempotency",
}
# These never run SQL, though the check above would already refuse any table they took.
NEVER = ("kasir.dashboard", "kasir.web", "kasir.api.routes", "kasir.cli")
# The schema itself (tables, migrations, the statements compiled from it) is no aggregate's.
SCHEMA = "kasir.db"


def module_name(path: Path) -> str:
    parts = path.relative_to(KASIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def tables_used(tree: ast.AST) -> Iterator[str]:
    """Every name a module takes from kasir.db.tables, however it imports it."""
    module_aliases: set[str] = set()  # names bound to the kasir.db.tables module
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "kasir.db.tables":
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module == "kasir.db":
            module_aliases |= {alias.asname or alias.name for alias in node.names if alias.name == "tables"}
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "kasir.db.tables":
                    module_aliases.add(alias.asname or "kasir.db.tables")
    if not module_aliases:
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and ast.unparse(node.value) in module_aliases:
            yield node.attr


def owns(owner: str, module: str) -> bool:
    inside = module == owner or module.startswith(owner + ".")
    return inside and not any(module == never or module.startswith(never + ".") for never in NEVER)


def uses() -> Iterator[tuple[str, str]]:
    for path in sorted(KASIR.rglob("*.py")):
        module = module_name(path)
        if module == SCHEMA or module.startswith(SCHEMA + "."):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for table in sorted(set(tables_used(tree))):
            if table in metadata.tables:
                yield module, table


def test_every_table_has_an_owner() -> None:
    assert sorted(set(metadata.tables) - set(OWNERS)) == []
    assert sorted(set(OWNERS) - set(metadata.tables)) == []


def test_only_the_owner_of_a_table_uses_it() -> None:
    offending = sorted({(module, table) for module, table in uses() if not owns(OWNERS[table], module)})
    assert offending == [], "\n".join(
        f"{module} uses {table}, which is {OWNERS[table]}'s: call a function of the owner"
        for module, table in offending
    )


def test_the_check_sees_every_way_of_importing_a_table() -> None:
    source = """
from kasir.db.tables import payments as p, metadata
from kasir.db import tables
import kasir.db.tables as t
import kasir.db.tables

def f():
    from kasir.db.tables import owner_alerts
    return tables.deliveries, t.endpoints, kasir.db.tables.events
"""
    assert sorted(set(tables_used(ast.parse(source))) & set(metadata.tables)) == [
        "deliveries",
        "endpoints",
        "events",
        "owner_alerts",
        "payments",
    ]
    assert owns("kasir.team", "kasir.team.audit")
    assert not owns("kasir.dashboard", "kasir.dashboard.pages.goods")
    assert not owns("kasir.payments.forwarders", "kasir.sources.confirmation")


# Statements that are about no table of Kasir's: the storage layer's pragmas, savepoints and
# vacuum; the outbox's NOTIFY and the worker's LISTEN and PRAGMA data_version, which wake workers;
# and the forwarder's and the receiver SDK's own small SQLite files (stdlib only, not Kasir's schema).
SQL_TEXT_ALLOWED = (
    "kasir.db",
    "kasir.secrets_at_rest",
    "kasir.delivery.outbox",
    "kasir.delivery.worker",
    "kasir.forward",
    "kasir.receive",
)


def sql_text_calls(tree: ast.AST) -> list[int]:
    """Lines that hand SQL to the database as text: SQLAlchemy's ``text(…)``,
    ``exec_driver_sql(…)``, or a driver's ``execute("…")`` with a literal string."""
    sqlalchemy_text = {  # the names SQLAlchemy's text() is bound to in this module
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy")
        for alias in node.names
        if alias.name == "text"
    }
    lines = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        literal = bool(node.args) and isinstance(node.args[0], ast.Constant | ast.JoinedStr)
        is_text = (isinstance(func, ast.Name) and name in sqlalchemy_text) or (
            isinstance(func, ast.Attribute) and name == "text" and getattr(func.value, "id", "") in ("sa", "sqlalchemy")
        )
        if is_text or name == "exec_driver_sql" or (name in ("execute", "executemany") and literal):
            lines.add(node.lineno)
    return sorted(lines)


def test_no_sql_text_outside_the_schema() -> None:
    found = []
    for path in sorted(KASIR.rglob("*.py")):
        module = module_name(path)
        if "migrations" in path.parts or any(module == a or module.startswith(a + ".") for a in SQL_TEXT_ALLOWED):
            continue
        found += [f"{module}:{line}" for line in sql_text_calls(ast.parse(path.read_text(encoding="utf-8")))]
    assert found == [], "SQL as text outside kasir.db: write it as a Core statement of the owner"


def test_the_text_check_sees_each_way_of_writing_sql_as_text() -> None:
    source = """
from sqlalchemy import text
conn.execute(text("SELECT 1"))
conn.exec_driver_sql("PRAGMA x")
cursor.execute("DELETE FROM payments")
cursor.execute(f"SELECT {x}")
conn.execute(sa.text("SELECT 2"))
conn.execute(select(payments))
words.text("not SQL")
"""
    assert sql_text_calls(ast.parse(source)) == [3, 4, 5, 6, 7]
