"""The hot queries on the payments table use the partial unique index of pending final amounts
(kasir/db/fastpath.py): without it SQLite walked every pending payment of the installation on
each create-payment and each batch of credits."""

from __future__ import annotations

import json

import pytest

from kasir.db.engine import Database
from kasir.db.fastpath import PENDING_BY_FINAL_AMOUNT, TAKEN_FINAL_AMOUNTS, Query

PARAMS = {"mode": "test", "account": "qris", "low": 10_001, "high": 10_999, "amounts": json.dumps([10_123])}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("query", [TAKEN_FINAL_AMOUNTS, PENDING_BY_FINAL_AMOUNT], ids=lambda q: q.name)
def test_pending_amount_lookups_search_the_partial_index(db: Database, query: Query) -> None:
    plan = db.read_sync(lambda conn: conn.exec_driver_sql("EXPLAIN QUERY PLAN " + query.sql, PARAMS).all())
    steps = " | ".join(str(row[3]) for row in plan)
    assert "SEARCH payments USING INDEX ix_payments_pending_amount" in steps, steps
    assert "SCAN payments" not in steps, steps
