"""payments keep their dynamic QRIS

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 09:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("payments", sa.Column("qris_string", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("qris_string")
