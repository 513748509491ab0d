"""Secrets at rest: room for the encrypted form of the signing secrets

The secrets Kasir signs with are stored encrypted from now on (kasir.secrets_at_rest); their
stored form is longer than the secrets themselves (188 characters for a 100-character secret).
PostgreSQL enforces VARCHAR lengths, so the columns are widened there; widening a VARCHAR is a
change to the catalog only, no table rewrite. SQLite ignores declared lengths, and changing one
would mean rebuilding the tables, which under foreign keys deletes what references them
(deliveries of endpoints): the declarations stay.

Encrypting the secrets already stored needs the key, which a migration does not have: `kasir
migrate` (every `kasir` command, in fact) does it right after, in one transaction.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

COLUMNS = (
    ("webhook_settings", "secret", False),
    ("webhook_settings", "previous_secret", True),
    ("endpoints", "secret", False),
    ("endpoints", "previous_secret", True),
    ("mutation_forwarders", "secret", False),
    ("instance_secrets", "secret", False),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, nullable in COLUMNS:
        op.alter_column(table, column, type_=sa.String(255), existing_type=sa.String(100), existing_nullable=nullable)


def downgrade() -> None:
    # Fails while encrypted values are stored (they do not fit): an older Kasir could not read
    # them anyway.
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, nullable in COLUMNS:
        op.alter_column(table, column, type_=sa.String(100), existing_type=sa.String(255), existing_nullable=nullable)
