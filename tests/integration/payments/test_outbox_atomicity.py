"""A state change and its event commit together or not at all (the transactional outbox)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from kasir.clock import utcnow
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.db.tables import events, payments
from kasir.delivery import outbox
from kasir.merchants.service import NewMerchant, authenticate
from kasir.payments.service import NewPayment, cancel_payment, create_payment, expire_due
from tests.conftest import row_counts


class Boom(Exception):
    pass


def test_a_failure_after_the_change_rolls_back_payment_and_event(
    db: Database, merchant: NewMerchant, settings: Settings
) -> None:
    caller = db.read_sync(lambda conn: authenticate(conn, merchant.test_api_key))
    before = row_counts(db)

    def create_then_fail(conn: sa.Connection) -> None:
        create_payment(conn, caller, NewPayment(amount=15000), settings, utcnow())
        # Both rows exist inside the transaction...
        assert conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one() == 1
        raise Boom

    with pytest.raises(Boom):
        db.write_sync(create_then_fail)
    assert row_counts(db) == before  # ...and neither survives the rollback.


def test_a_failing_event_write_leaves_no_payment(
    db: Database, merchant: NewMerchant, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    caller = db.read_sync(lambda conn: authenticate(conn, merchant.test_api_key))
    before = row_counts(db)

    def broken_record_event(*_args: object, **_kwargs: object) -> str:
        raise Boom("outbox unavailable")

    monkeypatch.setattr("kasir.payments.service.record_event", broken_record_event)
    with pytest.raises(Boom):
        db.write_sync(lambda conn: create_payment(conn, caller, NewPayment(amount=15000), settings, utcnow()))
    assert row_counts(db) == before


def test_every_transition_writes_exactly_one_event_with_the_payment(
    db: Database, merchant: NewMerchant, settings: Settings
) -> None:
    caller = db.read_sync(lambda conn: authenticate(conn, merchant.test_api_key))
    now = utcnow()
    first = db.write_sync(lambda conn: create_payment(conn, caller, NewPayment(amount=20000), settings, now))
    second = db.write_sync(lambda conn: create_payment(conn, caller, NewPayment(amount=20000), settings, now))
    db.write_sync(lambda conn: cancel_payment(conn, caller, first["invoice_id"], settings.public_url, now))
    later = now + timedelta(seconds=settings.payment_ttl + 1)
    assert db.write_sync(lambda conn: expire_due(conn, later, settings.public_url)) == 1
    # Expiring again finds nothing: a final state is final, and no second event appears.
    assert db.write_sync(lambda conn: expire_due(conn, later, settings.public_url)) == 0

    rows = db.read_sync(
        lambda conn: conn.execute(
            sa.select(events.c.type, events.c.payload, payments.c.invoice_id)
            .join(payments, payments.c.id == events.c.payment_id)
            .order_by(events.c.id)
        ).all()
    )
    assert [(r.type, r.invoice_id) for r in rows] == [
        ("payment.created", first["invoice_id"]),
        ("payment.created", second["invoice_id"]),
        ("payment.cancelled", first["invoice_id"]),
        ("payment.expired", second["invoice_id"]),
    ]
    expired = json.loads(rows[-1].payload)
    assert expired["event"] == "payment.expired"
    assert expired["status"] == "expired"
    assert expired["final_amount"] == second["final_amount"]
    assert expired["timestamp"] == int(later.timestamp())


def test_unknown_event_types_are_refused(db: Database, merchant: NewMerchant) -> None:
    with pytest.raises(ValueError, match="unknown event type"):
        db.write_sync(
            lambda conn: outbox.record_event(
                conn, merchant_id=merchant.id, mode="test", type="payment.refunded", payload={}, created_at=utcnow()
            )
        )
