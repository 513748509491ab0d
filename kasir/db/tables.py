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
from kasir.secrets_at_rest import SecretColumn

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

# Per merchant and mode: the webhook secret (encrypted, kasir.secrets_at_rest: HMAC signing needs
# it back), the default callback URL and the dialect, as seed 004's "Pengaturan → Webhook".
webhook_settings = Table(
    "webhook_settings",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("merchant_id", Id, ForeignKey("merchants.id", ondelete="CASCADE"), nullable=False),
    Column("mode", String(4), nullable=False),
    Column("secret", SecretColumn("webhook_settings.secret"), nullable=False),
    Column("default_callback_url", Text, nullable=True),
    Column("dialect", String(20), nullable=False, server_default="bayargg"),
    # Which events go to the callback URL: bayar.gg calls back on payment.paid only.
    Column("event_types", Text, nullable=False, server_default='["payment.paid"]'),
    # During a rotation the old secret stays valid for a grace period; dialects that carry
    # several signatures sign with both until it ends.
    Column("previous_secret", SecretColumn("webhook_settings.previous_secret"), nullable=True),
    Column("previous_secret_expires_at", UTCDateTime, nullable=True),
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
    # The payment's dynamic QRIS (its final amount embedded), kept as issued: the merchant may
    # change the static QRIS it came from while the payment is still pending. NULL for OVO.
    Column("qris_string", Text, nullable=True),
    # The payment link (docs/links.md) a buyer made this payment through: its public id, so that
    # every view and event of the payment names it without a join. No foreign key: on SQLite one
    # could only be added by copying the whole table (Alembic's batch mode); links are never
    # deleted, and only kasir.links writes this, from the link's locked row.
    Column("link_id", String(40), nullable=True),
    CheckConstraint("mode IN ('test', 'live')", name="mode"),
    CheckConstraint("status IN ('pending', 'paid', 'expired', 'cancelled')", name="status"),
    CheckConstraint("unique_code BETWEEN 0 AND 999", name="unique_code"),
    CheckConstraint("amount > 0 AND final_amount = amount + unique_code", name="amounts"),
)
# The unique-code guarantee lives in the database: no two pending payments on one account share a
# final amount, whatever the concurrency. Rows leave the index when they leave `pending`, which
# is how an expired or cancelled payment frees its code. The final amount leads: matching looks up
# a batch of amounts at once (``final_amount = ANY(...)``), and with the account first PostgreSQL
# walked every pending entry of the account, dead ones included, to filter them (migration 0003).
Index(
    "ix_payments_pending_amount",
    payments.c.final_amount,
    payments.c.channel_account,
    payments.c.mode,
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

# Webhook endpoints a merchant registers, each in the dialect its server already speaks.
endpoints = Table(
    "endpoints",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("public_id", String(40), nullable=False, unique=True),
    Column("merchant_id", Id, ForeignKey("merchants.id", ondelete="CASCADE"), nullable=False),
    Column("mode", String(4), nullable=False),
    Column("url", Text, nullable=False),
    Column("dialect", String(20), nullable=False),
    Column("description", Text, nullable=True),
    Column("secret", SecretColumn("endpoints.secret"), nullable=False),
    Column("previous_secret", SecretColumn("endpoints.previous_secret"), nullable=True),
    Column("previous_secret_expires_at", UTCDateTime, nullable=True),
    Column("event_types", Text, nullable=True),  # JSON list; NULL means every event
    Column("rate_limit", Integer, nullable=True),  # deliveries per second; NULL means unlimited
    Column("fifo", Boolean, nullable=False, server_default=text("false")),
    Column("headers", Text, nullable=True),  # JSON object of custom request headers
    Column("enabled", Boolean, nullable=False, server_default=text("true")),
    Column("disabled_reason", Text, nullable=True),
    Column("disabled_at", UTCDateTime, nullable=True),
    Column("failing_since", UTCDateTime, nullable=True),  # first failure since the last success
    Column("last_success_at", UTCDateTime, nullable=True),
    Column("expires_at", UTCDateTime, nullable=True),  # temporary endpoints (kasir listen)
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint("mode IN ('test', 'live')", name="mode"),
)
Index("ix_endpoints_merchant", endpoints.c.merchant_id, endpoints.c.mode)

# One row per event and target: the delivery's state. Svix's split: this row changes, the
# attempts below are only ever appended.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("public_id", String(40), nullable=False, unique=True),
    Column("event_id", Id, ForeignKey("events.id", ondelete="CASCADE"), nullable=False),
    Column("merchant_id", Id, ForeignKey("merchants.id", ondelete="CASCADE"), nullable=False),
    Column("mode", String(4), nullable=False),
    Column("endpoint_id", Id, ForeignKey("endpoints.id", ondelete="CASCADE"), nullable=True),
    Column("url", Text, nullable=False),
    Column("dialect", String(20), nullable=False),
    Column("status", String(10), nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", UTCDateTime, nullable=True),
    # A worker's lease: past it, a crashed worker's claim is free to take again.
    Column("claimed_until", UTCDateTime, nullable=True),
    Column("last_attempt_at", UTCDateTime, nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("completed_at", UTCDateTime, nullable=True),
    CheckConstraint("status IN ('pending', 'succeeded', 'failed')", name="status"),
)
Index(
    "ix_deliveries_due",
    deliveries.c.next_attempt_at,
    sqlite_where=deliveries.c.status == "pending",
    postgresql_where=deliveries.c.status == "pending",
)
Index("ix_deliveries_endpoint_status", deliveries.c.endpoint_id, deliveries.c.status, deliveries.c.id)
Index("ix_deliveries_merchant_created", deliveries.c.merchant_id, deliveries.c.mode, deliveries.c.created_at)
Index("ix_deliveries_event", deliveries.c.event_id)

# The callback log: every try, appended, never changed.
delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("delivery_id", Id, ForeignKey("deliveries.id", ondelete="CASCADE"), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("url", Text, nullable=False),
    Column("request_headers", Text, nullable=False),  # JSON, secrets masked
    Column("status_code", Integer, nullable=True),
    Column("response_body", Text, nullable=True),  # the first 4 KiB
    Column("duration_ms", Integer, nullable=False),
    Column("error", Text, nullable=True),
    Column("outcome", String(10), nullable=False),  # succeeded | retrying | failed
)
Index("ix_delivery_attempts_delivery", delivery_attempts.c.delivery_id, delivery_attempts.c.attempt)
Index("ix_delivery_attempts_started", delivery_attempts.c.started_at)

# Credits on a receiving account, as a mutation source reported them (seed 004's "mutasi"). A
# credit whose final amount matches a pending payment pays it; the others stay here for a
# person to reconcile. Rows are facts about money received and are never deleted.
mutations = Table(
    "mutations",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("public_id", String(40), nullable=False, unique=True),
    Column("mode", String(4), nullable=False),
    Column("channel", String(20), nullable=False),  # the payment method the account serves
    Column("channel_account", String(60), nullable=False),  # as payments.channel_account
    # On the operator's shared QRIS a credit a merchant reports may pay only that merchant's
    # payments; NULL when the account itself says whose it is (the operator's own feed of the
    # shared account, or a merchant-owned account).
    Column("restricted_to", Id, ForeignKey("merchants.id", ondelete="CASCADE"), nullable=True),
    # Whose reconciliation list shows it: the reporter, or for the operator's feed the merchant of
    # the payment it paid (NULL while nobody's).
    Column("merchant_id", Id, ForeignKey("merchants.id", ondelete="CASCADE"), nullable=True),
    Column("reference", String(100), nullable=False),  # the provider's own id of the credit
    Column("amount", BigInteger, nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("description", Text, nullable=True),
    Column("source", String(40), nullable=False),  # api | forwarder | import | sandbox | source:<name>
    Column("status", String(10), nullable=False),
    Column("payment_id", Id, ForeignKey("payments.id", ondelete="CASCADE"), nullable=True),
    # For a late credit: the expired payment it most likely was meant for.
    Column("late_payment_id", Id, ForeignKey("payments.id", ondelete="SET NULL"), nullable=True),
    Column("settled_at", UTCDateTime, nullable=True),
    Column("settled_by", String(10), nullable=True),  # matching | manual
    CheckConstraint("mode IN ('test', 'live')", name="mode"),
    CheckConstraint("status IN ('matched', 'unmatched', 'late')", name="status"),
    CheckConstraint("amount > 0", name="amount"),
    # A payment is paid by at most one credit, whatever the concurrency.
    UniqueConstraint("payment_id"),
    # A repeated reference is the same credit reported again. The reference leads: it is what a
    # lookup of a batch's references narrows by (``reference = ANY(...)``).
    UniqueConstraint("reference", "channel_account", "mode", "restricted_to", name="uq_mutations_reference"),
)
# NULLs are distinct in a unique constraint, so the unrestricted rows need an index of their own.
Index(
    "ix_mutations_reference_unrestricted",
    mutations.c.reference,
    mutations.c.channel_account,
    mutations.c.mode,
    unique=True,
    sqlite_where=mutations.c.restricted_to.is_(None),
    postgresql_where=mutations.c.restricted_to.is_(None),
)
Index("ix_mutations_merchant_status", mutations.c.merchant_id, mutations.c.mode, mutations.c.status, mutations.c.id)

# The signed ingress for mutation forwarders (a phone app relaying bank notifications, a
# statement service): one per merchant and mode. The secret is an HMAC key, so it is kept
# encrypted rather than hashed (kasir.secrets_at_rest).
mutation_forwarders = Table(
    "mutation_forwarders",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("public_id", String(40), nullable=False, unique=True),
    Column("merchant_id", Id, ForeignKey("merchants.id", ondelete="CASCADE"), nullable=False),
    Column("mode", String(4), nullable=False),
    Column("secret", SecretColumn("mutation_forwarders.secret"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("rotated_at", UTCDateTime, nullable=False),
    UniqueConstraint("merchant_id", "mode"),
    CheckConstraint("mode IN ('test', 'live')", name="mode"),
)

# --- digital goods (seed 004): what a payment gives its buyer once it is paid --------------------

# Files are stored on disk under KASIR_MEDIA_DIR by content hash (``storage_key``); the row is
# what the merchant sees. Partitioned by mode like everything a key can touch.
digital_files = Table(
    "digital_files",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("merchant_id", Id, ForeignKey("merchants.id", ondelete="CASCADE"), nullable=False),
    Column("mode", String(4), nullable=False),
    Column("filename", String(255), nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("storage_key", String(100), nullable=False),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", UTCDateTime, nullable=False),
    Column("deactivated_at", UTCDateTime, nullable=True),
    CheckConstraint("mode IN ('test', 'live')", name="mode"),
)
Index("ix_digital_files_merchant", digital_files.c.merchant_id, digital_files.c.mode)

hidden_contents = Table(
    "hidden_contents",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("merchant_id", Id, ForeignKey("merchants.id", ondelete="CASCADE"), nullable=False),
    Column("mode", String(4), nullable=False),
    Column("title", String(200), nullable=False),
    Column("type", String(20), nullable=False),
    Column("body", Text, nullable=False),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", UTCDateTime, nullable=False),
    Column("deactivated_at", UTCDateTime, nullable=True),
    CheckConstraint("mode IN ('test', 'live')", name="mode"),
    CheckConstraint("type IN ('text', 'link', 'license_key')", name="type"),
)
Index("ix_hidden_contents_merchant", hidden_contents.c.merchant_id, hidden_contents.c.mode)

# Product photos are public (the pay page shows them), so they are served by an unguessable
# ``public_id`` rather than by the merchant's sequential id.
product_images = Table(
    "product_images",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("public_id", String(40), nullable=False, unique=True),
    Column("merchant_id", Id, ForeignKey("merchants.id", ondelete="CASCADE"), nullable=False),
    Column("mode", String(4), nullable=False),
    Column("filename", String(255), nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("storage_key", String(100), nullable=False),
    Column("thumbnail_key", String(100), nullable=False),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", UTCDateTime, nullable=False),
    Column("deactivated_at", UTCDateTime, nullable=True),
    CheckConstraint("mode IN ('test', 'live')", name="mode"),
)
Index("ix_product_images_merchant", product_images.c.merchant_id, product_images.c.mode)

# One download grant per paid payment with a file: the link's token is derived from the
# instance key (so the page can show the same link again) and only its hash is stored.
download_grants = Table(
    "download_grants",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("payment_id", Id, ForeignKey("payments.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("file_id", Id, ForeignKey("digital_files.id", ondelete="CASCADE"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("downloads", Integer, nullable=False, server_default=text("0")),
    Column("max_downloads", Integer, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_download_at", UTCDateTime, nullable=True),
)

# Keys this installation generates for itself and shares between its nodes through the
# database (signing download links). Not merchants' secrets, but signing keys: encrypted too.
instance_secrets = Table(
    "instance_secrets",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("secret", SecretColumn("instance_secrets.secret"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# --- WA Store (seed 004): orders taken in a WhatsApp chat, paid through a payment ----------------

# An order owns at most one live payment at a time: ``payment_id`` points at the latest one (a new
# one may be issued when the previous expired). Items are kept as JSON, as the order was placed:
# they never change afterwards, and nothing queries inside them.
store_orders = Table(
    "store_orders",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("order_number", String(20), nullable=False, unique=True),
    Column("merchant_id", Id, ForeignKey("merchants.id", ondelete="CASCADE"), nullable=False),
    Column("mode", String(4), nullable=False),
    Column("customer_name", String(200), nullable=False),
    Column("customer_phone", String(20), nullable=False),  # normalised: 62…, digits only
    Column("items", Text, nullable=False),
    Column("total", BigInteger, nullable=False),
    Column("notes", Text, nullable=True),
    Column("status", String(16), nullable=False),
    Column("payment_id", Id, ForeignKey("payments.id", ondelete="SET NULL"), nullable=True, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("paid_at", UTCDateTime, nullable=True),
    Column("processing_at", UTCDateTime, nullable=True),
    Column("completed_at", UTCDateTime, nullable=True),
    Column("cancelled_at", UTCDateTime, nullable=True),
    CheckConstraint("mode IN ('test', 'live')", name="mode"),
    CheckConstraint(
        "status IN ('pending', 'waiting_payment', 'paid', 'processing', 'completed', 'cancelled')", name="status"
    ),
    CheckConstraint("total > 0", name="total"),
)
Index("ix_store_orders_merchant_created", store_orders.c.merchant_id, store_orders.c.mode, store_orders.c.created_at)
Index("ix_store_orders_merchant_status", store_orders.c.merchant_id, store_orders.c.mode, store_orders.c.status)

# --- payment sources: the merchant's phone reporting the apps' "payment received" notifications --

# A source is one phone (or one forwarding app) of a merchant, in one mode (docs/sources.md).
# ``apps`` maps an app's package to the channel its credits land on, as JSON. The token is shown
# once: its SHA-256 authenticates a bearer, and because an HMAC needs the key itself, the token is
# also kept encrypted (kasir.secrets_at_rest) to check signatures with.
payment_sources = Table(
    "payment_sources",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("public_id", String(40), nullable=False, unique=True),
    Column("merchant_id", Id, ForeignKey("merchants.id", ondelete="CASCADE"), nullable=False),
    Column("mode", String(4), nullable=False),
    Column("name", String(100), nullable=False),
    Column("apps", Text, nullable=False),
    Column("token_hash", String(64), nullable=False),
    Column("signing_key", SecretColumn("payment_sources.signing_key"), nullable=False),
    # Expected to speak on its own (a phone), not only when money moves (Moota): watched for
    # silence. Kept from ``apps`` so the health sweep selects by it.
    Column("watched", Boolean, nullable=False),
    # new: never heard from; live: heard from within KASIR_SOURCE_SILENT_AFTER; silent: not.
    Column("state", String(6), nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=True),
    Column("silent_since", UTCDateTime, nullable=True),
    Column("forwarder", String(100), nullable=True),  # what the last heartbeat said it runs
    Column("queued", Integer, nullable=True),  # notifications waiting on the phone, as it last said
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("token_rotated_at", UTCDateTime, nullable=False),
    CheckConstraint("mode IN ('test', 'live')", name="mode"),
    CheckConstraint("state IN ('new', 'live', 'silent')", name="state"),
)
Index("ix_payment_sources_merchant", payment_sources.c.merchant_id, payment_sources.c.mode)
# The health sweep reads the live sources by age.
Index(
    "ix_payment_sources_state_seen", payment_sources.c.state, payment_sources.c.watched, payment_sources.c.last_seen_at
)

# Every notification a source reported from an app it watches, as it came: what it became (a
# credit, ignored, unparsed, invalid) and why. ``fingerprint`` is the SHA-256 of (package, title,
# text, posted_at): a notification re-sent from a phone's queue is the same row.
source_notifications = Table(
    "source_notifications",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("public_id", String(40), nullable=False, unique=True),
    Column("source_id", Id, ForeignKey("payment_sources.id", ondelete="CASCADE"), nullable=False),
    Column("merchant_id", Id, ForeignKey("merchants.id", ondelete="CASCADE"), nullable=False),
    Column("mode", String(4), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("client_id", String(100), nullable=True),  # the forwarder's own id of it
    Column("package", String(200), nullable=False),
    Column("title", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("big_text", Text, nullable=True),
    Column("posted_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("outcome", String(10), nullable=False),
    Column("code", String(40), nullable=True),  # why it was ignored, unparsed or invalid
    Column("parser", String(40), nullable=True),
    Column("channel", String(20), nullable=True),
    Column("amount", BigInteger, nullable=True),
    Column("mutation_id", Id, ForeignKey("mutations.id", ondelete="SET NULL"), nullable=True),
    Column("reparsed_at", UTCDateTime, nullable=True),
    CheckConstraint("mode IN ('test', 'live')", name="mode"),
    CheckConstraint("outcome IN ('credited', 'ignored', 'unparsed', 'invalid')", name="outcome"),
    UniqueConstraint("source_id", "fingerprint", name="uq_source_notifications_fingerprint"),
)
Index(
    "ix_source_notifications_source_outcome",
    source_notifications.c.source_id,
    source_notifications.c.outcome,
    source_notifications.c.id,
)

# --- the merchant dashboard (docs/dashboard.md) ---------------------------------------------------

# A person who signs in to one merchant's dashboard. The password is an Argon2id hash; a password
# handed out by `kasir user create` must be changed at the first sign-in.
dashboard_users = Table(
    "dashboard_users",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("merchant_id", Id, ForeignKey("merchants.id", ondelete="CASCADE"), nullable=False),
    Column("email", String(254), nullable=False, unique=True),  # lower-cased
    Column("password_hash", String(255), nullable=False),
    Column("role", String(10), nullable=False),
    Column("must_change_password", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("password_changed_at", UTCDateTime, nullable=False),
    Column("last_sign_in_at", UTCDateTime, nullable=True),
    CheckConstraint("role IN ('owner', 'developer', 'cashier')", name="role"),
)
Index("ix_dashboard_users_merchant", dashboard_users.c.merchant_id)

# A signed-in browser. The cookie holds an opaque token; only its SHA-256 is stored, so a copy of
# the database signs nobody in. ``mode`` is the one the dashboard shows (test or live).
dashboard_sessions = Table(
    "dashboard_sessions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("user_id", Id, ForeignKey("dashboard_users.id", ondelete="CASCADE"), nullable=False),
    Column("mode", String(4), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),  # absolute: no session outlives it
    Column("address", String(64), nullable=True),
    CheckConstraint("mode IN ('test', 'live')", name="mode"),
)
Index("ix_dashboard_sessions_user", dashboard_sessions.c.user_id)

# What a person did by hand (assigned a credit, resent a callback, cancelled a payment …): who,
# when, and to what, shown on the payment's page.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("merchant_id", Id, ForeignKey("merchants.id", ondelete="CASCADE"), nullable=False),
    Column("mode", String(4), nullable=False),
    Column("user_id", Id, ForeignKey("dashboard_users.id", ondelete="SET NULL"), nullable=True),
    Column("actor", String(254), nullable=False),  # the user's email as it was, or "api"
    Column("action", String(40), nullable=False),
    Column("subject", String(80), nullable=False),  # the id acted on: an invoice, a mutation, a delivery
    Column("payment_id", Id, ForeignKey("payments.id", ondelete="CASCADE"), nullable=True),
    Column("details", Text, nullable=True),  # JSON
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint("mode IN ('test', 'live')", name="mode"),
)
Index("ix_audit_log_merchant", audit_log.c.merchant_id, audit_log.c.mode, audit_log.c.id)
Index("ix_audit_log_payment", audit_log.c.payment_id)

# --- alerts to the owner (docs/alerts.md) ---------------------------------------------------------

# Where a merchant's alerts go, in both modes. No row, or NULL ``emails``: to the owners' sign-in
# addresses and no WhatsApp. ``emails`` is a JSON list; ``[]`` sends no email at all.
alert_recipients = Table(
    "alert_recipients",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("merchant_id", Id, ForeignKey("merchants.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("whatsapp", String(20), nullable=True),  # normalised, 62…
    Column("emails", Text, nullable=True),
    Column("updated_at", UTCDateTime, nullable=False),
)

# One alert raised: what broke (``cause``, and ``subject``, the id of the thing that broke), the
# dashboard page that shows it, and the event its messages hang on (their deliveries' event).
owner_alerts = Table(
    "owner_alerts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("public_id", String(40), nullable=False, unique=True),
    Column("merchant_id", Id, ForeignKey("merchants.id", ondelete="CASCADE"), nullable=False),
    Column("mode", String(4), nullable=False),
    Column("cause", String(20), nullable=False),
    Column("subject", String(80), nullable=False),
    Column("summary", Text, nullable=False),
    Column("page", String(300), nullable=False),  # a path under /dashboard
    Column("event_id", Id, ForeignKey("events.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint("mode IN ('test', 'live')", name="mode"),
    CheckConstraint(
        "cause IN ('endpoint_disabled', 'source_silent', 'callbacks_failing', 'link_exhausted')", name="cause"
    ),
)
Index("ix_owner_alerts_merchant", owner_alerts.c.merchant_id, owner_alerts.c.mode, owner_alerts.c.id)
Index("ix_owner_alerts_subject", owner_alerts.c.merchant_id, owner_alerts.c.cause, owner_alerts.c.subject)

# When each (merchant, mode, cause, subject) last alerted: one row, moved forward by a guarded
# UPDATE, so two nodes raising the same alert at once send it once (at most one an hour).
alert_cooldowns = Table(
    "alert_cooldowns",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("merchant_id", Id, ForeignKey("merchants.id", ondelete="CASCADE"), nullable=False),
    Column("mode", String(4), nullable=False),
    Column("cause", String(20), nullable=False),
    Column("subject", String(80), nullable=False),
    Column("last_raised_at", UTCDateTime, nullable=False),
    CheckConstraint("mode IN ('test', 'live')", name="mode"),
    UniqueConstraint("merchant_id", "mode", "cause", "subject"),
)

# An owner's invitation to the dashboard team (docs/dashboard.md, "The team"): a one-time
# set-password link whose token only the link holds (the SHA-256 is stored, as for sessions).
# Pending while not used, revoked or past ``expires_at``; ``user_id`` is who it made.
dashboard_invitations = Table(
    "dashboard_invitations",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("merchant_id", Id, ForeignKey("merchants.id", ondelete="CASCADE"), nullable=False),
    Column("email", String(254), nullable=False),  # lower-cased
    Column("role", String(10), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("invited_by", Id, ForeignKey("dashboard_users.id", ondelete="SET NULL"), nullable=True),
    Column("inviter_email", String(254), nullable=False),  # as it was, should the inviter go
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime, nullable=True),
    Column("revoked_at", UTCDateTime, nullable=True),
    Column("user_id", Id, ForeignKey("dashboard_users.id", ondelete="SET NULL"), nullable=True),
    CheckConstraint("role IN ('owner', 'developer', 'cashier')", name="role"),
)
Index("ix_dashboard_invitations_merchant", dashboard_invitations.c.merchant_id, dashboard_invitations.c.email)

# --- payment links (docs/links.md): one link, shared, and a payment of its own for every buyer ----

# The price is fixed (``amount``) or the buyer's choice between ``amount_min`` and ``amount_max``.
# ``max_paid_uses`` caps the uses (a single-use link is a cap of 1); a use is held by a payment
# made through the link that is pending and not yet past its expiry, or paid. ``slug`` is the
# public page's unguessable name (/l/<slug>); ``public_id`` is the API's.
payment_links = Table(
    "payment_links",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("public_id", String(40), nullable=False, unique=True),
    Column("slug", String(40), nullable=False, unique=True),
    Column("merchant_id", Id, ForeignKey("merchants.id", ondelete="CASCADE"), nullable=False),
    Column("mode", String(4), nullable=False),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=True),
    Column("amount", BigInteger, nullable=True),
    Column("amount_min", BigInteger, nullable=True),
    Column("amount_max", BigInteger, nullable=True),
    Column("reusable", Boolean, nullable=False),
    Column("max_paid_uses", Integer, nullable=True),
    Column("expires_at", UTCDateTime, nullable=True),
    Column("redirect_url", Text, nullable=True),
    Column("payment_method", String(20), nullable=False),
    Column("file_id", BigInteger, nullable=True),
    Column("content_id", BigInteger, nullable=True),
    Column("product_image_id", BigInteger, nullable=True),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("deactivated_at", UTCDateTime, nullable=True),
    CheckConstraint("mode IN ('test', 'live')", name="mode"),
    CheckConstraint(
        "(amount IS NOT NULL AND amount > 0 AND amount_min IS NULL AND amount_max IS NULL)"
        " OR (amount IS NULL AND amount_min > 0 AND amount_max >= amount_min)",
        name="price",
    ),
    CheckConstraint("max_paid_uses IS NULL OR max_paid_uses >= 1", name="max_paid_uses"),
    CheckConstraint("reusable OR max_paid_uses = 1", name="single_use"),
)
Index("ix_payment_links_merchant", payment_links.c.merchant_id, payment_links.c.mode, payment_links.c.id)
# A link's payments: counting the uses it holds (under the link's lock) and its page. Partial:
# most payments are not made through a link and stay out of it.
Index(
    "ix_payments_link",
    payments.c.link_id,
    payments.c.status,
    sqlite_where=payments.c.link_id.is_not(None),
    postgresql_where=payments.c.link_id.is_not(None),
)
