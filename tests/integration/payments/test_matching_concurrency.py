"""Exactly once under concurrency: 1,000 pending payments, 1,200 credits pushed over HTTP from 20
threads (10 % repeats, 5 % amounts nobody waits for, a few for payments already expired).

Runs against a real server on a socket, on SQLite and on PostgreSQL. The repeats are spread over
other threads than their originals, so an original and its repeat can race each other.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import requests
import sqlalchemy as sa

from kasir.clock import utcnow
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.db.tables import events, mutations, payments
from kasir.merchants.service import NewMerchant, authenticate
from kasir.payments.service import NewPayment, create_payment, expire_due
from kasir.payments.views import PaymentRow
from tests.conftest import LiveServer

PENDING = 1000
LATE = 20
UNMATCHED = 60
REPEATS = 120
THREADS = 20


def test_1200_credits_from_20_threads_pay_each_payment_exactly_once(
    live_server: LiveServer, merchant: NewMerchant, db: Database, settings: Settings
) -> None:
    rng = random.Random(4)
    caller = db.read_sync(lambda conn: authenticate(conn, merchant.test_api_key))
    now = utcnow()

    def fill(conn: sa.Connection) -> tuple[list[PaymentRow], list[PaymentRow]]:
        pending = [
            create_payment(conn, caller, NewPayment(amount=10_000 + i), settings, now - timedelta(seconds=30))
            for i in range(PENDING)
        ]
        # Created two hours ago, expired long since: credits for them come late.
        old = now - timedelta(hours=2)
        late = [create_payment(conn, caller, NewPayment(amount=60_000 + i), settings, old) for i in range(LATE)]
        expire_due(conn, now, settings.public_url)
        return pending, late

    pending, late = db.write_sync(fill)

    credits: list[dict[str, Any]] = [
        {"channel": "qris", "amount": p["final_amount"], "reference": f"PAY-{i}"} for i, p in enumerate(pending)
    ]
    credits += [{"channel": "qris", "amount": p["final_amount"], "reference": f"LATE-{i}"} for i, p in enumerate(late)]
    # Far above any final amount a pending payment holds.
    credits += [{"channel": "qris", "amount": 700_000 + i, "reference": f"NONE-{i}"} for i in range(UNMATCHED)]
    credits += rng.sample(credits[:PENDING], REPEATS)  # the same credit reported again
    assert len(credits) == 1200
    rng.shuffle(credits)

    # Each thread posts its share in batches of 1 to 40: single objects and lists.
    shares = [credits[i::THREADS] for i in range(THREADS)]

    def push(share: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        answered = []
        with requests.Session() as session:
            while share:
                size = rng.randint(1, 40)
                batch, share = share[:size], share[size:]
                body: Any = batch[0] if len(batch) == 1 else batch
                response = session.post(
                    f"{live_server.url}/v1/mutations",
                    headers={"X-API-Key": merchant.test_api_key},
                    json=body,
                    timeout=120,
                )
                assert response.status_code == 200, response.text
                answered += list(zip(batch, response.json()["mutations"], strict=True))
        return answered

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        answers = [pair for share in pool.map(push, shares) for pair in share]
    assert len(answers) == 1200

    # Every report of a reference got the same mutation back; exactly one of them was first.
    by_reference: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for credit, shown in answers:
        assert shown["reference"] == credit["reference"]
        by_reference[credit["reference"]].append(shown)
    for reference, reports in by_reference.items():
        assert len({s["id"] for s in reports}) == 1, reference
        assert [s["duplicate"] for s in reports].count(False) == 1, reference
        assert len({s["status"] for s in reports}) == 1, reference
    assert sum(s["duplicate"] for _c, s in answers) == REPEATS

    def tally(conn: sa.Connection) -> dict[str, Any]:
        return {
            "payments": {
                row.invoice_id: row
                for row in conn.execute(
                    sa.select(payments.c.invoice_id, payments.c.status, payments.c.paid_reff_num, payments.c.id)
                )
            },
            "paid_events": Counter(
                conn.execute(sa.select(events.c.payment_id).where(events.c.type == "payment.paid")).scalars()
            ),
            "mutations": Counter(conn.execute(sa.select(mutations.c.status)).scalars()),
            "paid_by": Counter(
                conn.execute(sa.select(mutations.c.payment_id).where(mutations.c.payment_id.is_not(None))).scalars()
            ),
        }

    seen = db.read_sync(tally)
    for i, payment in enumerate(pending):
        stored = seen["payments"][payment["invoice_id"]]
        assert stored.status == "paid"
        assert stored.paid_reff_num == f"PAY-{i}"
        assert seen["paid_events"][stored.id] == 1
        assert seen["paid_by"][stored.id] == 1
    for payment in late:
        assert seen["payments"][payment["invoice_id"]].status == "expired"
    assert sum(seen["paid_events"].values()) == PENDING
    assert seen["mutations"] == {"matched": PENDING, "unmatched": UNMATCHED, "late": LATE}
    late_shown = {s["reference"]: s for _c, s in answers if s["reference"].startswith("LATE-")}
    assert {s["late_for_invoice_id"] for s in late_shown.values()} == {p["invoice_id"] for p in late}


def test_fifty_different_credits_of_one_amount_racing_pay_the_payment_once(
    live_server: LiveServer, merchant: NewMerchant, db: Database, settings: Settings
) -> None:
    caller = db.read_sync(lambda conn: authenticate(conn, merchant.test_api_key))
    payment = db.write_sync(
        lambda conn: create_payment(conn, caller, NewPayment(amount=25_000), settings, utcnow() - timedelta(seconds=5))
    )

    def push(i: int) -> dict[str, Any]:
        response = requests.post(
            f"{live_server.url}/v1/mutations",
            headers={"X-API-Key": merchant.test_api_key},
            json={"channel": "qris", "amount": payment["final_amount"], "reference": f"RACE-{i}"},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        shown: dict[str, Any] = response.json()["mutations"][0]
        return shown

    with ThreadPoolExecutor(max_workers=10) as pool:
        shown = list(pool.map(push, range(50)))
    assert Counter(s["status"] for s in shown) == {"matched": 1, "unmatched": 49}
    winner = next(s for s in shown if s["status"] == "matched")

    def stored(conn: sa.Connection) -> tuple[Any, int]:
        row = conn.execute(sa.select(payments).where(payments.c.id == payment["id"])).one()
        paid_events = conn.execute(
            sa.select(sa.func.count()).select_from(events).where(events.c.type == "payment.paid")
        ).scalar_one()
        return row, paid_events

    row, paid_events = db.read_sync(stored)
    assert (row.status, row.paid_reff_num, paid_events) == ("paid", winner["reference"], 1)
