"""Mutations end to end: credits reported through the API, the signed forwarder ingress and the
sandbox, matched to payments exactly once; reconciliation (listing, assigning by hand) and every
refusal, each of which must leave the database as it was.

Everything is observed through HTTP answers and the database (payments, mutations, the
``payment.paid`` rows of the outbox). Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from kasir.config import Settings
from kasir.db.engine import Database
from kasir.db.tables import deliveries, events, mutations, payments
from kasir.merchants.service import NewMerchant, authenticate
from kasir.payments.forwarders import sign
from kasir.payments.service import NewPayment, create_payment
from kasir.payments.views import PaymentRow
from tests.conftest import LiveServer, assert_error, auth, row_counts, writes_nothing

CREATE = "/api/create-payment.php"
MUTATIONS = "/v1/mutations"
FORWARDER = "/v1/forwarder"
CALLBACK = "http://127.0.0.1:9/kasir-callback"  # never called: background=False runs no worker

# Written here, not imported from kasir.clock: the tests must not share the code under test.
WIB = timezone(timedelta(hours=7))


# --- helpers --------------------------------------------------------------------------------


@pytest.fixture
def lenient(client: TestClient) -> TestClient:
    """The same running app, but a crash answers 500 instead of raising in the test: for the
    tests that pin down a 500 the API must not give."""
    return TestClient(client.app, raise_server_exceptions=False)


def ref(prefix: str = "TRX") -> str:
    """A provider reference nobody used before."""
    return f"{prefix}{secrets.token_hex(6).upper()}"


def credit(amount: Any, reference: str | None = None, channel: str = "qris", **fields: Any) -> dict[str, Any]:
    return {"channel": channel, "amount": amount, "reference": reference or ref(), **fields}


def report(client: TestClient, key: str, body: Any) -> dict[str, Any]:
    """POST /v1/mutations (JSON); the 200 answer."""
    response = client.post(MUTATIONS, headers=auth(key), json=body)
    assert response.status_code == 200, response.text
    answer = dict(response.json())
    assert answer["success"] is True
    return answer


def report_one(client: TestClient, key: str, item: dict[str, Any]) -> dict[str, Any]:
    """Report one credit; the mutation as answered."""
    [shown] = report(client, key, item)["mutations"]
    return dict(shown)


def create(client: TestClient, key: str, amount: int = 50000, **fields: Any) -> dict[str, Any]:
    """create-payment over HTTP; the ``payment`` object."""
    response = client.post(CREATE, headers=auth(key), json={"amount": amount, **fields})
    assert response.status_code == 200, response.text
    return dict(response.json()["payment"])


def create_at(
    db: Database, settings: Settings, key: str, at: datetime, amount: int = 50000, method: str = "qris"
) -> PaymentRow:
    """A payment created at ``at`` (in the past: one that has expired, or will soon)."""

    def make(conn: sa.Connection) -> PaymentRow:
        caller = authenticate(conn, key)
        return create_payment(conn, caller, NewPayment(amount=amount, payment_method=method), settings, now=at)

    return db.write_sync(make)


def stored(db: Database, invoice: str) -> dict[str, Any]:
    """The payment row as it is on disk (no read path that would expire it first)."""
    row = db.read_sync(
        lambda conn: conn.execute(sa.select(payments).where(payments.c.invoice_id == invoice)).mappings().one()
    )
    return dict(row)


def event_types(db: Database, invoice: str) -> list[str]:
    """The types of the payment's outbox events, oldest first."""

    def read(conn: sa.Connection) -> list[str]:
        return [
            str(kind)
            for kind in conn.execute(
                sa.select(events.c.type)
                .join(payments, payments.c.id == events.c.payment_id)
                .where(payments.c.invoice_id == invoice)
                .order_by(events.c.id)
            ).scalars()
        ]

    return db.read_sync(read)


def paid_events(db: Database, invoice: str) -> int:
    return event_types(db, invoice).count("payment.paid")


def paid_deliveries(db: Database, invoice: str) -> list[str]:
    """The URLs the payment's payment.paid event is to be delivered to."""

    def read(conn: sa.Connection) -> list[str]:
        return [
            str(url)
            for url in conn.execute(
                sa.select(deliveries.c.url)
                .join(events, events.c.id == deliveries.c.event_id)
                .join(payments, payments.c.id == events.c.payment_id)
                .where(payments.c.invoice_id == invoice, events.c.type == "payment.paid")
            ).scalars()
        ]

    return db.read_sync(read)


def paid_event_payload(db: Database, invoice: str) -> dict[str, Any]:
    def read(conn: sa.Connection) -> str:
        return str(
            conn.execute(
                sa.select(events.c.payload)
                .join(payments, payments.c.id == events.c.payment_id)
                .where(payments.c.invoice_id == invoice, events.c.type == "payment.paid")
            ).scalar_one()
        )

    return dict(json.loads(db.read_sync(read)))


def mutation_count(db: Database) -> int:
    return row_counts(db)["mutations"]


def stored_mutation(db: Database, public_id: str) -> dict[str, Any]:
    row = db.read_sync(
        lambda conn: conn.execute(sa.select(mutations).where(mutations.c.public_id == public_id)).mappings().one()
    )
    return dict(row)


def wire(moment: datetime) -> str:
    """How the API shows a moment: WIB wall time."""
    return moment.astimezone(WIB).strftime("%Y-%m-%d %H:%M:%S")


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def listed(client: TestClient, key: str, **params: Any) -> dict[str, Any]:
    response = client.get(MUTATIONS, headers=auth(key), params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def assign(client: TestClient, key: str, mutation_id: str, invoice: str) -> httpx.Response:
    response: httpx.Response = client.post(
        f"{MUTATIONS}/{mutation_id}/assign", headers=auth(key), json={"invoice_id": invoice}
    )
    return response


def cancel(client: TestClient, key: str, invoice: str) -> None:
    response = client.post(f"/v1/payments/{invoice}/cancel", headers=auth(key))
    assert response.status_code == 200, response.text


def sandbox_pay(client: TestClient, key: str, invoice: str, body: dict[str, Any] | None = None) -> httpx.Response:
    response: httpx.Response = client.post(f"/v1/sandbox/payments/{invoice}/pay", headers=auth(key), json=body)
    return response


def setup_forwarder(client: TestClient, key: str) -> dict[str, Any]:
    response = client.post(FORWARDER, headers=auth(key))
    assert response.status_code == 200, response.text
    return dict(response.json()["forwarder"])


def signature(secret: str, body: bytes) -> str:
    """GitHub's recipe, computed here independently of Kasir."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def forward(client: TestClient, forwarder_id: str, body: bytes, sig: str | bytes | None) -> httpx.Response:
    headers: dict[str, str | bytes] = {"Content-Type": "application/json"}
    if sig is not None:
        headers["X-Kasir-Signature"] = sig
    response: httpx.Response = client.post(f"/v1/forwarders/{forwarder_id}/mutations", content=body, headers=headers)
    return response


# --- matching -------------------------------------------------------------------------------


def test_credit_of_the_final_amount_pays_the_payment(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """A credit of exactly final_amount pays the pending payment: paid, paid_amount, paid_reff_num
    = the reference, and one payment.paid event in the outbox, due to the payment's callback_url;
    the answer says matched."""
    key = merchant.test_api_key
    payment = create(client, key, callback_url=CALLBACK)
    before = datetime.now(UTC).replace(microsecond=0)
    answer = report(client, key, credit(payment["final_amount"], "QR-0001", description="Pembayaran dari BUDI SANTOSO"))
    after = datetime.now(UTC)

    assert answer["summary"] == {"matched": 1, "unmatched": 0, "late": 0, "duplicate": 0}
    [shown] = answer["mutations"]
    assert shown["id"].startswith("mut_")
    assert shown["channel"] == "qris"
    assert shown["amount"] == payment["final_amount"]
    assert shown["reference"] == "QR-0001"
    assert shown["description"] == "Pembayaran dari BUDI SANTOSO"
    assert shown["source"] == "api"
    assert shown["status"] == "matched"
    assert shown["invoice_id"] == payment["invoice_id"]
    assert shown["late_for_invoice_id"] is None
    assert shown["settled_by"] == "matching"
    assert shown["mode"] == "test"
    assert shown["duplicate"] is False
    received = datetime.strptime(shown["received_at"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=WIB)
    assert before - timedelta(seconds=1) <= received <= after + timedelta(seconds=1)
    assert shown["occurred_at"] == shown["received_at"]  # no occurred_at given: when it came

    seen = client.get(f"/v1/payments/{payment['invoice_id']}", headers=auth(key)).json()["payment"]
    assert seen["status"] == "paid"
    assert seen["paid_amount"] == payment["final_amount"]
    assert seen["paid_reff_num"] == "QR-0001"
    assert seen["paid_at"] is not None
    assert event_types(db, payment["invoice_id"]) == ["payment.created", "payment.paid"]
    payload = paid_event_payload(db, payment["invoice_id"])
    assert payload["status"] == "paid"
    assert payload["paid_reff_num"] == "QR-0001"
    assert payload["paid_amount"] == payment["final_amount"]
    assert paid_deliveries(db, payment["invoice_id"]) == [CALLBACK]
    row = stored_mutation(db, shown["id"])
    assert row["payment_id"] == stored(db, payment["invoice_id"])["id"]


def test_every_body_shape_is_accepted(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """One object, a list, {"mutations": [...]} and a form-encoded credit each pay their payment."""
    key = merchant.test_api_key
    first, second, third, fourth = (create(client, key) for _ in range(4))
    assert report(client, key, credit(first["final_amount"]))["summary"]["matched"] == 1
    assert report(client, key, [credit(second["final_amount"])])["summary"]["matched"] == 1
    assert report(client, key, {"mutations": [credit(third["final_amount"])]})["summary"]["matched"] == 1
    form = client.post(
        MUTATIONS,
        headers=auth(key),
        data={"channel": "qris", "amount": str(fourth["final_amount"]), "reference": "FORM-1"},
    )
    assert form.status_code == 200, form.text
    assert form.json()["mutations"][0]["status"] == "matched"
    for payment in (first, second, third, fourth):
        assert stored(db, payment["invoice_id"])["status"] == "paid"
        assert paid_events(db, payment["invoice_id"]) == 1


def test_a_wrong_amount_pays_nothing(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """Credits of final_amount ± 1 and of the bare amount (no unique code) stay unmatched."""
    key = merchant.test_api_key
    payment = create(client, key)
    final = payment["final_amount"]
    answer = report(client, key, [credit(final - 1), credit(final + 1), credit(payment["amount"])])
    assert answer["summary"] == {"matched": 0, "unmatched": 3, "late": 0, "duplicate": 0}
    assert all(m["status"] == "unmatched" and m["invoice_id"] is None for m in answer["mutations"])
    assert stored(db, payment["invoice_id"])["status"] == "pending"
    assert paid_events(db, payment["invoice_id"]) == 0
    assert mutation_count(db) == 3


def test_a_repeated_reference_is_a_no_op_answering_the_first(
    client: TestClient, db: Database, merchant: NewMerchant
) -> None:
    """The same (channel, reference) again, even with another amount, is duplicate=true with the
    first mutation's id and status: it pays nothing else and stores nothing."""
    key = merchant.test_api_key
    paid, other = create(client, key), create(client, key)
    first = report_one(client, key, credit(paid["final_amount"], "REF-42"))
    assert first["status"] == "matched"

    again = report(client, key, credit(paid["final_amount"], "REF-42"))
    assert again["summary"] == {"matched": 0, "unmatched": 0, "late": 0, "duplicate": 1}
    [repeat] = again["mutations"]
    assert repeat["duplicate"] is True
    assert repeat["id"] == first["id"]
    assert repeat["status"] == "matched"
    assert repeat["invoice_id"] == paid["invoice_id"]

    # A replay carrying another pending payment's amount is still the same credit.
    with writes_nothing(db):
        replay = report_one(client, key, credit(other["final_amount"], "REF-42"))
    assert replay["duplicate"] is True
    assert replay["id"] == first["id"]
    assert replay["invoice_id"] == paid["invoice_id"]
    assert stored(db, other["invoice_id"])["status"] == "pending"
    assert paid_events(db, paid["invoice_id"]) == 1
    assert paid_events(db, other["invoice_id"]) == 0
    assert mutation_count(db) == 1


def test_the_same_credit_twice_in_one_batch_counts_once(
    client: TestClient, db: Database, merchant: NewMerchant
) -> None:
    """A batch naming one reference twice stores one mutation; the second item is its duplicate."""
    key = merchant.test_api_key
    payment = create(client, key)
    item = credit(payment["final_amount"], "TWICE-1")
    answer = report(client, key, [item, item])
    assert answer["summary"] == {"matched": 1, "unmatched": 0, "late": 0, "duplicate": 1}
    first, second = answer["mutations"]
    assert (first["duplicate"], second["duplicate"]) == (False, True)
    assert first["id"] == second["id"]
    assert second["status"] == "matched"
    assert mutation_count(db) == 1
    assert paid_events(db, payment["invoice_id"]) == 1


def test_two_credits_of_one_amount_pay_one_payment_once(
    client: TestClient, db: Database, merchant: NewMerchant
) -> None:
    """Two different credits of the same final amount in one batch: the earlier one pays, the
    other is kept unmatched; the payment is paid once."""
    key = merchant.test_api_key
    payment = create(client, key)
    now = datetime.now(UTC).replace(microsecond=0)
    later = credit(payment["final_amount"], "LATER", occurred_at=iso(now + timedelta(seconds=30)))
    earlier = credit(payment["final_amount"], "EARLIER", occurred_at=iso(now + timedelta(seconds=5)))
    answer = report(client, key, [later, earlier])
    assert answer["summary"] == {"matched": 1, "unmatched": 1, "late": 0, "duplicate": 0}
    statuses = {m["reference"]: m["status"] for m in answer["mutations"]}
    assert statuses == {"EARLIER": "matched", "LATER": "unmatched"}
    assert stored(db, payment["invoice_id"])["paid_reff_num"] == "EARLIER"
    assert paid_events(db, payment["invoice_id"]) == 1


def test_one_batch_pays_many_payments(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """A batch of credits pays each payment it names, once, and keeps the rest unmatched; the
    answer lists the credits in the order they were sent."""
    key = merchant.test_api_key
    created = [create(client, key, amount=10000 * (i + 1)) for i in range(6)]
    items = [credit(p["final_amount"], f"B-{i}") for i, p in enumerate(created)]
    items.insert(3, credit(1234567, "B-stray-1"))
    items.append(credit(7654321, "B-stray-2"))
    answer = report(client, key, items)
    assert answer["summary"] == {"matched": 6, "unmatched": 2, "late": 0, "duplicate": 0}
    assert [m["reference"] for m in answer["mutations"]] == [i["reference"] for i in items]
    for i, payment in enumerate(created):
        row = stored(db, payment["invoice_id"])
        assert row["status"] == "paid"
        assert row["paid_reff_num"] == f"B-{i}"
        assert paid_events(db, payment["invoice_id"]) == 1


def test_concurrent_reports_pay_a_payment_exactly_once(
    live_server: LiveServer, db: Database, merchant: NewMerchant
) -> None:
    """Over real HTTP, eight different credits of one final amount at once: one pays, seven are
    unmatched; then eight reports of one reference at once: one mutation, seven duplicates of it."""
    key = merchant.test_api_key
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        first, second = (
            http.post(CREATE, headers=auth(key), json={"amount": 50000}).json()["payment"] for _ in range(2)
        )

    def race(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        barrier = threading.Barrier(len(items))

        def send(item: dict[str, Any]) -> dict[str, Any]:
            with httpx.Client(base_url=live_server.url, timeout=30) as http:
                barrier.wait()
                response = http.post(MUTATIONS, headers=auth(key), json=item)
            assert response.status_code == 200, response.text
            return dict(response.json()["mutations"][0])

        with ThreadPoolExecutor(len(items)) as pool:
            return list(pool.map(send, items))

    distinct = race([credit(first["final_amount"], f"RACE-{i}") for i in range(8)])
    assert sorted(m["status"] for m in distinct) == ["matched"] + ["unmatched"] * 7
    assert paid_events(db, first["invoice_id"]) == 1
    winner = next(m for m in distinct if m["status"] == "matched")
    assert stored(db, first["invoice_id"])["paid_reff_num"] == winner["reference"]

    same = race([credit(second["final_amount"], "RACE-SAME") for _ in range(8)])
    assert sorted(m["duplicate"] for m in same) == [False] + [True] * 7
    assert {m["id"] for m in same} == {same[0]["id"]}
    assert {m["status"] for m in same} == {"matched"}
    assert paid_events(db, second["invoice_id"]) == 1
    assert mutation_count(db) == 9


# --- whose money pays what ------------------------------------------------------------------


def test_a_merchants_qris_report_never_pays_another_merchants_payment(
    client: TestClient, db: Database, merchant: NewMerchant, other_merchant: NewMerchant
) -> None:
    """Merchant B reporting a qris credit of exactly A's final amount leaves A's payment pending;
    the credit is B's, unmatched, and invisible to A. A's own report of it pays."""
    a, b = merchant.test_api_key, other_merchant.test_api_key
    payment = create(client, a)
    foreign = report_one(client, b, credit(payment["final_amount"], "SHARED-1"))
    assert foreign["status"] == "unmatched"
    assert foreign["invoice_id"] is None
    assert foreign["late_for_invoice_id"] is None
    assert stored(db, payment["invoice_id"])["status"] == "pending"
    assert paid_events(db, payment["invoice_id"]) == 0
    assert [m["id"] for m in listed(client, b)["data"]] == [foreign["id"]]
    assert listed(client, a)["data"] == []
    assert_error(client.get(f"{MUTATIONS}/{foreign['id']}", headers=auth(a)), 404, "mutation_not_found")

    own = report_one(client, a, credit(payment["final_amount"], "SHARED-1"))
    assert own["duplicate"] is False  # B's report does not make A's a repeat
    assert own["status"] == "matched"
    assert own["invoice_id"] == payment["invoice_id"]
    assert paid_events(db, payment["invoice_id"]) == 1


def test_an_own_channel_credit_lands_in_the_reporters_own_account(
    client: TestClient, db: Database, subscribed_merchant: NewMerchant, other_merchant: NewMerchant
) -> None:
    """An ovo payment is paid by its merchant's ovo credit only: not by another merchant's ovo
    credit, nor by a credit of the same amount on another channel."""
    key = subscribed_merchant.test_api_key
    payment = create(client, key, payment_method="ovo")
    final = payment["final_amount"]
    assert report_one(client, other_merchant.test_api_key, credit(final, channel="ovo"))["status"] == "unmatched"
    assert report_one(client, key, credit(final, channel="qris"))["status"] == "unmatched"
    assert report_one(client, key, credit(final, channel="gopay_qris"))["status"] == "unmatched"
    assert stored(db, payment["invoice_id"])["status"] == "pending"

    shown = report_one(client, key, credit(final, channel="ovo"))
    assert shown["status"] == "matched"
    assert shown["invoice_id"] == payment["invoice_id"]
    assert paid_events(db, payment["invoice_id"]) == 1


def test_a_live_credit_never_pays_a_test_payment(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """Test and live are separate books: a live key's credit leaves the test payment pending and
    shows only under the live key; the test key's credit pays it."""
    payment = create(client, merchant.test_api_key)
    live = report_one(client, merchant.live_api_key, credit(payment["final_amount"], "MODE-1"))
    assert live["status"] == "unmatched"
    assert live["mode"] == "live"
    assert stored(db, payment["invoice_id"])["status"] == "pending"
    assert listed(client, merchant.test_api_key)["data"] == []
    assert [m["id"] for m in listed(client, merchant.live_api_key)["data"]] == [live["id"]]

    test = report_one(client, merchant.test_api_key, credit(payment["final_amount"], "MODE-1"))
    assert test["duplicate"] is False
    assert test["status"] == "matched"
    assert paid_events(db, payment["invoice_id"]) == 1


# --- when the money came --------------------------------------------------------------------


def test_credits_reported_before_a_payment_exists_never_pay_it(
    client: TestClient, db: Database, merchant: NewMerchant
) -> None:
    """Credits of every final amount a payment of A could get (A+1 … A+999), reported before the
    payment exists, leave it pending; reporting them again does not either. A new credit pays."""
    key = merchant.test_api_key
    amount = 30000
    early = [credit(amount + code, f"EARLY-{code}") for code in range(1, 1000)]
    first = report(client, key, early)
    assert first["summary"] == {"matched": 0, "unmatched": 999, "late": 0, "duplicate": 0}

    payment = create(client, key, amount=amount)
    assert amount < payment["final_amount"] <= amount + 999
    assert stored(db, payment["invoice_id"])["status"] == "pending"

    again = report(client, key, early)
    assert again["summary"] == {"matched": 0, "unmatched": 0, "late": 0, "duplicate": 999}
    assert all(m["status"] == "unmatched" for m in again["mutations"])
    assert stored(db, payment["invoice_id"])["status"] == "pending"
    assert paid_events(db, payment["invoice_id"]) == 0
    assert mutation_count(db) == 999

    fresh = report_one(client, key, credit(payment["final_amount"], "FRESH-1"))
    assert fresh["status"] == "matched"
    assert paid_events(db, payment["invoice_id"]) == 1


def test_a_credit_that_occurred_before_the_payment_does_not_pay_it(
    client: TestClient, db: Database, settings: Settings, merchant: NewMerchant
) -> None:
    """occurred_at more than mutation_clock_grace (120 s) before created_at: unmatched; exactly
    120 s before: forgiven clock skew, it pays (paid_at is then the payment's creation)."""
    key = merchant.test_api_key
    created = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=300)
    payment = create_at(db, settings, key, created)
    too_early = credit(
        payment["final_amount"], "SKEW-121", occurred_at=int((created - timedelta(seconds=121)).timestamp())
    )
    assert report_one(client, key, too_early)["status"] == "unmatched"
    assert stored(db, payment["invoice_id"])["status"] == "pending"

    in_grace = credit(
        payment["final_amount"], "SKEW-120", occurred_at=int((created - timedelta(seconds=120)).timestamp())
    )
    shown = report_one(client, key, in_grace)
    assert shown["status"] == "matched"
    row = stored(db, payment["invoice_id"])
    assert row["status"] == "paid"
    assert row["paid_at"] == created
    assert paid_events(db, payment["invoice_id"]) == 1


def test_a_credit_after_expiry_is_late_and_pays_nothing(
    client: TestClient, db: Database, settings: Settings, merchant: NewMerchant
) -> None:
    """A credit for a payment that had expired is kept as late, naming the payment: whether the
    payment was still pending on disk (it is expired now, with its event) or already expired."""
    key = merchant.test_api_key
    now = datetime.now(UTC)
    stale = create_at(db, settings, key, now - timedelta(minutes=20))  # expired 5 minutes ago
    swept = create_at(db, settings, key, now - timedelta(hours=2))
    assert client.get(f"/v1/payments/{swept['invoice_id']}", headers=auth(key)).json()["payment"]["status"] == "expired"

    answer = report(client, key, [credit(stale["final_amount"], "LATE-1"), credit(swept["final_amount"], "LATE-2")])
    assert answer["summary"] == {"matched": 0, "unmatched": 0, "late": 2, "duplicate": 0}
    first, second = answer["mutations"]
    assert (first["status"], first["late_for_invoice_id"], first["invoice_id"]) == ("late", stale["invoice_id"], None)
    assert (second["status"], second["late_for_invoice_id"]) == ("late", swept["invoice_id"])
    for payment in (stale, swept):
        assert stored(db, payment["invoice_id"])["status"] == "expired"
        assert event_types(db, payment["invoice_id"]) == ["payment.created", "payment.expired"]
    unmatched = listed(client, key, matched="false")["data"]
    assert {m["reference"] for m in unmatched} == {"LATE-1", "LATE-2"}

    # Reported again, each late credit answers what it did; nothing more happens.
    with writes_nothing(db):
        again = report(client, key, [credit(stale["final_amount"], "LATE-1")])
    assert again["mutations"][0]["duplicate"] is True
    assert again["mutations"][0]["status"] == "late"
    assert again["mutations"][0]["late_for_invoice_id"] == stale["invoice_id"]


def test_a_credit_from_within_the_payments_life_pays_it_even_when_reported_after_expiry(
    client: TestClient, db: Database, settings: Settings, merchant: NewMerchant
) -> None:
    """The payment's life is judged at the credit's occurred_at: money that came 10 minutes ago,
    while the (now overdue, still pending) payment was valid, pays it; paid_at is occurred_at."""
    key = merchant.test_api_key
    now = datetime.now(UTC).replace(microsecond=0)
    payment = create_at(db, settings, key, now - timedelta(minutes=20))
    occurred = now - timedelta(minutes=10)
    shown = report_one(client, key, credit(payment["final_amount"], occurred_at=iso(occurred)))
    assert shown["status"] == "matched"
    row = stored(db, payment["invoice_id"])
    assert row["status"] == "paid"
    assert row["paid_at"] == occurred
    assert event_types(db, payment["invoice_id"]) == ["payment.created", "payment.paid"]


def test_the_grace_after_expiry_is_exact(
    client: TestClient, db: Database, settings: Settings, merchant: NewMerchant
) -> None:
    """Money that came 119 s after expires_at is forgiven clock skew and pays; 120 s after is late."""
    key = merchant.test_api_key
    created = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    forgiven = create_at(db, settings, key, created, amount=20000)
    missed = create_at(db, settings, key, created, amount=30000)
    expired_at = created + timedelta(seconds=settings.payment_ttl)
    assert stored(db, forgiven["invoice_id"])["expires_at"] == expired_at
    answer = report(
        client,
        key,
        [
            credit(forgiven["final_amount"], "GRACE-119", occurred_at=iso(expired_at + timedelta(seconds=119))),
            credit(missed["final_amount"], "GRACE-120", occurred_at=iso(expired_at + timedelta(seconds=120))),
        ],
    )
    assert [m["status"] for m in answer["mutations"]] == ["matched", "late"]
    assert stored(db, forgiven["invoice_id"])["status"] == "paid"
    assert stored(db, missed["invoice_id"])["status"] == "expired"


def test_a_credit_long_after_an_expired_payment_is_not_late_for_it(
    client: TestClient, db: Database, settings: Settings, merchant: NewMerchant
) -> None:
    """Beyond mutation_late_window (24 h) after the expiry, a credit is unmatched, not late."""
    key = merchant.test_api_key
    payment = create_at(db, settings, key, datetime.now(UTC) - timedelta(days=3))
    assert (
        client.get(f"/v1/payments/{payment['invoice_id']}", headers=auth(key)).json()["payment"]["status"] == "expired"
    )
    shown = report_one(client, key, credit(payment["final_amount"]))
    assert shown["status"] == "unmatched"
    assert shown["late_for_invoice_id"] is None


def test_the_late_window_holds_for_a_payment_nobody_expired_yet(
    client: TestClient, db: Database, settings: Settings, merchant: NewMerchant
) -> None:
    """Whether the sweeper already expired a payment must not change what a credit 3 days after
    its expiry is: unmatched, as in the test above, not late."""
    key = merchant.test_api_key
    payment = create_at(db, settings, key, datetime.now(UTC) - timedelta(days=3))  # still pending on disk
    shown = report_one(client, key, credit(payment["final_amount"]))
    assert shown["status"] == "unmatched"
    assert shown["late_for_invoice_id"] is None


def test_a_cancelled_payment_is_never_paid_by_a_later_credit(
    client: TestClient, db: Database, merchant: NewMerchant
) -> None:
    """Cancelled first, credited after: the credit is unmatched (not late) and the payment stays
    cancelled with no payment.paid event."""
    key = merchant.test_api_key
    payment = create(client, key)
    cancel(client, key, payment["invoice_id"])
    shown = report_one(client, key, credit(payment["final_amount"]))
    assert shown["status"] == "unmatched"
    assert shown["late_for_invoice_id"] is None
    assert stored(db, payment["invoice_id"])["status"] == "cancelled"
    assert event_types(db, payment["invoice_id"]) == ["payment.created", "payment.cancelled"]


def test_occurred_at_formats(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """Unix seconds (number or digits), ISO 8601 with Z or an offset, and a bare
    'YYYY-MM-DD HH:MM:SS' read as WIB are the same moment."""
    key = merchant.test_api_key
    moment = datetime(2026, 4, 16, 5, 25, 30, tzinfo=UTC)
    forms = [
        int(moment.timestamp()),
        str(int(moment.timestamp())),
        "2026-04-16T05:25:30Z",
        "2026-04-16T12:25:30+07:00",
        "2026-04-16 12:25:30",
    ]
    answer = report(client, key, [credit(5000, occurred_at=form) for form in forms])
    assert [m["occurred_at"] for m in answer["mutations"]] == ["2026-04-16 12:25:30"] * len(forms)
    for shown in answer["mutations"]:
        assert stored_mutation(db, shown["id"])["occurred_at"] == moment


def test_occurred_at_a_little_ahead_is_forgiven(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """A source whose clock runs up to mutation_clock_grace ahead is accepted."""
    key = merchant.test_api_key
    payment = create(client, key)
    ahead = datetime.now(UTC) + timedelta(seconds=60)
    assert report_one(client, key, credit(payment["final_amount"], occurred_at=iso(ahead)))["status"] == "matched"


# --- refusals: all or nothing ---------------------------------------------------------------

BAD_CREDITS: list[Any] = [
    # (overrides of a good credit; None removes the field), code, field
    pytest.param({"amount": 0}, "invalid_amount", "amount", id="amount-0"),
    pytest.param({"amount": -1}, "invalid_amount", "amount", id="amount-negative"),
    pytest.param({"amount": 1.5}, "invalid_amount", "amount", id="amount-fraction"),
    pytest.param({"amount": 5000.0}, "invalid_amount", "amount", id="amount-float"),
    pytest.param({"amount": "abc"}, "invalid_amount", "amount", id="amount-text"),
    pytest.param({"amount": True}, "invalid_amount", "amount", id="amount-bool"),
    pytest.param({"amount": "1.000"}, "invalid_amount", "amount", id="amount-separator"),
    pytest.param({"amount": None}, "invalid_amount", "amount", id="amount-missing"),
    pytest.param({"amount": [5000]}, "invalid_amount", "amount", id="amount-list"),
    pytest.param({"amount": 10_000_000_001}, "invalid_amount", "amount", id="amount-huge"),
    pytest.param({"channel": "bca"}, "invalid_channel", "channel", id="channel-unknown"),
    pytest.param({"channel": "QRIS"}, "invalid_channel", "channel", id="channel-case"),
    pytest.param({"channel": None}, "invalid_channel", "channel", id="channel-missing"),
    pytest.param({"channel": ""}, "invalid_channel", "channel", id="channel-empty"),
    pytest.param({"channel": 7}, "invalid_channel", "channel", id="channel-number"),
    pytest.param(
        {"channel": ["qris"]},
        "invalid_channel",
        "channel",
        id="channel-list",
    ),
    pytest.param(
        {"channel": {"id": "qris"}},
        "invalid_channel",
        "channel",
        id="channel-object",
    ),
    pytest.param({"reference": None}, "missing_reference", "reference", id="reference-missing"),
    pytest.param({"reference": ""}, "missing_reference", "reference", id="reference-empty"),
    pytest.param({"reference": "   "}, "missing_reference", "reference", id="reference-blank"),
    pytest.param({"reference": True}, "missing_reference", "reference", id="reference-bool"),
    pytest.param({"reference": ["X"]}, "missing_reference", "reference", id="reference-list"),
    pytest.param({"reference": "R" * 101}, "invalid_reference", "reference", id="reference-101"),
    pytest.param({"reference": "A\nB"}, "invalid_reference", "reference", id="reference-control"),
    pytest.param({"occurred_at": "yesterday"}, "invalid_occurred_at", "occurred_at", id="time-words"),
    pytest.param({"occurred_at": "2026-02-30 10:00:00"}, "invalid_occurred_at", "occurred_at", id="time-no-day"),
    pytest.param({"occurred_at": "16/04/2026 12:00"}, "invalid_occurred_at", "occurred_at", id="time-dmy"),
    pytest.param({"occurred_at": 1776316800.5}, "invalid_occurred_at", "occurred_at", id="time-fraction"),
    pytest.param({"occurred_at": True}, "invalid_occurred_at", "occurred_at", id="time-bool"),
    pytest.param({"occurred_at": {"t": 1}}, "invalid_occurred_at", "occurred_at", id="time-object"),
    pytest.param({"occurred_at": 10**15}, "invalid_occurred_at", "occurred_at", id="time-unix-out-of-range"),
    pytest.param(
        {"occurred_at": "0001-01-01 00:00:00"},
        "invalid_occurred_at",
        "occurred_at",
        id="time-before-utc-year-1",
    ),
    pytest.param(
        {"occurred_at": "9999-12-31T23:00:00-05:00"},
        "invalid_occurred_at",
        "occurred_at",
        id="time-after-year-9999",
    ),
    pytest.param({"description": "d" * 501}, "invalid_description", "description", id="description-501"),
    pytest.param({"description": 5}, "invalid_description", "description", id="description-number"),
    pytest.param({"description": ["x"]}, "invalid_description", "description", id="description-list"),
]


def _bad(overrides: dict[str, Any]) -> dict[str, Any]:
    item = credit(25000, "GOOD-REF", occurred_at="2026-01-01 10:00:00", description="ok")
    for name, value in overrides.items():
        if value is None:
            item.pop(name)
        else:
            item[name] = value
    return item


@pytest.mark.parametrize(("overrides", "code", "field"), BAD_CREDITS)
def test_a_bad_credit_is_400_and_stores_nothing(
    lenient: TestClient, db: Database, merchant: NewMerchant, overrides: dict[str, Any], code: str, field: str
) -> None:
    """Each invalid field of a single credit answers 400 with its code and field; no row changes."""
    with writes_nothing(db):
        response = lenient.post(MUTATIONS, headers=auth(merchant.test_api_key), json=_bad(overrides))
    assert_error(response, 400, code, field)


@pytest.mark.parametrize(("overrides", "code", "field"), BAD_CREDITS)
def test_one_bad_credit_in_a_batch_refuses_the_whole_batch(
    lenient: TestClient, db: Database, merchant: NewMerchant, overrides: dict[str, Any], code: str, field: str
) -> None:
    """A batch whose third item is bad stores nothing, not even the good credit that would pay a
    payment; the error names mutations[2].<field>."""
    key = merchant.test_api_key
    response = lenient.post(CREATE, headers=auth(key), json={"amount": 40000})
    payment = response.json()["payment"]
    batch = [credit(payment["final_amount"]), credit(1111), _bad(overrides), credit(2222)]
    with writes_nothing(db):
        response = lenient.post(MUTATIONS, headers=auth(key), json={"mutations": batch})
    assert_error(response, 400, code, f"mutations[2].{field}")
    assert stored(db, payment["invoice_id"])["status"] == "pending"


def test_an_occurred_at_in_the_future_is_refused(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """More than mutation_clock_grace ahead of Kasir's clock: 400 occurred_at_in_future."""
    ahead = int((datetime.now(UTC) + timedelta(minutes=10)).timestamp())
    with writes_nothing(db):
        response = client.post(MUTATIONS, headers=auth(merchant.test_api_key), json=credit(5000, occurred_at=ahead))
    assert_error(response, 400, "occurred_at_in_future", "occurred_at")


def test_an_accepted_ancient_occurred_at_does_not_crash_matching(
    lenient: TestClient, db: Database, merchant: NewMerchant
) -> None:
    """occurred_at 0001-01-01T00:00:00Z parses; Kasir must then either refuse it (400
    invalid_occurred_at) or keep it unmatched, never answer 500."""
    response = lenient.post(
        MUTATIONS, headers=auth(merchant.test_api_key), json=credit(5000, occurred_at="0001-01-01T00:00:00Z")
    )
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert_error(response, 400, "invalid_occurred_at", "occurred_at")
    else:
        assert response.json()["mutations"][0]["status"] == "unmatched"


def test_a_pre_1000_occurred_at_is_refused_or_stays_readable(
    request: pytest.FixtureRequest, backend: str, lenient: TestClient, db: Database, merchant: NewMerchant
) -> None:
    """A credit dated in year 999 must be refused (400) or, once stored, still listable and
    repeatable without a 500."""
    key = merchant.test_api_key
    item = credit(5000, "ANCIENT-1", occurred_at="0999-06-01T00:00:00Z")
    response = lenient.post(MUTATIONS, headers=auth(key), json=item)
    if response.status_code == 400:
        assert_error(response, 400, "invalid_occurred_at", "occurred_at")
        return
    assert response.status_code == 200, response.text
    assert lenient.get(MUTATIONS, headers=auth(key)).status_code == 200
    assert lenient.post(MUTATIONS, headers=auth(key), json=item).status_code == 200


def test_a_description_that_is_not_unicode_text_is_400(
    lenient: TestClient, db: Database, merchant: NewMerchant
) -> None:
    body = b'{"channel": "qris", "amount": 5000, "reference": "SURR-1", "description": "a\\ud800b"}'
    with writes_nothing(db):
        response = lenient.post(
            MUTATIONS, headers={**auth(merchant.test_api_key), "Content-Type": "application/json"}, content=body
        )
    assert_error(response, 400, "invalid_description", "description")


def test_a_description_with_a_nul_character_does_not_crash(
    request: pytest.FixtureRequest, backend: str, lenient: TestClient, db: Database, merchant: NewMerchant
) -> None:
    """A NUL in the description is refused, 400 control_character naming the field, on both
    databases (PostgreSQL cannot store one, SQLite did); never a 500, nothing written."""
    with writes_nothing(db):
        response = lenient.post(
            MUTATIONS, headers=auth(merchant.test_api_key), json=credit(5000, "NUL-1", description="a\u0000b")
        )
    assert_error(response, 400, "control_character", "description")


def test_ids_with_a_nul_character_are_not_found_rather_than_a_crash(
    request: pytest.FixtureRequest, backend: str, lenient: TestClient, db: Database, merchant: NewMerchant
) -> None:
    """A NUL in a mutation id, an invoice id or a forwarder id is refused before any lookup:
    400 control_character, never a 500, nothing written."""
    key = merchant.test_api_key
    stray = report_one(lenient, key, credit(5000))
    with writes_nothing(db):
        assert_error(lenient.get(f"{MUTATIONS}/mut_%00", headers=auth(key)), 400, "control_character", "path")
        assert_error(assign(lenient, key, stray["id"], "PAY-a\u0000b"), 400, "control_character", "invoice_id")
        assert_error(sandbox_pay(lenient, key, "PAY-a%00b"), 400, "control_character", "path")
        forwarded = forward(lenient, "fwd_%00", b"{}", "sha256=00")
        assert_error(forwarded, 400, "control_character", "path")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param([], "empty_batch", id="empty-list"),
        pytest.param({"mutations": []}, "empty_batch", id="empty-mutations"),
        pytest.param("qris 50000", "invalid_body", id="json-string"),
        pytest.param(42, "invalid_body", id="json-number"),
        pytest.param(None, "invalid_body", id="json-null"),
        pytest.param({"mutations": "all of them"}, "invalid_body", id="mutations-string"),
    ],
)
def test_a_body_that_is_not_credits_is_400(
    client: TestClient, db: Database, merchant: NewMerchant, body: Any, code: str
) -> None:
    with writes_nothing(db):
        response = client.post(
            MUTATIONS,
            headers={**auth(merchant.test_api_key), "Content-Type": "application/json"},
            content=json.dumps(body).encode(),
        )
    assert_error(response, 400, code)


def test_a_batch_item_that_is_not_an_object_is_named(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    with writes_nothing(db):
        response = client.post(MUTATIONS, headers=auth(merchant.test_api_key), json=[credit(5000), "oops"])
    assert_error(response, 400, "invalid_body", "mutations[1]")


def test_invalid_json_is_400(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    with writes_nothing(db):
        response = client.post(
            MUTATIONS,
            headers={**auth(merchant.test_api_key), "Content-Type": "application/json"},
            content=b'{"channel": "qris", "amount": 5000,',
        )
    assert_error(response, 400, "invalid_json")


def test_reporting_needs_an_api_key(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    with writes_nothing(db):
        response = client.post(MUTATIONS, json=credit(5000))
    assert_error(response, 401, "missing_api_key")


# --- big batches and the body limit ---------------------------------------------------------


def _described_batch(count: int, prefix: str) -> list[dict[str, Any]]:
    """``count`` distinct credits of ~500 bytes each (a statement export with long remarks)."""
    return [credit(100_000 + i, f"{prefix}-{i:05d}", description="x" * 400) for i in range(count)]


def test_a_batch_of_1000_credits_beyond_64_kib_goes_through(
    client: TestClient, db: Database, merchant: NewMerchant
) -> None:
    """1,000 credits (about half a megabyte) are one request; the one of them that pays does."""
    key = merchant.test_api_key
    payment = create(client, key, amount=100_000)
    batch = _described_batch(1000, "BIG")
    batch[0] = credit(payment["final_amount"], "BIG-PAYS")
    body = json.dumps(batch).encode()
    assert len(body) > 64 * 1024 * 4
    response = client.post(MUTATIONS, headers={**auth(key), "Content-Type": "application/json"}, content=body)
    assert response.status_code == 200, response.text
    summary = response.json()["summary"]
    assert summary["matched"] == 1
    assert summary["matched"] + summary["unmatched"] == 1000
    assert mutation_count(db) == 1000
    assert stored(db, payment["invoice_id"])["status"] == "paid"


def test_1001_credits_are_too_many(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    with writes_nothing(db):
        response = client.post(MUTATIONS, headers=auth(merchant.test_api_key), json=_described_batch(1001, "MANY"))
    assert_error(response, 400, "too_many_mutations")


def test_a_mutation_body_over_1_mib_is_413(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    body = b'{"mutations": [' + b" " * (1024 * 1024) + b"]}"
    with writes_nothing(db):
        response = client.post(
            MUTATIONS, headers={**auth(merchant.test_api_key), "Content-Type": "application/json"}, content=body
        )
    assert_error(response, 413, "payload_too_large")


def test_other_routes_keep_the_64_kib_limit(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    body = json.dumps({"amount": 50000, "description": "x" * (70 * 1024)}).encode()
    with writes_nothing(db):
        response = client.post(
            CREATE, headers={**auth(merchant.test_api_key), "Content-Type": "application/json"}, content=body
        )
    assert_error(response, 413, "payload_too_large")


# --- listing and reading --------------------------------------------------------------------


def test_listing_filters_and_pages_newest_first(
    client: TestClient, db: Database, settings: Settings, subscribed_merchant: NewMerchant, other_merchant: NewMerchant
) -> None:
    key = subscribed_merchant.test_api_key
    payment = create(client, key)
    expired = create_at(db, settings, key, datetime.now(UTC) - timedelta(hours=1))
    ids = [
        report_one(client, key, credit(payment["final_amount"], "L-matched"))["id"],
        report_one(client, key, credit(expired["final_amount"], "L-late"))["id"],
        report_one(client, key, credit(1001, "L-stray-1"))["id"],
        report_one(client, key, credit(1002, "L-stray-2", channel="ovo"))["id"],
        report_one(client, key, credit(1003, "L-stray-3"))["id"],
    ]
    report(client, other_merchant.test_api_key, credit(1004))  # someone else's
    report(client, subscribed_merchant.live_api_key, credit(1005))  # the other mode's

    everything = listed(client, key)
    assert [m["id"] for m in everything["data"]] == ids[::-1]
    assert everything["pagination"] == {"page": 1, "limit": 20, "total": 5, "total_pages": 1}
    assert [m["reference"] for m in listed(client, key, matched="true")["data"]] == ["L-matched"]
    assert [m["reference"] for m in listed(client, key, matched="false")["data"]] == [
        "L-stray-3",
        "L-stray-2",
        "L-stray-1",
        "L-late",
    ]
    assert [m["reference"] for m in listed(client, key, status="late")["data"]] == ["L-late"]
    assert [m["reference"] for m in listed(client, key, status="unmatched", channel="qris")["data"]] == [
        "L-stray-3",
        "L-stray-1",
    ]
    assert [m["reference"] for m in listed(client, key, channel="ovo")["data"]] == ["L-stray-2"]

    pages = [listed(client, key, limit=2, page=page) for page in (1, 2, 3, 4)]
    assert [[m["id"] for m in p["data"]] for p in pages] == [ids[4:2:-1], ids[2:0:-1], ids[:1], []]
    assert pages[0]["pagination"] == {"page": 1, "limit": 2, "total": 5, "total_pages": 3}
    assert listed(client, key, limit=1000)["pagination"]["limit"] == 100


def test_the_list_is_under_data_as_every_v1_list_and_under_mutations_too(
    client: TestClient, subscribed_merchant: NewMerchant
) -> None:
    """Every list under /v1 answers its items under "data"; /v1/mutations also keeps "mutations",
    the same list, for the clients written against it."""
    key = subscribed_merchant.test_api_key
    payment = create(client, key, callback_url=CALLBACK)  # a payment.created event and its delivery
    report_one(client, key, credit(payment["final_amount"], "K-1"))
    report_one(client, key, credit(1001, "K-2"))

    answer = listed(client, key)
    assert [m["reference"] for m in answer["data"]] == ["K-2", "K-1"]
    assert answer["mutations"] == answer["data"]
    assert set(answer) == {"success", "data", "mutations", "pagination"}

    [delivery] = client.get("/v1/deliveries", headers=auth(key)).json()["data"]
    lists = ["/v1/events", "/v1/deliveries", f"/v1/deliveries/{delivery['id']}/attempts", "/v1/endpoints"]
    lists += ["/v1/files", "/v1/contents", "/v1/images", MUTATIONS]
    for path in lists:
        response = client.get(path, headers=auth(key))
        assert response.status_code == 200, (path, response.text)
        assert isinstance(response.json()["data"], list), path


@pytest.mark.parametrize(
    ("params", "code", "field"),
    [
        ({"matched": "maybe"}, "invalid_parameter", "matched"),
        ({"status": "paid"}, "invalid_parameter", "status"),
        ({"channel": "bca"}, "invalid_channel", "channel"),
        ({"page": "0"}, "invalid_parameter", "page"),
        ({"page": "abc"}, "invalid_parameter", "page"),
        ({"limit": "-1"}, "invalid_parameter", "limit"),
    ],
)
def test_listing_refuses_bad_filters(
    client: TestClient, db: Database, merchant: NewMerchant, params: dict[str, str], code: str, field: str
) -> None:
    response = client.get(MUTATIONS, headers=auth(merchant.test_api_key), params=params)
    assert_error(response, 400, code, field)


def test_one_mutation_is_readable_by_its_merchant_and_mode_only(
    client: TestClient, db: Database, merchant: NewMerchant, other_merchant: NewMerchant
) -> None:
    key = merchant.test_api_key
    payment = create(client, key)
    shown = report_one(client, key, credit(payment["final_amount"], "READ-1"))
    response = client.get(f"{MUTATIONS}/{shown['id']}", headers=auth(key))
    assert response.status_code == 200, response.text
    assert response.json()["mutation"] == {k: v for k, v in shown.items() if k != "duplicate"}
    for other_key in (other_merchant.test_api_key, merchant.live_api_key):
        assert_error(client.get(f"{MUTATIONS}/{shown['id']}", headers=auth(other_key)), 404, "mutation_not_found")
    assert_error(client.get(f"{MUTATIONS}/mut_000000000000000000000000", headers=auth(key)), 404, "mutation_not_found")


# --- assigning by hand ----------------------------------------------------------------------


def test_assigning_an_unmatched_credit_pays_the_payment(
    client: TestClient, db: Database, merchant: NewMerchant
) -> None:
    """An underpayment (unmatched) assigned by hand: the payment is paid with the credit's amount
    and reference, settled_by manual, one payment.paid event due to its callback_url."""
    key = merchant.test_api_key
    payment = create(client, key, callback_url=CALLBACK)
    short = report_one(client, key, credit(payment["final_amount"] - 500, "SHORT-1"))
    assert short["status"] == "unmatched"

    response = assign(client, key, short["id"], payment["invoice_id"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mutation"]["id"] == short["id"]
    assert body["mutation"]["status"] == "matched"
    assert body["mutation"]["settled_by"] == "manual"
    assert body["mutation"]["invoice_id"] == payment["invoice_id"]
    assert body["payment"]["status"] == "paid"
    assert body["payment"]["paid_amount"] == payment["final_amount"] - 500
    assert body["payment"]["paid_reff_num"] == "SHORT-1"
    assert event_types(db, payment["invoice_id"]) == ["payment.created", "payment.paid"]
    assert paid_deliveries(db, payment["invoice_id"]) == [CALLBACK]
    assert client.get(f"{MUTATIONS}/{short['id']}", headers=auth(key)).json()["mutation"]["status"] == "matched"
    assert [m["id"] for m in listed(client, key, matched="false")["data"]] == []
    # Reported again, the credit answers what it is now: matched to that payment, by hand.
    with writes_nothing(db):
        again = report_one(client, key, credit(payment["final_amount"] - 500, "SHORT-1"))
    assert (again["duplicate"], again["status"], again["invoice_id"]) == (True, "matched", payment["invoice_id"])
    assert again["settled_by"] == "manual"


def test_assigning_a_late_credit_pays_the_expired_payment(
    client: TestClient, db: Database, settings: Settings, merchant: NewMerchant
) -> None:
    key = merchant.test_api_key
    payment = create_at(db, settings, key, datetime.now(UTC) - timedelta(minutes=30))
    late = report_one(client, key, credit(payment["final_amount"], "LATE-9"))
    assert late["status"] == "late"
    assert stored(db, payment["invoice_id"])["status"] == "expired"

    response = assign(client, key, late["id"], payment["invoice_id"])
    assert response.status_code == 200, response.text
    assert response.json()["mutation"]["status"] == "matched"
    assert response.json()["mutation"]["late_for_invoice_id"] is None
    assert response.json()["payment"]["status"] == "paid"
    assert stored(db, payment["invoice_id"])["paid_reff_num"] == "LATE-9"
    assert event_types(db, payment["invoice_id"]) == ["payment.created", "payment.expired", "payment.paid"]


def test_assign_refusals_change_nothing(
    client: TestClient, db: Database, subscribed_merchant: NewMerchant, other_merchant: NewMerchant
) -> None:
    key = subscribed_merchant.test_api_key
    paid = create(client, key)
    matched = report_one(client, key, credit(paid["final_amount"]))
    pending = create(client, key)
    cancelled = create(client, key)
    cancel(client, key, cancelled["invoice_id"])
    stray = report_one(client, key, credit(999_999))
    ovo_stray = report_one(client, key, credit(999_998, channel="ovo"))
    foreign_payment = create(client, other_merchant.test_api_key)
    foreign_mutation = report_one(client, other_merchant.test_api_key, credit(999_997))

    with writes_nothing(db):
        assert_error(assign(client, key, matched["id"], pending["invoice_id"]), 409, "mutation_already_matched")
        assert_error(assign(client, key, stray["id"], paid["invoice_id"]), 409, "payment_not_payable")
        assert_error(assign(client, key, stray["id"], cancelled["invoice_id"]), 409, "payment_not_payable")
        assert_error(assign(client, key, ovo_stray["id"], pending["invoice_id"]), 409, "channel_mismatch")
        assert_error(assign(client, key, stray["id"], "PAY-nobody-1-AAAAAA"), 404, "payment_not_found")
        assert_error(assign(client, key, stray["id"], foreign_payment["invoice_id"]), 404, "payment_not_found")
        assert_error(assign(client, key, foreign_mutation["id"], pending["invoice_id"]), 404, "mutation_not_found")
        live = assign(client, subscribed_merchant.live_api_key, stray["id"], pending["invoice_id"])
        assert_error(live, 404, "mutation_not_found")
        missing = client.post(f"{MUTATIONS}/{stray['id']}/assign", headers=auth(key), json={})
        assert missing.status_code == 400, missing.text
        blank = client.post(f"{MUTATIONS}/{stray['id']}/assign", headers=auth(key), json={"invoice_id": "  "})
        assert blank.status_code == 400, blank.text
    assert stored(db, pending["invoice_id"])["status"] == "pending"
    assert paid_events(db, paid["invoice_id"]) == 1


def test_a_payment_is_assigned_once(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """Two unmatched credits assigned to one payment: the second is refused."""
    key = merchant.test_api_key
    payment = create(client, key)
    first = report_one(client, key, credit(payment["final_amount"] - 1))
    second = report_one(client, key, credit(payment["final_amount"] - 2))
    assert assign(client, key, first["id"], payment["invoice_id"]).status_code == 200
    with writes_nothing(db):
        assert_error(assign(client, key, second["id"], payment["invoice_id"]), 409, "payment_not_payable")
        assert_error(assign(client, key, first["id"], payment["invoice_id"]), 409, "mutation_already_matched")
    assert paid_events(db, payment["invoice_id"]) == 1


# --- the sandbox ----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["qris", "ovo"])
def test_the_sandbox_pays_a_test_payment_through_matching(
    client: TestClient, db: Database, subscribed_merchant: NewMerchant, method: str
) -> None:
    """The sandbox reports a credit of the exact final amount on the payment's own channel; it
    pays through matching (source sandbox, one payment.paid) and only once."""
    key = subscribed_merchant.test_api_key
    payment = create(client, key, payment_method=method)
    response = sandbox_pay(client, key, payment["invoice_id"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mutation"]["source"] == "sandbox"
    assert body["mutation"]["channel"] == method
    assert body["mutation"]["status"] == "matched"
    assert body["mutation"]["amount"] == payment["final_amount"]
    assert body["mutation"]["reference"].startswith("SANDBOX-")
    assert body["mutation"]["invoice_id"] == payment["invoice_id"]
    assert body["payment"]["status"] == "paid"
    assert body["payment"]["paid_reff_num"] == body["mutation"]["reference"]
    assert event_types(db, payment["invoice_id"]) == ["payment.created", "payment.paid"]

    with writes_nothing(db):
        assert_error(sandbox_pay(client, key, payment["invoice_id"]), 409, "payment_not_pending")
    assert paid_events(db, payment["invoice_id"]) == 1


def test_the_sandbox_refuses_live_keys(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    payment = create(client, merchant.live_api_key)
    with writes_nothing(db):
        response = sandbox_pay(client, merchant.live_api_key, payment["invoice_id"])
    assert_error(response, 403, "sandbox_test_mode_only")
    assert stored(db, payment["invoice_id"])["status"] == "pending"


def test_the_sandbox_with_another_amount_leaves_the_payment_pending(
    client: TestClient, db: Database, merchant: NewMerchant
) -> None:
    key = merchant.test_api_key
    payment = create(client, key)
    response = sandbox_pay(client, key, payment["invoice_id"], {"amount": payment["final_amount"] - 1})
    assert response.status_code == 200, response.text
    assert response.json()["mutation"]["status"] == "unmatched"
    assert response.json()["payment"]["status"] == "pending"
    assert stored(db, payment["invoice_id"])["status"] == "pending"
    assert paid_events(db, payment["invoice_id"]) == 0


def test_the_sandbox_refuses_what_it_cannot_pay(
    client: TestClient, db: Database, settings: Settings, merchant: NewMerchant, other_merchant: NewMerchant
) -> None:
    key = merchant.test_api_key
    cancelled = create(client, key)
    cancel(client, key, cancelled["invoice_id"])
    overdue = create_at(db, settings, key, datetime.now(UTC) - timedelta(minutes=20))
    pending = create(client, key)
    foreign = create(client, other_merchant.test_api_key)
    with writes_nothing(db):
        assert_error(sandbox_pay(client, key, cancelled["invoice_id"]), 409, "payment_not_pending")
        assert_error(sandbox_pay(client, key, overdue["invoice_id"]), 409, "payment_not_pending")
        assert_error(sandbox_pay(client, key, foreign["invoice_id"]), 404, "payment_not_found")
        assert_error(sandbox_pay(client, key, "PAY-nobody-1-AAAAAA"), 404, "payment_not_found")
        for amount in (0, -5, "abc", "1.5", True):
            response = sandbox_pay(client, key, pending["invoice_id"], {"amount": amount})
            assert_error(response, 400, "invalid_amount", "amount")


# --- the signed forwarder -------------------------------------------------------------------


def test_forwarder_setup_shows_the_secret_once(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    key = merchant.test_api_key
    assert_error(client.get(FORWARDER, headers=auth(key)), 404, "forwarder_not_configured")
    forwarder = setup_forwarder(client, key)
    assert forwarder["id"].startswith("fwd_")
    assert forwarder["url"] == f"http://kasir.test/v1/forwarders/{forwarder['id']}/mutations"
    assert forwarder["secret"]
    assert forwarder["mode"] == "test"
    shown = client.get(FORWARDER, headers=auth(key)).json()["forwarder"]
    assert shown["id"] == forwarder["id"]
    assert "secret" not in shown
    assert forwarder["secret"] not in json.dumps(shown)
    assert shown["secret_hint"]
    # The live mode has a forwarder of its own.
    assert_error(client.get(FORWARDER, headers=auth(merchant.live_api_key)), 404, "forwarder_not_configured")


def test_a_signed_forward_pays_like_the_api(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    key = merchant.test_api_key
    forwarder = setup_forwarder(client, key)
    payment = create(client, key)
    body = json.dumps({"mutations": [credit(payment["final_amount"], "FWD-1")]}).encode()
    assert sign(forwarder["secret"], body) == signature(forwarder["secret"], body)
    response = forward(client, forwarder["id"], body, signature(forwarder["secret"], body))
    assert response.status_code == 200, response.text
    [shown] = response.json()["mutations"]
    assert shown["source"] == "forwarder"
    assert shown["status"] == "matched"
    assert shown["invoice_id"] == payment["invoice_id"]
    assert paid_events(db, payment["invoice_id"]) == 1

    # A replay of the same signed request is a repeat, not a second payment.
    replay = forward(client, forwarder["id"], body, signature(forwarder["secret"], body))
    assert replay.json()["mutations"][0]["duplicate"] is True
    # The same credit reported through the API is the same credit too.
    via_api = report_one(client, key, credit(payment["final_amount"], "FWD-1"))
    assert (via_api["duplicate"], via_api["id"], via_api["source"]) == (True, shown["id"], "forwarder")
    assert paid_events(db, payment["invoice_id"]) == 1
    assert mutation_count(db) == 1


def test_a_forwarder_reports_for_its_own_merchant_and_mode(
    client: TestClient, db: Database, merchant: NewMerchant, other_merchant: NewMerchant
) -> None:
    """The live forwarder's credit does not pay a test payment; another merchant's forwarder does
    not pay this merchant's payment."""
    payment = create(client, merchant.test_api_key)
    for key in (merchant.live_api_key, other_merchant.test_api_key):
        forwarder = setup_forwarder(client, key)
        body = json.dumps(credit(payment["final_amount"])).encode()
        response = forward(client, forwarder["id"], body, signature(forwarder["secret"], body))
        assert response.status_code == 200, response.text
        assert response.json()["mutations"][0]["status"] == "unmatched"
    assert stored(db, payment["invoice_id"])["status"] == "pending"


def test_forwarder_signature_failures_store_nothing(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    key = merchant.test_api_key
    forwarder = setup_forwarder(client, key)
    payment = create(client, key)
    body = json.dumps(credit(payment["final_amount"])).encode()
    secret = forwarder["secret"]
    with writes_nothing(db):
        assert_error(forward(client, forwarder["id"], body, None), 401, "missing_signature")
        assert_error(forward(client, forwarder["id"], body, ""), 401, "missing_signature")
        assert_error(forward(client, forwarder["id"], body, signature("wrong", body)), 401, "invalid_signature")
        tampered = body.replace(b'"qris"', b'"ovo"')
        assert_error(forward(client, forwarder["id"], tampered, signature(secret, body)), 401, "invalid_signature")
        assert_error(forward(client, forwarder["id"], body, "sha256=zz"), 401, "invalid_signature")
        assert_error(forward(client, forwarder["id"], body, "sha256=ü".encode()), 401, "invalid_signature")
        assert_error(
            forward(client, "fwd_000000000000000000000000", body, signature(secret, body)), 404, "forwarder_not_found"
        )
        # An API key is no substitute for the signature.
        response = client.post(
            f"/v1/forwarders/{forwarder['id']}/mutations",
            content=body,
            headers={**auth(key), "Content-Type": "application/json"},
        )
        assert_error(response, 401, "missing_signature")
    assert stored(db, payment["invoice_id"])["status"] == "pending"


def test_a_signed_bad_body_is_refused_like_the_api(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    forwarder = setup_forwarder(client, merchant.test_api_key)
    for body, code in ((b"{oops", "invalid_json"), (json.dumps(credit(0)).encode(), "invalid_amount")):
        with writes_nothing(db):
            response = forward(client, forwarder["id"], body, signature(forwarder["secret"], body))
        assert_error(response, 400, code)


def test_a_forwarder_takes_big_batches_too(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """The forwarder ingress has the mutations' 1 MiB limit, not the 64 KiB of other routes."""
    forwarder = setup_forwarder(client, merchant.test_api_key)
    body = json.dumps(_described_batch(400, "FWD-BIG")).encode()
    assert len(body) > 64 * 1024 * 2
    response = forward(client, forwarder["id"], body, signature(forwarder["secret"], body))
    assert response.status_code == 200, response.text
    assert response.json()["summary"]["unmatched"] == 400
    assert mutation_count(db) == 400


def test_rotating_the_forwarder_secret_retires_the_old_one(
    client: TestClient, db: Database, merchant: NewMerchant
) -> None:
    key = merchant.test_api_key
    old = setup_forwarder(client, key)
    new = setup_forwarder(client, key)
    assert new["id"] == old["id"]
    assert new["secret"] != old["secret"]
    body = json.dumps(credit(5000)).encode()
    with writes_nothing(db):
        assert_error(forward(client, old["id"], body, signature(old["secret"], body)), 401, "invalid_signature")
    response = forward(client, new["id"], body, signature(new["secret"], body))
    assert response.status_code == 200, response.text
    assert mutation_count(db) == 1
