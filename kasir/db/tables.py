"""The schema, as SQLAlchemy Core tables. Alembic migrations must produce exactly this
(tests/integration/db/test_migrations.py checks it on SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from kasir.db.types import UTCDateTime

# Stable constraint names, so migrations can refer to them on both backends.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only gives AUTOINCREMENT-like rowids to a plain INTEGER PRIMARY KEY.
Id = BigInteger().with_variant(Integer(), "sqlite")

merchants = Table(
    "merchants",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("username", String(32), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("email", String(254), nullable=True),
    Column("is_verified", Boolean, nullable=False, server_default=text("true")),
    # The operator's switch for the merchant-owned channels (seed 004's "langganan aktif").
    Column("subscription_active", Boolean, nullable=False, server_default=text("false")),
    # Merchant-owned receiving channels; a method is available only when its channel is set.
    Column("qris_bri", Text, nullable=True),
    Column("qris_gopay", Text, nullable=True),
    Column("ovo_number", String(20), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
)

# One active key per merchant and mode. Keys are random 32-byte tokens, so a plain SHA-256 is
# the right hash: it is not guessable, and lookup by hash needs no per-row salt.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("merchant_id", Id, ForeignKey("merchants.id", ondelete="CASCADE"), nullable=False),
    Column("mode", String(4), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("key_prefix", String(20), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
    CheckConstraint("mode IN ('test', 'live')", name="mode"),
)
Index(
    "ix_api_keys_active",
    api_keys.c.merchant_id,
    api_keys.c.mode,
    unique=True,
    sqlite_where=api_keys.c.revoked_at.is_(None),
    postgresql_where=api_keys.c.revoked_at.is_(None),
)

# Per merchant and mode: the webhook secret (kept in clear: HMAC signing needs it), the default
# callback URL and the dialect, as seed 004's "Pengaturan → Webhook".
webhook_settings = Table(
    "webhook_settings",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("merchant_id", Id, ForeignKey("merchants.id", ondelete="CASCADE"), nullable=False),
    Column("mode", String(4), nullable=False),
    Column("secret", String(100), nullable=False),
    Column("default_callback_url", Text, nullable=True),
    Column("dialect", String(20), nullable=False, server_default="bayargg"),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("merchant_id", "mode"),
    CheckConstraint("mode IN ('test', 'live')", name="mode"),
)

payments = Table(
    "payments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("invoice_id", String(80), nullable=False, unique=True),
    Column("merchant_id", Id, ForeignKey("merchants.id", ondelete="CASCADE"), nullable=False),
    Column("mode", String(4), nullable=False),
    Column("payment_method", String(20), nullable=False),
    # The account the money lands in: the operator's QRIS is shared by every merchant, the other
    # methods land in the merchant's own account. Unique codes are unique per account, because a
    # credit on an account is all matching can see.
    Column("channel_account", String(60), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("unique_code", Integer, nullable=False),
    Column("final_amount", BigInteger, nullable=False),
    Column("status", String(10), nullable=False),
    Column("description", Text, nullable=True),
    Column("customer_name", String(200), nullable=True),
    Column("customer_email", String(254), nullable=True),
    Column("customer_phone", String(40), nullable=True),
    Column("callback_url", Text, nullable=True),
    Column("redirect_url", Text, nullable=True),
    Column("file_id", BigInteger, nullable=True),
    Column("content_id", BigInteger, nullable=True),
    Column("product_image_id", BigInteger, nullable=True),
    Column("use_qris_converter", Boolean, nullable=False, server_default=text("false")),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("paid_at", UTCDateTime, nullable=True),
    Column("paid_amount", BigInteger, nullable=True),
    Column("paid_reff_num", String(100), nullable=True),
    Column("closed_at", UTCDateTime, nullable=True),
    CheckConstraint("mode IN ('test', 'live')", name="mode"),
    CheckConstraint("status IN ('pending', 'paid', 'expired', 'cancelled')", name="status"),
    CheckConstraint("unique_code BETWEEN 0 AND 999", name="unique_code"),
    CheckConstraint("amount > 0 AND final_amount = amount + unique_code", name="amounts"),
)
# The unique-code guarantee lives in the database: no two pending payments on one account share a
# final amount, whatever the concurrency. Rows leave the index when they leave `pending`, which
# is how an expired or cancelled payment frees its code.
Index(
    "ix_payments_pending_amount",
    payments.c.mode,
    payments.c.channel_account,
    payments.c.final_amount,
    unique=True,
    sqlite_where=payments.c.status == "pending",
    postgresql_where=payments.c.status == "pending",
)
Index("ix_payments_merchant_created", payments.c.merchant_id, payments.c.mode, payments.c.created_at)
Index("ix_payments_status_expires", payments.c.status, payments.c.expires_at)

# The transactional outbox: every state change writes its event row in the same transaction.
events = Table(
    "events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event_id", String(40), nullable=False, unique=True),
    Column("merchant_id", Id, ForeignKey("merchants.id", ondelete="CASCADE"), nullable=False),
    Column("mode", String(4), nullable=False),
    Column("type", String(40), nullable=False),
    Column("payment_id", Id, ForeignKey("payments.id", ondelete="CASCADE"), nullable=True),
    Column("payload", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint("mode IN ('test', 'live')", name="mode"),
)
Index("ix_events_merchant_created", events.c.merchant_id, events.c.mode, events.c.created_at)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("merchant_id", Id, ForeignKey("merchants.id", ondelete="CASCADE"), nullable=False),
    Column("mode", String(4), nullable=False),
    Column("key", String(255), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("merchant_id", "mode", "key"),
)
Index("ix_idempotency_keys_created", idempotency_keys.c.created_at)
