"""Alembic environment: always run with the engine Kasir built (see kasir.db.migrate)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from kasir.db.tables import metadata

engine = context.config.attributes["engine"]
assert isinstance(engine, Engine)

# On SQLite, migrations take the write lock with a plain transaction; our engine's BEGIN
# IMMEDIATE hook does that already.
# Any fixed key: two lock holders are two Kasir nodes migrating the same database.
MIGRATION_LOCK = 0x4B415349  # "KASI"

with engine.connect() as connection:
    if connection.dialect.name == "postgresql":
        # Several nodes start together and each migrates first: without this, both would read
        # the old version and one would fail creating what the other just created. The lock is
        # held until the migration commits; the second node then finds nothing left to do.
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
