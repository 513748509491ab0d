"""Upgrading an empty database gives exactly the schema the models describe, on both backends."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest
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


@pytest.mark.postgres
def test_nodes_starting_together_migrate_an_empty_postgresql_once(postgres_url: str) -> None:
    """Every node migrates at start; three at once on an empty database must all succeed (the
    second and third wait for the first, then find nothing to do), as real processes."""
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    name = f"kasir_migrate_race_{secrets.token_hex(3)}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
    try:
        env = {**os.environ, "KASIR_DATABASE_URL": url}
        nodes = [
            subprocess.Popen(
                [sys.executable, "-m", "kasir.cli", "migrate"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for _ in range(3)
        ]
        outputs = [node.communicate(timeout=120)[0].decode() for node in nodes]
        assert [node.returncode for node in nodes] == [0, 0, 0], outputs
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
        engine.dispose()
        assert diff == []
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
