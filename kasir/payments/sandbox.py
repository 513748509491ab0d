"""Test mode's stand-in for a customer: pay a payment as if its exact amount had landed on its
account. Like Xendit's test mode, only test-mode payments can be paid this way, and the credit
goes through the very path a real one takes (``kasir.payments.matching``), events and all."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from kasir.config import Settings
from kasir.db.tables import payments
from kasir.errors import Conflict, Forbidden, InvalidRequest, NotFound
from kasir.payments.matching import Outcome, ingest
from kasir.payments.mutations import MAX_AMOUNT, Credit, Reporter
from kasir.payments.service import is_stale


def require_test_mode(mode: str) -> None:
    if mode != "test":
        raise Forbidden(
            "the sandbox pays test-mode payments only; use a ksr_test_ key (live payments are paid by real money)",
            code="sandbox_test_mode_only",
        )


def pay(
    conn: Connection,
    payment: Mapping[str, Any],
    settings: Settings,
    now: datetime,
    *,
    amount: int | None = None,
    source: str = "sandbox",
) -> Outcome:
    """Report a credit of ``amount`` (default: the exact ``final_amount``) for ``payment``. A
    different amount is how to try an underpayment: the credit is kept, unmatched."""
    require_test_mode(payment["mode"])
    if payment["status"] != "pending" or is_stale(payment, now):
        status = "expired" if is_stale(payment, now) else payment["status"]
        raise Conflict(
            f"payment {payment['invoice_id']} is {status}; only a pending payment can be paid",
            code="payment_not_pending",
        )
    if amount is not None and not 0 < amount <= MAX_AMOUNT:
        raise InvalidRequest("amount must be a positive whole number of rupiah", field="amount", code="invalid_amount")
    credit = Credit(
        channel=payment["payment_method"],
        amount=payment["final_amount"] if amount is None else amount,
        reference="SANDBOX-" + secrets.token_hex(8).upper(),
        occurred_at=now,
        description=f"sandbox payment of {payment['invoice_id']}",
    )
    reporter = Reporter(mode="test", merchant_id=payment["merchant_id"], source=source)
    [outcome] = ingest(conn, reporter, [credit], settings, now)
    return outcome


def pay_invoice(
    conn: Connection,
    invoice_id: str,
    settings: Settings,
    now: datetime,
    *,
    amount: int | None = None,
    source: str = "sandbox",
) -> Outcome:
    """:func:`pay` the payment ``invoice_id``, whoever's it is: the operator's ``kasir sandbox
    pay``, which holds no merchant's key. Only a test-mode payment can be paid, as ever."""
    row = conn.execute(select(payments).where(payments.c.invoice_id == invoice_id)).mappings().first()
    if row is None:
        raise NotFound(f"payment {invoice_id} not found", code="payment_not_found")
    return pay(conn, dict(row), settings, now, amount=amount, source=source)
