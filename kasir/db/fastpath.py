"""Named SQL for the hottest reads, run on the driver itself.

Every API request authenticates, and pay pages and merchants poll check-payment; through
SQLAlchemy's execution machinery each of those SELECTs costs ~40 µs more than the query itself
(measured in benchmarks/). So these few reads are written once as SQL here and run straight on
the driver's connection, without a BEGIN for a lone SELECT (it is consistent on its own).
Writes, and everything else, go through SQLAlchemy Core as usual.

Queries are written with ``:name`` parameters (sqlite3's named style) and translated once for
psycopg. Results are dicts with the same Python types the Core path gives: aware UTC
datetimes and real booleans on both backends (tests/integration/db/test_loop_reads.py).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from itertools import chain
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


def query(
    name: str,
    sql: str,
    *,
    datetimes: tuple[str, ...] = (),
    booleans: tuple[str, ...] = (),
    postgresql: str | None = None,
) -> Query:
    """``sql`` in sqlite3's ``:name`` style; ``postgresql`` when PostgreSQL needs other SQL
    (an array parameter, a row lock), else the same text with psycopg's placeholders."""
    sql = " ".join(sql.split())
    pg = " ".join((postgresql or sql).split())
    return Query(name, sql, frozenset(datetimes), frozenset(booleans), _PARAM.sub(r"%(\1)s", pg))


@lru_cache(maxsize=1024)
def _sqlite_text(value: datetime) -> str:
    # Exactly the text SQLAlchemy's SQLite DateTime writes: SQLite compares datetimes as text,
    # so both paths must write the same bytes for ``expires_at <= now`` to mean the same thing.
    # Cached: a batch writes the same few instants (its ``now``) thousands of times.
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _to_sqlite(value: Any) -> Any:
    if isinstance(value, datetime):
        return _sqlite_text(value)
    if isinstance(value, list):  # SQLite has no arrays: queries read a list with json_each()
        return json.dumps(value)
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


def fetch_all(conn: Connection, q: Query, params: dict[str, Any]) -> list[dict[str, Any]]:
    """``run``, with each row as a dict of the Python types the Core path would give."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        params = {name: _to_sqlite(value) for name, value in params.items()}
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(q.text_for(dialect), params)
        columns = [d[0] for d in cursor.description]
        return [convert(q, dialect, columns, row) for row in cursor.fetchall()]
    finally:
        cursor.close()


def run_many(conn: Connection, q: Query, rows: list[dict[str, Any]]) -> int:
    """``executemany`` of ``q`` on the driver cursor, inside the caller's transaction; the number
    of rows the statements changed."""
    if not rows:
        return 0
    dialect = conn.dialect.name
    if dialect == "sqlite":
        rows = [{name: _to_sqlite(value) for name, value in row.items()} for row in rows]
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(q.text_for(dialect), rows)
        return int(cursor.rowcount)
    finally:
        cursor.close()


def insert_values(
    conn: Connection,
    table: str,
    columns: tuple[str, ...],
    rows: list[tuple[Any, ...]],
    *,
    returning: tuple[str, ...] = (),
    on_conflict_do_nothing: bool = False,
) -> list[tuple[Any, ...]]:
    """One multi-row ``INSERT … VALUES (…), (…) RETURNING …``: a thousand rows cost one statement,
    and unlike ``executemany`` it says which rows went in (with ``ON CONFLICT DO NOTHING``, the
    rows a unique index refused are absent from the result). ``table`` and ``columns`` are
    constants of the caller; values only ever travel as parameters."""
    if not rows:
        return []
    dialect = conn.dialect.name
    if dialect == "postgresql":
        return _insert_unnest(conn, table, columns, rows, returning, on_conflict_do_nothing)
    group = "(" + ", ".join(["?"] * len(columns)) + ")"
    # SQLite allows 32,766 parameters per statement; stay well below.
    per_statement = max(1, 30_000 // len(columns))
    width = len(columns)
    datetimes = _datetime_positions(table, columns)
    result: list[tuple[Any, ...]] = []
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            sql = (
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES "  # noqa: S608 - see docstring
                + ", ".join([group] * len(chunk))
                + (" ON CONFLICT DO NOTHING" if on_conflict_do_nothing else "")
                + (f" RETURNING {', '.join(returning)}" if returning else "")
            )
            params = list(chain.from_iterable(chunk))
            for position in datetimes:  # only the datetime columns need converting
                params[position::width] = [_to_sqlite(v) for v in params[position::width]]
            cursor.execute(sql, params)
            if returning:
                result.extend(cursor.fetchall())
    finally:
        cursor.close()
    return result


@lru_cache(maxsize=64)
def _datetime_positions(table: str, columns: tuple[str, ...]) -> tuple[int, ...]:
    from kasir.db.tables import metadata
    from kasir.db.types import UTCDateTime

    types = metadata.tables[table].c
    return tuple(i for i, c in enumerate(columns) if isinstance(types[c].type, UTCDateTime))


def _insert_unnest(
    conn: Connection,
    table: str,
    columns: tuple[str, ...],
    rows: list[tuple[Any, ...]],
    returning: tuple[str, ...],
    on_conflict_do_nothing: bool,
) -> list[tuple[Any, ...]]:
    """PostgreSQL: the rows as one array per column, ``INSERT … SELECT * FROM unnest(…)``. A
    statement with a placeholder per value would make psycopg parse tens of thousands of them
    every time (it caches only short queries); this one has a placeholder per column."""
    from kasir.db.tables import metadata  # the tables know their types; fastpath stays below them

    types = metadata.tables[table].c
    # %b: binary parameters. As text, psycopg would escape every string by regex on the way out.
    arrays = ", ".join(f"CAST(%b AS {types[c].type.compile(dialect=conn.dialect)}[])" for c in columns)
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT * FROM unnest({arrays})"  # noqa: S608 - see insert_values
        + (" ON CONFLICT DO NOTHING" if on_conflict_do_nothing else "")
        + (f" RETURNING {', '.join(returning)}" if returning else "")
    )
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, [list(values) for values in zip(*rows, strict=True)])
        return list(cursor.fetchall()) if returning else []
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
    "qris_string",
    "link_id",
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

# The pay page's payment, found by its invoice alone (the page is public), with the shop's name
# and OVO number and its product photo: every open pay page polls it.
PAYMENT_FOR_PAGE = query(
    "payment_for_page",
    "SELECT "  # noqa: S608 - constant column list; the invoice is a parameter
    + ", ".join("p." + column for column in PAYMENT_COLUMNS)
    + ", m.name AS merchant_name, m.ovo_number AS merchant_ovo_number"
    + ", i.public_id AS image_public_id, i.width AS image_width, i.height AS image_height"
    + " FROM payments p JOIN merchants m ON m.id = p.merchant_id"
    + " LEFT JOIN product_images i ON i.id = p.product_image_id"
    + " WHERE p.invoice_id = :invoice_id",
    datetimes=PAYMENT_DATETIMES,
    booleans=("use_qris_converter",),
)

# --- the create-payment write path ------------------------------------------------------------

# SQLite is told which index to use: without statistics its planner rates ``status = 'pending'``
# on ix_payments_status_expires above a range on the partial unique index, and walked every
# pending payment of the installation (2.8 ms per create-payment with 20,000 pending, growing
# with each one; 30 µs through the index). PostgreSQL plans from statistics and picks it itself.
_PENDING_BY_AMOUNT_INDEX = " INDEXED BY ix_payments_pending_amount"
_TAKEN_FINAL_AMOUNTS = """
    SELECT final_amount FROM payments{indexed}
    WHERE mode = :mode AND channel_account = :account AND status = 'pending'
      AND final_amount BETWEEN :low AND :high
    """
TAKEN_FINAL_AMOUNTS = query(
    "taken_final_amounts",
    _TAKEN_FINAL_AMOUNTS.format(indexed=_PENDING_BY_AMOUNT_INDEX),
    postgresql=_TAKEN_FINAL_AMOUNTS.format(indexed=""),
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

# --- matching credits to payments (kasir.payments.matching) --------------------------------------

_FOR_MATCHING = " WHERE mode = :mode AND channel_account = :account"
_SELECT_PAYMENT_FOR_MATCHING = _SELECT_PAYMENT + _FOR_MATCHING
_PAYMENTS_IN_AMOUNTS_SQLITE = " AND final_amount IN (SELECT value FROM json_each(:amounts))"
_PAYMENTS_IN_AMOUNTS_PG = " AND final_amount = ANY(CAST(:amounts AS BIGINT[]))"

# The pending payment holding each final amount (the partial unique index allows at most one
# per account). On PostgreSQL the rows are locked, in id order so that two matchers never wait on
# each other crosswise; on SQLite the transaction already holds the database's write lock.
PENDING_BY_FINAL_AMOUNT = query(
    "pending_by_final_amount",
    _SELECT_PAYMENT
    + _PENDING_BY_AMOUNT_INDEX
    + _FOR_MATCHING
    + " AND status = 'pending'"
    + _PAYMENTS_IN_AMOUNTS_SQLITE
    + " ORDER BY id",
    postgresql=_SELECT_PAYMENT_FOR_MATCHING
    + " AND status = 'pending'"
    + _PAYMENTS_IN_AMOUNTS_PG
    + " ORDER BY id FOR UPDATE",
    datetimes=PAYMENT_DATETIMES,
    booleans=("use_qris_converter",),
)

# Payments that expired not long before a credit of their final amount came in: what a late
# credit was most likely meant for.
EXPIRED_BY_FINAL_AMOUNT = query(
    "expired_by_final_amount",
    _SELECT_PAYMENT_FOR_MATCHING
    + " AND status = 'expired' AND expires_at > :since"
    + _PAYMENTS_IN_AMOUNTS_SQLITE
    + " ORDER BY expires_at DESC",
    postgresql=_SELECT_PAYMENT_FOR_MATCHING
    + " AND status = 'expired' AND expires_at > :since"
    + _PAYMENTS_IN_AMOUNTS_PG
    + " ORDER BY expires_at DESC",
    datetimes=PAYMENT_DATETIMES,
    booleans=("use_qris_converter",),
)

PAY_PAYMENT = query(
    "pay_payment",
    """
    UPDATE payments SET status = 'paid', paid_at = :paid_at, paid_amount = :paid_amount,
        paid_reff_num = :paid_reff_num, closed_at = :closed_at
    WHERE id = :id AND status = 'pending'
    """,
)

# PostgreSQL only: a transaction-scoped lock per credit reference (a 64-bit hash of it), taken in
# the order given (callers sort). A second report of a reference waits here until the first one's
# transaction ends, and then finds it stored: repeats are answered, never raced.
LOCK_REFERENCES = query(
    "lock_references",
    "SELECT 1",  # SQLite: the transaction already holds the only write lock
    postgresql="SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS BIGINT[])) AS k",
)


def pay_payments(conn: Connection, rows: list[dict[str, Any]]) -> int:
    """``PAY_PAYMENT`` for every row; the number of payments it changed. PostgreSQL gets one
    ``UPDATE … FROM unnest(…)``: as an ``executemany`` each row is a statement of its own."""
    if conn.dialect.name != "postgresql" or not rows:
        return run_many(conn, PAY_PAYMENT, rows)
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(
            "UPDATE payments AS p SET status = 'paid', paid_at = v.paid_at, paid_amount = v.paid_amount,"
            " paid_reff_num = v.paid_reff_num, closed_at = v.closed_at"
            " FROM unnest(CAST(%b AS BIGINT[]), CAST(%b AS TIMESTAMPTZ[]), CAST(%b AS BIGINT[]),"
            " CAST(%b AS VARCHAR[]), CAST(%b AS TIMESTAMPTZ[]))"
            " AS v(id, paid_at, paid_amount, paid_reff_num, closed_at)"
            " WHERE p.id = v.id AND p.status = 'pending'",
            [[row[c] for row in rows] for c in ("id", "paid_at", "paid_amount", "paid_reff_num", "closed_at")],
        )
        return int(cursor.rowcount)
    finally:
        cursor.close()


MUTATION_COLUMNS = (
    "id",
    "public_id",
    "mode",
    "channel",
    "channel_account",
    "restricted_to",
    "merchant_id",
    "reference",
    "amount",
    "occurred_at",
    "received_at",
    "description",
    "source",
    "status",
    "payment_id",
    "late_payment_id",
    "settled_at",
    "settled_by",
)
MUTATION_DATETIMES = ("occurred_at", "received_at", "settled_at")

_SELECT_MUTATION = (
    "SELECT "  # noqa: S608 - constant column lists
    + ", ".join("m." + c for c in MUTATION_COLUMNS)
    + ", p.invoice_id AS invoice_id, l.invoice_id AS late_invoice_id"
    + " FROM mutations m LEFT JOIN payments p ON p.id = m.payment_id"
    + " LEFT JOIN payments l ON l.id = m.late_payment_id"
)

# The credits already on file under these references: a repeated reference is answered with
# what the first report of it did. Two queries, not one with ``IS NOT DISTINCT FROM``: that one
# PostgreSQL cannot look up in an index.
_BY_REFERENCE = " WHERE m.mode = :mode AND m.channel_account = :account AND {restricted}"
MUTATIONS_BY_REFERENCE = query(
    "mutations_by_reference",
    _SELECT_MUTATION  # noqa: S608 - constant SQL; values are parameters
    + _BY_REFERENCE.format(restricted="m.restricted_to = :restricted_to")
    + " AND m.reference IN (SELECT value FROM json_each(:references))",
    postgresql=_SELECT_MUTATION
    + _BY_REFERENCE.format(restricted="m.restricted_to = :restricted_to")
    + " AND m.reference = ANY(CAST(:references AS VARCHAR[]))",
    datetimes=MUTATION_DATETIMES,
)
UNRESTRICTED_MUTATIONS_BY_REFERENCE = query(
    "unrestricted_mutations_by_reference",
    _SELECT_MUTATION  # noqa: S608 - constant SQL; values are parameters
    + _BY_REFERENCE.format(restricted="m.restricted_to IS NULL")
    + " AND m.reference IN (SELECT value FROM json_each(:references))",
    postgresql=_SELECT_MUTATION
    + _BY_REFERENCE.format(restricted="m.restricted_to IS NULL")
    + " AND m.reference = ANY(CAST(:references AS VARCHAR[]))",
    datetimes=MUTATION_DATETIMES,
)
