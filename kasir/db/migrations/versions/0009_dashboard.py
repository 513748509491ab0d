"""The merchant dashboard: its users, their sessions, and the audit log of what people did by hand

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 11:57:19.215438
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kasir.db.types

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dashboard_users",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("merchant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("must_change_password", sa.Boolean(), nullable=False),
        sa.Column("created_at", kasir.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("password_changed_at", kasir.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_sign_in_at", kasir.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('owner', 'developer', 'cashier')", name=op.f("ck_dashboard_users_role")),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_dashboard_users_merchant_id_merchants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_users")),
        sa.UniqueConstraint("email", name=op.f("uq_dashboard_users_email")),
    )
    with op.batch_alter_table("dashboard_users", schema=None) as batch_op:
        batch_op.create_index("ix_dashboard_users_merchant", ["merchant_id"], unique=False)

    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("merchant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("mode", sa.String(length=4), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("actor", sa.String(length=254), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.Column("payment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("details", sa.Text(), nullable=True),
        sa.Column("created_at", kasir.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("mode IN ('test', 'live')", name=op.f("ck_audit_log_mode")),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_audit_log_merchant_id_merchants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_audit_log_payment_id_payments"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["dashboard_users.id"], name=op.f("fk_audit_log_user_id_dashboard_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_merchant", ["merchant_id", "mode", "id"], unique=False)
        batch_op.create_index("ix_audit_log_payment", ["payment_id"], unique=False)

    op.create_table(
        "dashboard_sessions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("mode", sa.String(length=4), nullable=False),
        sa.Column("created_at", kasir.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", kasir.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", kasir.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=True),
        sa.CheckConstraint("mode IN ('test', 'live')", name=op.f("ck_dashboard_sessions_mode")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["dashboard_users.id"],
            name=op.f("fk_dashboard_sessions_user_id_dashboard_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dashboard_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_dashboard_sessions_token_hash")),
    )
    with op.batch_alter_table("dashboard_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_dashboard_sessions_user", ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dashboard_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_dashboard_sessions_user")

    op.drop_table("dashboard_sessions")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_payment")
        batch_op.drop_index("ix_audit_log_merchant")

    op.drop_table("audit_log")
    with op.batch_alter_table("dashboard_users", schema=None) as batch_op:
        batch_op.drop_index("ix_dashboard_users_merchant")

    op.drop_table("dashboard_users")
