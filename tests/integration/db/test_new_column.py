"""A column added to a table is carried by every path with nothing else to change: the
statements are built from kasir.db.tables (no column list kept by hand), compiled from there,
and rows are dicts of what they select (docs/architecture.md, "Data path").

The probe (new_column_probe.py) runs in a fresh interpreter, adds a column to ``payments``,
``mutations`` and ``events`` before the modules that declare statements are imported, creates
a scratch database of that schema (a SQLite file, a PostgreSQL database of its own), and writes
and reads through the real functions: create-payment's compiled INSERT, the compiled SELECTs in
a transaction and on Database.fetch_one (PostgreSQL: on the event loop), the Core path's
``UPDATE … RETURNING``, matching's multi-row inserts and its lookup of repeated credits."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from kasir.db.tables import events, mutations, payments
from tests.conftest import VALID_QRIS

PROBE = Path(__file__).with_name("new_column_probe.py")
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def scratch_url(backend: str, database_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database: a new SQLite file, or a new database on the test PostgreSQL."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'scratch.db'}"
        return
    name = f"kasir_scratch_{secrets.token_hex(4)}"
    admin = sa.create_engine(database_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.engine.make_url(database_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_a_new_column_is_carried_by_every_path(scratch_url: str) -> None:
    done = subprocess.run(
        [sys.executable, str(PROBE), scratch_url, VALID_QRIS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    new_payment_columns = sorted([*payments.c.keys(), "loyalty_tier"])
    new_mutation_columns = sorted([*mutations.c.keys(), "batch_label"])
    assert found["payment_columns"] == new_payment_columns
    assert found["mutation_columns"] == new_mutation_columns
    # create-payment's row has it (NULL: nobody sets it yet), and its INSERT writes it.
    assert found["create_payment_keys"] == new_payment_columns
    assert found["inserted_value_by_core"] == "gold"
    # Every read gives it back.
    assert found["fast_select_in_transaction"] == "gold"
    assert found["fetch_one"] == "gold"
    assert found["fetch_one_pay_page"] == "gold"
    assert found["core_returning"] == "gold"
    # A credit's row, fresh from the bulk insert or found again as a repeat, has every column.
    assert found["credit_status"] == ["matched", True]
    assert found["fresh_credit_keys"] == sorted([*new_mutation_columns, "invoice_id", "late_invoice_id"])
    assert found["repeated_credit_keys"] == found["fresh_credit_keys"]
    assert found["bulk_insert_columns"] == {"mutations": True, "events": True}
    # The events (one through the single-row insert, one through the multi-row one) went in.
    assert sorted(e["type"] for e in found["events"]) == ["payment.cancelled", "payment.created", "payment.paid"]
    assert {e["trace_id"] for e in found["events"]} == {None}
    assert "trace_id" not in events.c  # this process's schema is untouched
