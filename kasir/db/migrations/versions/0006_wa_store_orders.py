"""WA Store orders (seed 004): orders sold over WhatsApp, each with its payment

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 11:48:36.965635
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kasir.db.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "store_orders",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("order_number", sa.String(length=20), nullable=False),
        sa.Column("merchant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("mode", sa.String(length=4), nullable=False),
        sa.Column("customer_name", sa.String(length=200), nullable=False),
        sa.Column("customer_phone", sa.String(length=20), nullable=False),
        sa.Column("items", sa.Text(), nullable=False),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("payment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", kasir.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", kasir.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("paid_at", kasir.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("processing_at", kasir.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("completed_at", kasir.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", kasir.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("mode IN ('test', 'live')", name=op.f("ck_store_orders_mode")),
        sa.CheckConstraint(
            "status IN ('pending', 'waiting_payment', 'paid', 'processing', 'completed', 'cancelled')",
            name=op.f("ck_store_orders_status"),
        ),
        sa.CheckConstraint("total > 0", name=op.f("ck_store_orders_total")),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_store_orders_merchant_id_merchants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_store_orders_payment_id_payments"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_store_orders")),
        sa.UniqueConstraint("order_number", name=op.f("uq_store_orders_order_number")),
        sa.UniqueConstraint("payment_id", name=op.f("uq_store_orders_payment_id")),
    )
    with op.batch_alter_table("store_orders", schema=None) as batch_op:
        batch_op.create_index("ix_store_orders_merchant_created", ["merchant_id", "mode", "created_at"], unique=False)
        batch_op.create_index("ix_store_orders_merchant_status", ["merchant_id", "mode", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("store_orders", schema=None) as batch_op:
        batch_op.drop_index("ix_store_orders_merchant_status")
        batch_op.drop_index("ix_store_orders_merchant_created")

    op.drop_table("store_orders")
