"""The hot statements on the payments table use the partial unique index of pending final
amounts (``indexed_by`` in kasir/payments/codes.py): without it SQLite walked every pending
payment of the installation on each create-payment and each batch of credits."""

from __future__ import annotations

from typing import Any

import pytest

from kasir.db.engine import Database
from kasir.db.statements import Statement
from kasir.payments.codes import TAKEN_FINAL_AMOUNTS
from kasir.payments.matching import PENDING_BY_FINAL_AMOUNT

PARAMS = {"mode": "test", "account": "qris", "low": 10_001, "high": 10_999, "amounts": [10_123]}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("statement", [TAKEN_FINAL_AMOUNTS, PENDING_BY_FINAL_AMOUNT], ids=lambda s: s.name)
def test_pending_amount_lookups_search_the_partial_index(db: Database, statement: Statement[Any]) -> None:
    plan = statement.plan(db.engine.dialect)
    params = plan.parameters(PARAMS)
    explained = db.read_sync(lambda conn: conn.exec_driver_sql("EXPLAIN QUERY PLAN " + plan.sql, tuple(params)).all())
    steps = " | ".join(str(row[3]) for row in explained)
    assert "SEARCH payments USING INDEX ix_payments_pending_amount" in steps, steps
    assert "SCAN payments" not in steps, steps
