"""Unique codes under concurrency: the database, not luck, keeps final amounts distinct."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import requests
import sqlalchemy as sa
from fastapi.testclient import TestClient

from kasir.clock import utcnow
from kasir.config import Settings
from kasir.db.engine import Database, build_engine
from kasir.db.tables import payments
from kasir.merchants.service import NewMerchant, authenticate
from kasir.payments.service import NewPayment, create_payment
from tests.conftest import LiveServer


def test_300_concurrent_http_creates_get_300_distinct_final_amounts(
    live_server: LiveServer, merchant: NewMerchant, db: Database
) -> None:
    def create(_: int) -> requests.Response:
        with requests.Session() as session:
            return session.post(
                f"{live_server.url}/api/create-payment.php",
                headers={"X-API-Key": merchant.test_api_key},
                json={"amount": 25000},
                timeout=60,
            )

    with ThreadPoolExecutor(max_workers=60) as pool:
        responses = list(pool.map(create, range(300)))
    assert [r.status_code for r in responses] == [200] * 300, {r.text for r in responses if r.status_code != 200}
    finals = [r.json()["payment"]["final_amount"] for r in responses]
    assert len(set(finals)) == 300
    assert all(25001 <= f <= 25999 for f in finals)
    stored = db.read_sync(
        lambda conn: (
            conn.execute(sa.select(payments.c.final_amount).where(payments.c.status == "pending")).scalars().all()
        )
    )
    assert sorted(stored) == sorted(finals)


def test_concurrent_transactions_on_separate_connections_never_share_a_final_amount(
    database_url: str, settings: Settings, merchant: NewMerchant
) -> None:
    """16 threads, each with its own engine and transactions, race for the same amount range:
    on PostgreSQL this really is concurrent, so the partial unique index and ON CONFLICT are
    what keep the codes apart."""

    def worker(_: int) -> list[int]:
        database = Database(build_engine(database_url))
        caller = database.read_sync(lambda conn: authenticate(conn, merchant.test_api_key))
        finals = []
        for _ in range(20):
            row = database.write_sync(
                lambda conn: create_payment(conn, caller, NewPayment(amount=10000), settings, utcnow())
            )
            finals.append(int(row["final_amount"]))
        database.dispose()
        return finals

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = [f for chunk in pool.map(worker, range(16)) for f in chunk]
    assert len(results) == 320
    assert len(set(results)) == 320


def test_every_code_taken_then_409_and_a_cancelled_or_expired_payment_frees_its_code(
    client: TestClient, db: Database, merchant: NewMerchant, settings: Settings
) -> None:
    caller = db.read_sync(lambda conn: authenticate(conn, merchant.test_api_key))
    now = utcnow()

    def fill(conn: sa.Connection) -> list[str]:
        return [
            str(create_payment(conn, caller, NewPayment(amount=7000), settings, now)["invoice_id"]) for _ in range(999)
        ]

    invoices = db.write_sync(fill)
    headers = {"X-API-Key": merchant.test_api_key}
    full = client.post("/api/create-payment.php", headers=headers, json={"amount": 7000})
    assert full.status_code == 409
    assert full.json()["code"] == "unique_code_exhausted"

    # Cancel one: its final amount is the only free one, so the next create must get it.
    cancelled = client.post(f"/v1/payments/{invoices[10]}/cancel", headers=headers).json()["payment"]
    again = client.post("/api/create-payment.php", headers=headers, json={"amount": 7000})
    assert again.status_code == 200
    assert again.json()["payment"]["final_amount"] == cancelled["final_amount"]

    # Expire one by time (no sweeper runs here): creating must expire it first and reuse it.
    expired_invoice = invoices[20]
    db.write_sync(
        lambda conn: conn.execute(
            sa.update(payments)
            .where(payments.c.invoice_id == expired_invoice)
            .values(expires_at=now - timedelta(seconds=1))
        )
    )
    expired_final = db.read_sync(
        lambda conn: conn.execute(
            sa.select(payments.c.final_amount).where(payments.c.invoice_id == expired_invoice)
        ).scalar_one()
    )
    third = client.post("/api/create-payment.php", headers=headers, json={"amount": 7000})
    assert third.status_code == 200
    assert third.json()["payment"]["final_amount"] == expired_final
    status = client.get("/api/check-payment.php", params={"invoice": expired_invoice}, headers=headers).json()
    assert status["status"] == "expired"
