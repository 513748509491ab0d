"""Alerts to the owner: what broke, once per cause per hour

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 15:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import kasir.db.types

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "alert_recipients",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("merchant_id", _ID, nullable=False),
        sa.Column("whatsapp", sa.String(length=20), nullable=True),
        sa.Column("emails", sa.Text(), nullable=True),
        sa.Column("updated_at", kasir.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_alert_recipients_merchant_id_merchants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_recipients")),
        sa.UniqueConstraint("merchant_id", name=op.f("uq_alert_recipients_merchant_id")),
    )
    op.create_table(
        "owner_alerts",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("public_id", sa.String(length=40), nullable=False),
        sa.Column("merchant_id", _ID, nullable=False),
        sa.Column("mode", sa.String(length=4), nullable=False),
        sa.Column("cause", sa.String(length=20), nullable=False),
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("page", sa.String(length=300), nullable=False),
        sa.Column("event_id", _ID, nullable=False),
        sa.Column("created_at", kasir.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("mode IN ('test', 'live')", name=op.f("ck_owner_alerts_mode")),
        sa.CheckConstraint(
            "cause IN ('endpoint_disabled', 'source_silent', 'callbacks_failing', 'link_exhausted')",
            name=op.f("ck_owner_alerts_cause"),
        ),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_owner_alerts_event_id_events"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_owner_alerts_merchant_id_merchants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_owner_alerts")),
        sa.UniqueConstraint("public_id", name=op.f("uq_owner_alerts_public_id")),
    )
    with op.batch_alter_table("owner_alerts", schema=None) as batch_op:
        batch_op.create_index("ix_owner_alerts_merchant", ["merchant_id", "mode", "id"], unique=False)
        batch_op.create_index("ix_owner_alerts_subject", ["merchant_id", "cause", "subject"], unique=False)
    op.create_table(
        "alert_cooldowns",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("merchant_id", _ID, nullable=False),
        sa.Column("mode", sa.String(length=4), nullable=False),
        sa.Column("cause", sa.String(length=20), nullable=False),
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.Column("last_raised_at", kasir.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("mode IN ('test', 'live')", name=op.f("ck_alert_cooldowns_mode")),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_alert_cooldowns_merchant_id_merchants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_cooldowns")),
        sa.UniqueConstraint(
            "merchant_id", "mode", "cause", "subject", name=op.f("uq_alert_cooldowns_merchant_id_mode_cause_subject")
        ),
    )


def downgrade() -> None:
    op.drop_table("alert_cooldowns")
    with op.batch_alter_table("owner_alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_owner_alerts_subject")
        batch_op.drop_index("ix_owner_alerts_merchant")
    op.drop_table("owner_alerts")
    op.drop_table("alert_recipients")
