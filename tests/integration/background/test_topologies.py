"""Every background duty runs in every topology (docs/architecture.md, "Background duties"):
`kasir serve` alone, and `kasir serve --no-worker` beside `kasir worker`, as real processes on a
real SQLite file and on PostgreSQL.

Each duty is shown by what it does to the database or to a real local receiver:

- delivery: ``payment.created`` reaches the receiver, signed;
- expiry: a payment past due becomes ``expired`` (and its ``payment.expired`` is delivered);
- mutation sources: the configured poller (tests/integration/background/pollers.py) reports a
  credit that pays a payment;
- source health: a payment source whose heartbeats stop goes ``silent``, ``source.silent`` is
  delivered and the owner is alerted;
- alerts: an endpoint failing for hours raises ``callbacks_failing``;
- housekeeping: an idempotency key older than its time to live is forgotten.

Before the background component, the poller ran nowhere in the second topology: the API node
ran none of the background, and ``kasir worker`` ran the delivery worker and the sweeper only.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from standardwebhooks import Webhook

from kasir.alerts.service import CALLBACKS_FAILING, SOURCE_SILENT
from kasir.clock import utcnow
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.db.tables import endpoints, idempotency_keys, mutations, owner_alerts, payment_sources, payments
from kasir.merchants.service import NewMerchant, authenticate
from kasir.payments.service import NewPayment, create_payment
from kasir.payments.views import PaymentRow
from tests.conftest import auth
from tests.faults.harness import REPO, WORKER_READY, KasirProcess, kasir_env, processes, serve, worker
from tests.integration.background import pollers
from tests.receivers import Receiver
from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(180)

SERVE_ALONE = "serve"
SPLIT = "serve --no-worker + worker"


def started(topology: str, env: dict[str, str], log_dir: Path) -> tuple[list[KasirProcess], str]:
    """The processes of ``topology`` and the base URL of its API node."""
    if topology == SERVE_ALONE:
        node, base = serve("serve", env, log_dir)
        return [node], base
    node, base = serve("api", env, log_dir, worker=False)
    return [node, worker("worker", env, log_dir)], base


@pytest.fixture
def merchant_key(subscribed_merchant: NewMerchant) -> str:
    return subscribed_merchant.test_api_key


def status_of(db: Database, invoice_id: str) -> str:
    return str(
        db.read_sync(
            lambda conn: conn.execute(
                sa.select(payments.c.status).where(payments.c.invoice_id == invoice_id)
            ).scalar_one()
        )
    )


def alerts_of(db: Database, merchant_id: int) -> set[str]:
    return set(
        db.read_sync(
            lambda conn: conn.execute(
                sa.select(owner_alerts.c.cause).where(owner_alerts.c.merchant_id == merchant_id)
            ).scalars()
        )
    )


def delivered_types(receiver: Receiver) -> list[str]:
    return [json.loads(request.body)["type"] for request in receiver.requests]


@pytest.fixture
def running(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The topology named by the test's parameter, up and ready: (its name, the API's URL)."""
    topology: str = request.param
    env = kasir_env(
        tmp_path / "home",
        database_url,
        # The test tree is importable by the processes, whatever their working directory.
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        KASIR_MUTATION_SOURCES=f"{pollers.HERE}:inbox",
        KASIR_SWEEP_INTERVAL="0.2",
        KASIR_SOURCE_SILENT_AFTER="1",
    )
    procs, base = started(topology, env, tmp_path)
    with processes(*procs):
        for proc in procs:
            proc.start()
        procs[0].wait_healthy(base)
        if len(procs) > 1:
            procs[1].wait_for_output(WORKER_READY)
        try:
            yield topology, base
        except BaseException:
            for proc in procs:
                print(f"--- {proc.name} ---\n{proc.tail()}")
            raise


@pytest.mark.parametrize("running", [SERVE_ALONE, SPLIT], indirect=True)
def test_every_background_duty_runs(
    running: tuple[str, str],
    db: Database,
    settings: Settings,
    subscribed_merchant: NewMerchant,
    tmp_path: Path,
) -> None:
    _topology, base = running
    key = subscribed_merchant.test_api_key
    with Receiver() as receiver, httpx.Client(base_url=base, headers=auth(key), timeout=15) as http:
        created = http.post(
            "/v1/endpoints", json={"url": receiver.url, "dialect": "standard", "event_types": ["payment.*", "source.*"]}
        )
        assert created.status_code == 201, created.text
        secret = created.json()["endpoint"]["secret"]

        # Delivery, and the poller: a payment, paid by a credit the poller reports.
        answer = http.post("/api/create-payment.php", json={"amount": 25000}, headers={"Idempotency-Key": "old-one"})
        assert answer.status_code == 200, answer.text
        payment = answer.json()["payment"]
        pollers.post(
            tmp_path / "home",
            {
                "mode": "test",
                "merchant_id": subscribed_merchant.id,
                "method": "qris",
                "amount": payment["final_amount"],
                "reference": "INBOX-1",
            },
        )

        # Expiry: a payment created long enough ago to be past due.
        def overdue(conn: sa.Connection) -> PaymentRow:
            caller = authenticate(conn, key)
            past = utcnow() - timedelta(seconds=settings.payment_ttl + 60)
            return create_payment(conn, caller, NewPayment(amount=31000), settings, past)

        expiring = db.write_sync(overdue)

        # Source health: a phone that spoke once, then fell quiet.
        made = http.post("/v1/sources", json={"name": "HP kasir", "apps": {"com.gojek.gopaymerchant": "gopay_qris"}})
        assert made.status_code == 200, made.text
        source = made.json()["source"]
        beat = http.post(
            f"/v1/sources/{source['id']}/heartbeat", headers={"Authorization": f"Bearer {source['token']}"}
        )
        assert beat.status_code == 200, beat.text

        # Alerts: an endpoint whose callbacks have failed for two hours (nothing is sent to it).
        failing = http.post("/v1/endpoints", json={"url": receiver.url + "/failing", "event_types": ["order.*"]})
        assert failing.status_code == 201, failing.text
        # Housekeeping: the create-payment's idempotency key, two days old.
        db.write_sync(
            lambda conn: (
                conn.execute(
                    sa.update(endpoints)
                    .where(endpoints.c.public_id == failing.json()["endpoint"]["id"])
                    .values(failing_since=utcnow() - timedelta(hours=2))
                ),
                conn.execute(
                    sa.update(idempotency_keys)
                    .where(idempotency_keys.c.key == "old-one")
                    .values(created_at=utcnow() - timedelta(days=2))
                ),
            )
        )

        wait_until(lambda: status_of(db, payment["invoice_id"]) == "paid", what="the poller's credit to pay")
        wait_until(lambda: status_of(db, expiring["invoice_id"]) == "expired", what="the overdue payment to expire")

        def source_state() -> str:
            return str(
                db.read_sync(
                    lambda conn: conn.execute(
                        sa.select(payment_sources.c.state).where(payment_sources.c.public_id == source["id"])
                    ).scalar_one()
                )
            )

        wait_until(lambda: source_state() == "silent", what="the quiet source to go silent")
        wait_until(
            lambda: {SOURCE_SILENT, CALLBACKS_FAILING} <= alerts_of(db, subscribed_merchant.id),
            what="the owner alerted about the silent source and the failing endpoint",
        )
        wait_until(
            lambda: (
                not db.read_sync(
                    lambda conn: (
                        conn.execute(sa.select(idempotency_keys.c.id).where(idempotency_keys.c.key == "old-one"))
                        .scalars()
                        .all()
                    )
                )
            ),
            what="the old idempotency key to be forgotten",
        )
        expected = {"payment.created", "payment.paid", "payment.expired", "source.silent"}
        wait_until(lambda: expected <= set(delivered_types(receiver)), what=f"{sorted(expected)} delivered")

    for request in receiver.requests:
        Webhook(secret).verify(request.body.decode(), request.headers)
    [credit] = db.read_sync(
        lambda conn: conn.execute(sa.select(mutations.c.source).where(mutations.c.reference == "INBOX-1")).all()
    )
    assert credit.source == f"source:{pollers.Inbox.name}"
