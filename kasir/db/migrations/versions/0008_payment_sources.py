"""Payment sources: the merchant's phones, and every notification they reported

A source's token is kept twice: hashed (the bearer check) and encrypted (the HMAC key that
checks signatures); see kasir/db/tables.py.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 11:28:56.072183
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kasir.db.types
import kasir.secrets_at_rest

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payment_sources",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("public_id", sa.String(length=40), nullable=False),
        sa.Column("merchant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("mode", sa.String(length=4), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("apps", sa.Text(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("signing_key", kasir.secrets_at_rest.SecretColumn("payment_sources.signing_key"), nullable=False),
        sa.Column("watched", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=6), nullable=False),
        sa.Column("last_seen_at", kasir.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("silent_since", kasir.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("forwarder", sa.String(length=100), nullable=True),
        sa.Column("queued", sa.Integer(), nullable=True),
        sa.Column("created_at", kasir.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", kasir.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("token_rotated_at", kasir.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("mode IN ('test', 'live')", name=op.f("ck_payment_sources_mode")),
        sa.CheckConstraint("state IN ('new', 'live', 'silent')", name=op.f("ck_payment_sources_state")),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_payment_sources_merchant_id_merchants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_sources")),
        sa.UniqueConstraint("public_id", name=op.f("uq_payment_sources_public_id")),
    )
    with op.batch_alter_table("payment_sources", schema=None) as batch_op:
        batch_op.create_index("ix_payment_sources_merchant", ["merchant_id", "mode"], unique=False)
        batch_op.create_index("ix_payment_sources_state_seen", ["state", "watched", "last_seen_at"], unique=False)

    op.create_table(
        "source_notifications",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("public_id", sa.String(length=40), nullable=False),
        sa.Column("source_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("merchant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("mode", sa.String(length=4), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=100), nullable=True),
        sa.Column("package", sa.String(length=200), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("big_text", sa.Text(), nullable=True),
        sa.Column("posted_at", kasir.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", kasir.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=True),
        sa.Column("parser", sa.String(length=40), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("mutation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("reparsed_at", kasir.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("mode IN ('test', 'live')", name=op.f("ck_source_notifications_mode")),
        sa.CheckConstraint(
            "outcome IN ('credited', 'ignored', 'unparsed', 'invalid')", name=op.f("ck_source_notifications_outcome")
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_source_notifications_merchant_id_merchants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["mutation_id"],
            ["mutations.id"],
            name=op.f("fk_source_notifications_mutation_id_mutations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["payment_sources.id"],
            name=op.f("fk_source_notifications_source_id_payment_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source_notifications")),
        sa.UniqueConstraint("public_id", name=op.f("uq_source_notifications_public_id")),
        sa.UniqueConstraint("source_id", "fingerprint", name="uq_source_notifications_fingerprint"),
    )
    with op.batch_alter_table("source_notifications", schema=None) as batch_op:
        batch_op.create_index("ix_source_notifications_source_outcome", ["source_id", "outcome", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("source_notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_source_notifications_source_outcome")

    op.drop_table("source_notifications")
    with op.batch_alter_table("payment_sources", schema=None) as batch_op:
        batch_op.drop_index("ix_payment_sources_state_seen")
        batch_op.drop_index("ix_payment_sources_merchant")

    op.drop_table("payment_sources")
