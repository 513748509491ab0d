"""The background sweeper expires what is due, in batches, and is safe to run twice at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import anyio
import sqlalchemy as sa

from kasir.background.sweeps import BATCH, sweep_once
from kasir.clock import utcnow
from kasir.config import Settings
from kasir.db.engine import Database, build_engine
from kasir.db.tables import dashboard_invitations, events, payments
from kasir.merchants.service import NewMerchant, authenticate
from kasir.payments.service import NewPayment, create_payment
from kasir.team import invitations


def test_sweep_expires_every_due_payment_once_even_from_two_nodes(
    db: Database, database_url: str, merchant: NewMerchant, settings: Settings
) -> None:
    caller = db.read_sync(lambda conn: authenticate(conn, merchant.test_api_key))
    past = utcnow() - timedelta(seconds=settings.payment_ttl + 5)
    count = BATCH + 100  # more than one batch

    def fill(conn: sa.Connection) -> None:
        for i in range(count):
            create_payment(conn, caller, NewPayment(amount=1000 + i), settings, past)
        create_payment(conn, caller, NewPayment(amount=99000), settings, utcnow())  # not due

    db.write_sync(fill)

    def node(_: int) -> int:
        database = Database(build_engine(database_url))
        try:
            return anyio.run(sweep_once, database, settings)
        finally:
            database.dispose()

    with ThreadPoolExecutor(max_workers=2) as pool:
        expired = sum(pool.map(node, range(2)))
    assert expired == count

    def tally(conn: sa.Connection) -> tuple[dict[str, int], int]:
        statuses: dict[str, int] = dict(
            conn.execute(sa.select(payments.c.status, sa.func.count()).group_by(payments.c.status)).all()
        )
        expired_events = conn.execute(
            sa.select(sa.func.count()).select_from(events).where(events.c.type == "payment.expired")
        ).scalar_one()
        return statuses, int(expired_events)

    statuses, expired_events = db.read_sync(tally)
    assert statuses == {"expired": count, "pending": 1}
    assert expired_events == count


def test_sweep_forgets_invitations_long_ended_and_keeps_the_rest(
    db: Database, merchant: NewMerchant, settings: Settings
) -> None:
    now = utcnow()

    def invitation(name: str, expired_ago: timedelta, **ended: object) -> dict[str, object]:
        return {
            "merchant_id": merchant.id,
            "email": f"{name}@toko.test",
            "role": "cashier",
            "token_hash": name.ljust(64, "0"),
            "inviter_email": "owner@toko.test",
            "created_at": now - expired_ago - timedelta(days=3),
            "expires_at": now - expired_ago,
            **ended,
        }

    rows = [
        invitation("pending", timedelta(days=-2)),  # expires in two days
        invitation("lapsed", timedelta(days=29)),  # ended, still within the 30 days kept
        invitation("old", invitations.ENDED_KEPT + timedelta(minutes=1)),
        invitation("oldused", timedelta(days=45), used_at=now - timedelta(days=46)),
    ]
    db.write_sync(lambda conn: conn.execute(sa.insert(dashboard_invitations), rows))
    anyio.run(sweep_once, db, settings)
    left = db.read_sync(lambda conn: sorted(conn.execute(sa.select(dashboard_invitations.c.email)).scalars()))
    assert left == ["lapsed@toko.test", "pending@toko.test"]
