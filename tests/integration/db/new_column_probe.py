"""Run by tests/integration/db/test_new_column.py in a fresh interpreter: a column is added to
``payments``, ``mutations`` and ``events`` in kasir.db.tables *before* any module that declares
statements is imported, as if a developer had added it to tables.py; then a scratch database is
created from that schema and every path writes and reads a payment, a credit and their events.
Prints, as JSON, what each path carried of the new columns.

Usage: python new_column_probe.py DATABASE_URL PLATFORM_QRIS
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from kasir.db import tables

NEW = {"payments": "loyalty_tier", "mutations": "batch_label", "events": "trace_id"}
for table, column in NEW.items():
    tables.metadata.tables[table].append_column(sa.Column(column, sa.String(20), nullable=True))

# Only now the modules that declare statements: they are built from the tables as they are.
from kasir.clock import utcnow  # noqa: E402
from kasir.config import Settings  # noqa: E402
from kasir.db import statements  # noqa: E402
from kasir.db.engine import Database, build_engine  # noqa: E402
from kasir.delivery import outbox  # noqa: E402
from kasir.merchants.service import Principal  # noqa: E402
from kasir.payments import matching, service  # noqa: E402
from kasir.payments.mutations import Credit, Reporter  # noqa: E402


def main(url: str, platform_qris: str) -> dict[str, Any]:
    db = Database(build_engine(url))
    tables.metadata.create_all(db.engine)
    payments, mutations, events = (tables.metadata.tables[t] for t in NEW)
    home = Path(tempfile.mkdtemp())
    settings = Settings(home=home, database_url=url, public_url="http://kasir.test", platform_qris=platform_qris)
    now = utcnow()
    merchant_id = db.write_sync(
        lambda conn: conn.execute(
            sa.insert(tables.merchants)
            .values(username="probe", name="Probe", created_at=now)
            .returning(tables.merchants.c.id)
        ).scalar_one()
    )
    caller = Principal(merchant_id=merchant_id, username="probe", mode="test", key_hash="")
    found: dict[str, Any] = {}

    # create-payment: its row, inserted by the compiled INSERT.
    made = db.write_sync(
        lambda conn: service.create_payment(conn, caller, service.NewPayment(amount=15000), settings, now)
    )
    found["create_payment_keys"] = sorted(made)
    # The compiled INSERT again, given the new column's value.
    values: dict[str, Any] = {**made, "invoice_id": made["invoice_id"] + "-2", "final_amount": made["final_amount"] + 1}
    values["unique_code"] += 1
    values["loyalty_tier"] = "gold"
    second = db.write_sync(lambda conn: statements.scalars(conn, service.INSERT, values))[0]
    found["inserted_value_by_core"] = db.read_sync(
        lambda conn: conn.execute(sa.select(payments.c.loyalty_tier).where(payments.c.id == second)).scalar_one()
    )
    params = {"invoice_id": values["invoice_id"], "merchant_id": merchant_id, "mode": "test"}
    # The column is not in PaymentRow (it is added by this probe alone): read the rows as dicts.
    in_transaction: dict[str, Any] = dict(
        db.read_sync(lambda conn: service.get_payment(conn, caller, params["invoice_id"]))
    )
    found["fast_select_in_transaction"] = in_transaction["loyalty_tier"]

    async def hot_reads() -> tuple[Any, Any]:
        try:
            return (
                await db.fetch_one(service.BY_INVOICE, params),
                await db.fetch_one(service.FOR_PAY_PAGE, {"invoice_id": params["invoice_id"]}),
            )
        finally:
            await db.aclose()

    by_invoice, for_page = asyncio.run(hot_reads())
    found["fetch_one"] = by_invoice["loyalty_tier"]
    found["fetch_one_pay_page"] = for_page["loyalty_tier"]
    # The Core path: an UPDATE … RETURNING every column.
    cancelled = db.write_sync(
        lambda conn: service.cancel_payment(conn, caller, params["invoice_id"], settings.public_url, utcnow())
    )
    found["core_returning"] = dict(cancelled)["loyalty_tier"]

    # A credit: matching's bulk insert, its lookup of repeats, the events' bulk insert.
    reporter = Reporter(mode="test", merchant_id=merchant_id, source="api")
    credit = Credit("qris", made["final_amount"], "PROBE-1")
    [first] = db.write_sync(lambda conn: matching.ingest(conn, reporter, [credit], settings, utcnow()))
    [again] = db.write_sync(lambda conn: matching.ingest(conn, reporter, [credit], settings, utcnow()))
    found["fresh_credit_keys"] = sorted(first.mutation)
    found["repeated_credit_keys"] = sorted(again.mutation)
    found["credit_status"] = [first.mutation["status"], again.duplicate]
    found["bulk_insert_columns"] = {
        "mutations": "batch_label" in matching.INSERT_MUTATIONS.columns,
        "events": "trace_id" in outbox.INSERT_EVENTS.columns,
    }
    found["events"] = db.read_sync(
        lambda conn: [dict(row) for row in conn.execute(sa.select(events.c.type, events.c.trace_id)).mappings()]
    )
    found["mutation_columns"] = sorted(mutations.c.keys())
    found["payment_columns"] = sorted(payments.c.keys())
    db.dispose()
    return found


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2]), default=str))
