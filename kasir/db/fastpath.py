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
