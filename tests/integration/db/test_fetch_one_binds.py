"""``Database.fetch_one_sync`` binds its parameters as every other path does (the defect of
issue 20: on SQLite it handed a datetime or a list to the driver as they were, so a datetime
compared as the driver's own text of it and a list was refused)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from kasir.clock import WIB, utcnow
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.db.statements import Statement, in_list
from kasir.db.tables import payments
from kasir.merchants.service import NewMerchant, authenticate
from kasir.payments.service import NewPayment, create_payment

DUE: Statement[dict[str, Any]] = Statement(
    sa.select(payments.c.invoice_id).where(payments.c.expires_at > sa.bindparam("now"))
)
DUE_AMONG: Statement[dict[str, Any]] = Statement(
    sa.select(payments.c.invoice_id).where(
        payments.c.expires_at > sa.bindparam("now"), in_list(payments.c.final_amount, "amounts")
    )
)


def test_a_datetime_and_a_list_parameter_bind_as_on_the_core_path(
    db: Database, merchant: NewMerchant, settings: Settings
) -> None:
    caller = db.read_sync(lambda conn: authenticate(conn, merchant.test_api_key))
    now = utcnow()
    made = db.write_sync(lambda conn: create_payment(conn, caller, NewPayment(amount=15000), settings, now))
    # A second before it expires, written in WIB: the same instant, other text.
    before = (made["expires_at"] - timedelta(seconds=1)).astimezone(WIB)
    core = db.read_sync(
        lambda conn: conn.execute(sa.select(payments.c.invoice_id).where(payments.c.expires_at > before))
    )
    assert core.scalars().all() == [made["invoice_id"]]
    assert db.fetch_one_sync(DUE, {"now": before}) == {"invoice_id": made["invoice_id"]}
    assert db.fetch_one_sync(DUE_AMONG, {"now": before, "amounts": [made["final_amount"]]}) == {
        "invoice_id": made["invoice_id"]
    }
    assert db.fetch_one_sync(DUE_AMONG, {"now": before, "amounts": [made["final_amount"] + 1]}) is None
    assert db.fetch_one_sync(DUE, {"now": before + timedelta(seconds=1)}) is None
