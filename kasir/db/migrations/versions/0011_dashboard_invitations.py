"""Invitations to a merchant's dashboard team (one-time set-password links)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 15:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kasir.db.types

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dashboard_invitations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("merchant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("invited_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("inviter_email", sa.String(length=254), nullable=False),
        sa.Column("created_at", kasir.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", kasir.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", kasir.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", kasir.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.CheckConstraint("role IN ('owner', 'developer', 'cashier')", name=op.f("ck_dashboard_invitations_role")),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_dashboard_invitations_merchant_id_merchants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["invited_by"],
            ["dashboard_users.id"],
            name=op.f("fk_dashboard_invitations_invited_by_dashboard_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["dashboard_users.id"],
            name=op.f("fk_dashboard_invitations_user_id_dashboard_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_dashboard_invitations_token_hash")),
    )
    with op.batch_alter_table("dashboard_invitations", schema=None) as batch_op:
        batch_op.create_index("ix_dashboard_invitations_merchant", ["merchant_id", "email"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dashboard_invitations", schema=None) as batch_op:
        batch_op.drop_index("ix_dashboard_invitations_merchant")

    op.drop_table("dashboard_invitations")
