"""Named SQL for the hottest reads, run on the driver itself.

Every API request authenticates, and pay pages and merchants poll check-payment; through
SQLAlchemy's execution machinery each of those SELECTs costs ~40 µs more than the query itself
(measured in benchmarks/). So these few reads are written once as SQL here and run straight on
the driver's connection, without a BEGIN for a lone SELECT (it is consistent on its own).
Writes, and everything else, go through SQLAlchemy Core as usual.

Queries are written with ``:name`` parameters (sqlite3's named style) and translated once for
psycopg. Results are dicts with the same Python types the Core path gives: aware UTC
datetimes and real booleans on both backends (tests/integration/db/test_fastpath.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    sql: str
    datetimes: frozenset[str] = field(default_factory=frozenset)
    booleans: frozenset[str] = field(default_factory=frozenset)
    postgresql: str = ""

    def text_for(self, dialect: str) -> str:
        return self.postgresql if dialect == "postgresql" else self.sql


def query(name: str, sql: str, *, datetimes: tuple[str, ...] = (), booleans: tuple[str, ...] = ()) -> Query:
    sql = " ".join(sql.split())
    return Query(name, sql, frozenset(datetimes), frozenset(booleans), _PARAM.sub(r"%(\1)s", sql))


def _to_sqlite(value: Any) -> Any:
    # Exactly the text SQLAlchemy's SQLite DateTime writes: SQLite compares datetimes as text,
    # so both paths must write the same bytes for ``expires_at <= now`` to mean the same thing.
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return value


def run(conn: Connection, q: Query, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Run ``q`` on the driver cursor of a SQLAlchemy Connection, inside its transaction: for
    the statements every create-payment runs (they are the write path's hot spots)."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        params = {name: _to_sqlite(value) for name, value in params.items()}
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(q.text_for(dialect), params)
        return list(cursor.fetchall()) if cursor.description else []
    finally:
        cursor.close()


def _sqlite_datetime(value: Any) -> datetime | None:
    # SQLAlchemy stores SQLite datetimes as naive UTC text (kasir.db.types.UTCDateTime).
    if value is None:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def convert(q: Query, dialect: str, columns: list[str], row: tuple[Any, ...]) -> dict[str, Any]:
    record = dict(zip(columns, row, strict=True))
    if dialect == "sqlite":
        for name in q.datetimes:
            record[name] = _sqlite_datetime(record[name])
        for name in q.booleans:
            record[name] = bool(record[name])
    else:
        for name in q.datetimes:
            value = record[name]
            if value is not None and value.tzinfo is not None:
                record[name] = value.astimezone(UTC)
    return record


PAYMENT_COLUMNS = (
    "id",
    "invoice_id",
    "merchant_id",
    "mode",
    "payment_method",
    "channel_account",
    "amount",
    "unique_code",
    "final_amount",
    "status",
    "description",
    "customer_name",
    "customer_email",
    "customer_phone",
    "callback_url",
    "redirect_url",
    "file_id",
    "content_id",
    "product_image_id",
    "use_qris_converter",
    "created_at",
    "expires_at",
    "paid_at",
    "paid_amount",
    "paid_reff_num",
    "closed_at",
)
PAYMENT_DATETIMES = ("created_at", "expires_at", "paid_at", "closed_at")

AUTHENTICATE = query(
    "authenticate",
    """
    SELECT k.merchant_id, k.mode, k.key_hash, m.username
    FROM api_keys k JOIN merchants m ON m.id = k.merchant_id
    WHERE k.key_hash = :key_hash AND k.revoked_at IS NULL
    """,
)

# The column list is a constant of this module; values only ever travel as parameters.
_SELECT_PAYMENT = "SELECT " + ", ".join(PAYMENT_COLUMNS) + " FROM payments"  # noqa: S608

PAYMENT_BY_INVOICE = query(
    "payment_by_invoice",
    _SELECT_PAYMENT + " WHERE invoice_id = :invoice_id AND merchant_id = :merchant_id AND mode = :mode",
    datetimes=PAYMENT_DATETIMES,
    booleans=("use_qris_converter",),
)

# --- the create-payment write path ------------------------------------------------------------

TAKEN_FINAL_AMOUNTS = query(
    "taken_final_amounts",
    """
    SELECT final_amount FROM payments
    WHERE mode = :mode AND channel_account = :account AND status = 'pending'
      AND final_amount BETWEEN :low AND :high
    """,
)

_INSERTED_COLUMNS = tuple(c for c in PAYMENT_COLUMNS if c != "id")
INSERT_PAYMENT = query(
    "insert_payment",
    # A conflict on any unique index (a final amount taken meanwhile, a colliding invoice id)
    # inserts nothing and returns no row.
    "INSERT INTO payments ("  # noqa: S608 - constant column list; values are parameters
    + ", ".join(_INSERTED_COLUMNS)
    + ") VALUES ("
    + ", ".join(":" + c for c in _INSERTED_COLUMNS)
    + ") ON CONFLICT DO NOTHING RETURNING id",
)

INSERT_EVENT = query(
    "insert_event",
    """
    INSERT INTO events (event_id, merchant_id, mode, type, payment_id, payload, created_at)
    VALUES (:event_id, :merchant_id, :mode, :type, :payment_id, :payload, :created_at)
    RETURNING id
    """,
)

# Where an event goes: kind 1 is the callback settings, kind 2 each live endpoint.
DELIVERY_TARGETS = query(
    "delivery_targets",
    """
    SELECT 1 AS kind, NULL AS id, default_callback_url AS url, dialect, event_types
    FROM webhook_settings WHERE merchant_id = :merchant_id AND mode = :mode
    UNION ALL
    SELECT 2, id, url, dialect, event_types FROM endpoints
    WHERE merchant_id = :merchant_id AND mode = :mode AND enabled = :enabled
      AND (expires_at IS NULL OR expires_at > :now)
    """,
)
