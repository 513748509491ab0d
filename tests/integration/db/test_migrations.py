"""Upgrading an empty database gives exactly the schema the models describe, on both backends."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from kasir.db.engine import Database
from kasir.db.migrate import upgrade
from kasir.db.tables import metadata


def test_upgrade_from_empty_matches_the_models(db: Database) -> None:
    # `db` was migrated from empty by the fixtures; compare it with the models.
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    assert diff == []


def test_upgrade_is_idempotent(db: Database) -> None:
    upgrade(db.engine)
    upgrade(db.engine)
    with db.engine.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
    assert {t.name for t in metadata.sorted_tables} <= tables


def test_pending_unique_index_is_partial(db: Database) -> None:
    """The unique-code index must only cover pending rows, or expired payments would hold codes."""
    with db.engine.connect() as conn:
        indexes = {ix["name"]: ix for ix in sa.inspect(conn).get_indexes("payments")}
    index = indexes["ix_payments_pending_amount"]
    assert index["unique"]
    where = index.get("dialect_options", {}).get(f"{db.engine.dialect.name}_where")
    assert where is not None
    assert "pending" in str(where)
