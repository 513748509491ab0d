"""The worker against real receivers on loopback sockets."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from kasir import dialects
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.db.tables import delivery_attempts, endpoints, events
from kasir.merchants.service import NewMerchant
from tests.integration.delivery.conftest import add_endpoint, delivery_rows, make_payments, set_callback
from tests.receivers import Receiver, Reply
from tests.waiting import wait_until
from tests.workers import RunningWorker

StartWorker = Callable[[Settings], RunningWorker]


def attempts(db: Database) -> Sequence[sa.Row[Any]]:
    return db.read_sync(lambda conn: conn.execute(sa.select(delivery_attempts).order_by(delivery_attempts.c.id)).all())


def test_a_payment_event_reaches_the_callback_url_signed_and_logged(
    db: Database, settings: Settings, merchant: NewMerchant, start_worker: StartWorker
) -> None:
    with Receiver() as receiver:
        secret = set_callback(db, merchant, receiver.url)
        start_worker(settings)
        [invoice] = make_payments(db, merchant, settings, 1)
        [request] = receiver.wait_for(1)
        event = dialects.get("bayargg").verify(request.body, request.headers, [secret])
        assert event.type == "payment.created"
        assert event.data["invoice_id"] == invoice
        assert request.headers["X-Invoice-ID"] == invoice
        wait_until(lambda: delivery_rows(db)[0].status == "succeeded")
        [attempt] = attempts(db)
        assert attempt.status_code == 200
        assert attempt.outcome == "succeeded"
        logged = json.loads(attempt.request_headers)
        assert logged["X-Webhook-Signature"] == "***"  # the log never shows a signature
        assert attempt.response_body == '{"status":"ok"}'


def test_failures_are_retried_with_the_same_event_id_until_2xx(
    db: Database, settings: Settings, merchant: NewMerchant, start_worker: StartWorker
) -> None:
    with Receiver(lambda n, _r: Reply(status=500 if n <= 2 else 200)) as receiver:
        endpoint = add_endpoint(db, merchant, receiver.url, dialect="standard")
        start_worker(settings.model_copy(update={"delivery_retry_schedule": [1, 1, 1]}))
        make_payments(db, merchant, settings, 1)
        requests = receiver.wait_for(3, timeout=20)
        ids = {r.headers["webhook-id"] for r in requests}
        assert len(ids) == 1  # the receiver can de-duplicate on it
        for r in requests:
            dialects.get("standard").verify(r.body, r.headers, [endpoint["secret"]])
        wait_until(lambda: delivery_rows(db)[0].status == "succeeded")
        assert [a.outcome for a in attempts(db)] == ["retrying", "retrying", "succeeded"]
        assert [a.status_code for a in attempts(db)] == [500, 500, 200]
        # Retries waited about a second each (±20 % jitter), not zero.
        assert requests[1].at - requests[0].at >= 0.75


def test_after_the_schedule_the_delivery_fails(
    db: Database, settings: Settings, merchant: NewMerchant, start_worker: StartWorker
) -> None:
    with Receiver(lambda _n, _r: Reply(status=503)) as receiver:
        add_endpoint(db, merchant, receiver.url)
        start_worker(settings.model_copy(update={"delivery_retry_schedule": [1]}))
        make_payments(db, merchant, settings, 1)
        receiver.wait_for(2, timeout=20)
        wait_until(lambda: delivery_rows(db)[0].status == "failed")
        assert [a.outcome for a in attempts(db)] == ["retrying", "failed"]
        time.sleep(1.5)
        assert len(receiver.requests) == 2  # nothing after the schedule


def test_410_disables_the_endpoint_and_tells_the_other_endpoints(
    db: Database, settings: Settings, merchant: NewMerchant, start_worker: StartWorker
) -> None:
    with Receiver(lambda _n, _r: Reply(status=410)) as gone, Receiver() as other:
        dead = add_endpoint(db, merchant, gone.url, event_types=["payment.created"])
        watcher = add_endpoint(db, merchant, other.url, event_types=["endpoint.disabled"])
        start_worker(settings)
        make_payments(db, merchant, settings, 1)
        [notice] = other.wait_for(1)
        event = dialects.get("standard").verify(notice.body, notice.headers, [watcher["secret"]])
        assert event.type == "endpoint.disabled"
        assert event.data["endpoint_id"] == dead["public_id"]
        row = db.read_sync(lambda conn: conn.execute(sa.select(endpoints).where(endpoints.c.id == dead["id"])).one())
        assert not row.enabled
        assert "410" in row.disabled_reason
        # A later event does not go to the disabled endpoint at all.
        make_payments(db, merchant, settings, 1, amount=20000)
        time.sleep(0.5)
        assert len(gone.requests) == 1


def test_retry_after_on_429_is_honoured(
    db: Database, settings: Settings, merchant: NewMerchant, start_worker: StartWorker
) -> None:
    replies = {1: Reply(status=429, headers={"Retry-After": "2"})}
    with Receiver(lambda n, _r: replies.get(n, Reply())) as receiver:
        add_endpoint(db, merchant, receiver.url)
        # The schedule alone would retry after ~1 s; Retry-After asks for 2.
        start_worker(settings.model_copy(update={"delivery_retry_schedule": [1, 1]}))
        make_payments(db, merchant, settings, 1)
        first, second = receiver.wait_for(2, timeout=20)
        assert second.at - first.at >= 1.9


def test_fifo_endpoint_delivers_in_event_order_and_a_failing_head_holds_the_rest(
    db: Database, settings: Settings, merchant: NewMerchant, start_worker: StartWorker
) -> None:
    with Receiver(lambda n, _r: Reply(status=500 if n == 1 else 200)) as receiver:
        add_endpoint(db, merchant, receiver.url, fifo=True)
        invoices = make_payments(db, merchant, settings, 5)
        start_worker(settings.model_copy(update={"delivery_retry_schedule": [1]}))
        requests = receiver.wait_for(6, timeout=20)
        order = [json.loads(r.body)["data"]["invoice_id"] for r in requests]
        assert order == [invoices[0], *invoices]  # the head twice (failed, retried), then the rest in order
        assert requests[1].at - requests[0].at >= 0.75  # nothing jumped ahead while the head waited


def test_custom_headers_are_sent_but_cannot_replace_the_signature(
    db: Database, settings: Settings, merchant: NewMerchant, start_worker: StartWorker
) -> None:
    with Receiver() as receiver:
        endpoint = add_endpoint(
            db, merchant, receiver.url, headers={"X-Shop": "kopi", "webhook-signature": "v1,forged"}
        )
        start_worker(settings)
        make_payments(db, merchant, settings, 1)
        [request] = receiver.wait_for(1)
        assert request.headers["X-Shop"] == "kopi"
        dialects.get("standard").verify(request.body, request.headers, [endpoint["secret"]])


def test_event_filter_and_undeliverable_event_types(
    db: Database, settings: Settings, merchant: NewMerchant, start_worker: StartWorker
) -> None:
    with Receiver() as only_paid, Receiver() as isikuota:
        add_endpoint(db, merchant, only_paid.url, event_types=["payment.paid"])
        add_endpoint(db, merchant, isikuota.url, dialect="isikuota")  # has no name for payment.created
        make_payments(db, merchant, settings, 2)
        assert delivery_rows(db) == []
        count = db.read_sync(lambda conn: conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one())
        assert count == 2  # the events exist; nobody asked for them


def test_a_slow_receiver_times_out_and_is_retried(
    db: Database, settings: Settings, merchant: NewMerchant, start_worker: StartWorker
) -> None:
    with Receiver(lambda n, _r: Reply(delay=1.5 if n == 1 else 0)) as receiver:
        add_endpoint(db, merchant, receiver.url)
        start_worker(settings.model_copy(update={"delivery_timeout": 0.5, "delivery_retry_schedule": [1]}))
        make_payments(db, merchant, settings, 1)
        receiver.wait_for(2, timeout=20)
        wait_until(lambda: delivery_rows(db)[0].status == "succeeded")
        first = attempts(db)[0]
        assert first.status_code is None
        assert "timed out" in first.error


def test_an_endpoint_rate_limit_spaces_deliveries_without_using_up_tries(
    db: Database, settings: Settings, merchant: NewMerchant, start_worker: StartWorker
) -> None:
    with Receiver() as receiver:
        add_endpoint(db, merchant, receiver.url, rate_limit=5)
        make_payments(db, merchant, settings, 15)
        start_worker(settings)
        requests = receiver.wait_for(15, timeout=20)
        # A one-second burst of 5, then 5 per second: 15 deliveries need about two seconds.
        assert requests[-1].at - requests[0].at >= 1.5
        wait_until(lambda: all(row.status == "succeeded" for row in delivery_rows(db)))
        assert all(row.attempts == 1 for row in delivery_rows(db))  # waiting for a token is not a try


def test_old_attempts_are_trimmed_by_the_retention_sweep(
    db: Database, settings: Settings, merchant: NewMerchant, start_worker: StartWorker
) -> None:
    import anyio

    from kasir.background.sweeps import sweep_once

    with Receiver() as receiver:
        add_endpoint(db, merchant, receiver.url)
        start_worker(settings)
        make_payments(db, merchant, settings, 2)
        wait_until(lambda: len(attempts(db)) == 2)
    old = attempts(db)[0].id
    db.write_sync(
        lambda conn: conn.execute(
            sa.update(delivery_attempts)
            .where(delivery_attempts.c.id == old)
            .values(started_at=attempts(db)[0].started_at.replace(year=2020))
        )
    )
    anyio.run(sweep_once, db, settings)
    remaining = [a.id for a in attempts(db)]
    assert len(remaining) == 1
    assert old not in remaining
