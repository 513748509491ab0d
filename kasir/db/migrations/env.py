"""Alembic environment: always run with the engine Kasir built (see kasir.db.migrate)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from kasir.db.tables import metadata

engine = context.config.attributes["engine"]
assert isinstance(engine, Engine)

# On SQLite, migrations take the write lock with a plain transaction; our engine's BEGIN
# IMMEDIATE hook does that already.
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
