"""Payment links, and the payments made through one

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 15:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kasir.db.types

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "payment_links",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("public_id", sa.String(length=40), nullable=False),
        sa.Column("slug", sa.String(length=40), nullable=False),
        sa.Column("merchant_id", _ID, nullable=False),
        sa.Column("mode", sa.String(length=4), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("amount_min", sa.BigInteger(), nullable=True),
        sa.Column("amount_max", sa.BigInteger(), nullable=True),
        sa.Column("reusable", sa.Boolean(), nullable=False),
        sa.Column("max_paid_uses", sa.Integer(), nullable=True),
        sa.Column("expires_at", kasir.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("redirect_url", sa.Text(), nullable=True),
        sa.Column("payment_method", sa.String(length=20), nullable=False),
        sa.Column("file_id", sa.BigInteger(), nullable=True),
        sa.Column("content_id", sa.BigInteger(), nullable=True),
        sa.Column("product_image_id", sa.BigInteger(), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("created_at", kasir.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", kasir.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deactivated_at", kasir.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("mode IN ('test', 'live')", name=op.f("ck_payment_links_mode")),
        sa.CheckConstraint(
            "(amount IS NOT NULL AND amount > 0 AND amount_min IS NULL AND amount_max IS NULL)"
            " OR (amount IS NULL AND amount_min > 0 AND amount_max >= amount_min)",
            name=op.f("ck_payment_links_price"),
        ),
        sa.CheckConstraint("max_paid_uses IS NULL OR max_paid_uses >= 1", name=op.f("ck_payment_links_max_paid_uses")),
        sa.CheckConstraint("reusable OR max_paid_uses = 1", name=op.f("ck_payment_links_single_use")),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_payment_links_merchant_id_merchants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_links")),
        sa.UniqueConstraint("public_id", name=op.f("uq_payment_links_public_id")),
        sa.UniqueConstraint("slug", name=op.f("uq_payment_links_slug")),
    )
    with op.batch_alter_table("payment_links", schema=None) as batch_op:
        batch_op.create_index("ix_payment_links_merchant", ["merchant_id", "mode", "id"], unique=False)

    # Appended in place on both backends (no foreign key: see tables.py), so SQLite does not
    # copy the payments table.
    op.add_column("payments", sa.Column("link_id", sa.String(length=40), nullable=True))
    op.create_index(
        "ix_payments_link",
        "payments",
        ["link_id", "status"],
        unique=False,
        sqlite_where=sa.text("link_id IS NOT NULL"),
        postgresql_where=sa.text("link_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_payments_link", table_name="payments")
    with op.batch_alter_table("payments") as batch:
        batch.drop_column("link_id")
    with op.batch_alter_table("payment_links", schema=None) as batch_op:
        batch_op.drop_index("ix_payment_links_merchant")
    op.drop_table("payment_links")
