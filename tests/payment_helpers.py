"""Payments and credits as the payment tests set them up and read them back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from kasir.config import Settings
from kasir.db.engine import Database
from kasir.db.tables import events, mutations, payments
from kasir.merchants.service import authenticate
from kasir.payments.service import NewPayment, create_payment
from kasir.payments.views import PaymentRow


def create(
    db: Database, settings: Settings, key: str, amount: int = 50000, method: str = "qris", at: datetime | None = None
) -> PaymentRow:
    def make(conn: sa.Connection) -> PaymentRow:
        caller = authenticate(conn, key)
        return create_payment(
            conn, caller, NewPayment(amount=amount, payment_method=method), settings, at or datetime.now(UTC)
        )

    return db.write_sync(make)


def stored(db: Database, invoice: str) -> dict[str, Any]:
    row = db.read_sync(
        lambda conn: conn.execute(sa.select(payments).where(payments.c.invoice_id == invoice)).mappings().one()
    )
    return dict(row)


def paid_events(db: Database, invoice: str) -> int:
    def count(conn: sa.Connection) -> int:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(events.join(payments, payments.c.id == events.c.payment_id))
                .where(payments.c.invoice_id == invoice, events.c.type == "payment.paid")
            ).scalar_one()
        )

    return db.read_sync(count)


def credit_rows(db: Database) -> list[dict[str, Any]]:
    def read(conn: sa.Connection) -> list[dict[str, Any]]:
        return [dict(r) for r in conn.execute(sa.select(mutations).order_by(mutations.c.id)).mappings()]

    return db.read_sync(read)
