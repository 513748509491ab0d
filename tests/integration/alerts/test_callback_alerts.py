"""Alerts about callbacks, on SQLite and PostgreSQL (docs/alerts.md): an endpoint Kasir disables
by itself (the receiver answered 410 Gone, or nothing succeeded for KASIR_ENDPOINT_DISABLE_AFTER)
and callbacks failing for longer than KASIR_ALERT_CALLBACKS_FAILING_AFTER (the sweeper's periodic
check, for an endpoint and for the default callback URL), each reaching the owner's WhatsApp and
email through the real worker, with a link to the endpoint's page; once per failing streak.

Real receivers answer the callbacks (tests/receivers.py); the failing check runs on the clock
the test hands it."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import anyio
import pytest
import sqlalchemy as sa

from kasir.alerts.checks import check_failing_callbacks
from kasir.background.sweeps import sweep_once
from kasir.clock import to_wire, utcnow
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.db.tables import endpoints
from kasir.merchants.service import NewMerchant
from tests.integration.alerts.conftest import (
    StartWorker,
    alert_deliveries,
    alert_rows,
    alert_settings,
    all_sent,
)
from tests.integration.delivery.conftest import add_endpoint, make_payments, set_callback
from tests.mailbox import Mailbox
from tests.receivers import Receiver, Reply
from tests.waiting import wait_until

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@pytest.fixture
def alerting(settings: Settings, cloud_port: int, mailbox: Mailbox) -> Settings:
    return alert_settings(settings, cloud_port, mailbox.port)


def endpoint_row(db: Database, endpoint_id: int) -> dict[str, Any]:
    return db.read_sync(
        lambda conn: dict(conn.execute(sa.select(endpoints).where(endpoints.c.id == endpoint_id)).mappings().one())
    )


def whatsapp_text(request: Any) -> str:
    return str(json.loads(request.body)["text"]["body"])


def test_an_endpoint_disabled_by_a_410_alerts_the_owner_once(
    db: Database,
    merchant: NewMerchant,
    owner: int,
    alerting: Settings,
    cloud: Receiver,
    mailbox: Mailbox,
    start_worker: StartWorker,
) -> None:
    with Receiver(lambda _n, _r: Reply(status=410, body=b"gone")) as gone:
        endpoint = add_endpoint(db, merchant, gone.url + "/orders?token=rahasia-toko")
        start_worker(alerting)
        make_payments(db, merchant, alerting, 2)
        [request] = cloud.wait_for(1)
        [mail] = mailbox.wait_for(1)
        wait_until(all_sent(db, 2), what="the alert's messages delivered")

    assert endpoint_row(db, endpoint["id"])["enabled"] is False
    [alert] = alert_rows(db)
    assert alert["cause"] == "endpoint_disabled"
    assert alert["subject"] == endpoint["public_id"]
    page = f"http://kasir.test/dashboard/webhooks/endpoints/{endpoint['public_id']}"
    for text in (whatsapp_text(request), mail.text):
        assert "Endpoint webhook dinonaktifkan" in text
        assert f"Endpoint 127.0.0.1 ({endpoint['public_id']}) dinonaktifkan otomatis:" in text
        assert "server penerima menjawab 410 Gone" in text
        assert f"Lihat: {page}" in text
        # The endpoint's path and query (a token of the merchant's, maybe) are not repeated.
        assert "rahasia-toko" not in text
    assert mail.message["Subject"] == "[Kasir mode uji] Endpoint webhook dinonaktifkan - Toko Satu"


def test_an_endpoint_disabled_for_failing_too_long_alerts_the_owner(
    db: Database,
    merchant: NewMerchant,
    owner: int,
    alerting: Settings,
    cloud: Receiver,
    mailbox: Mailbox,
    start_worker: StartWorker,
) -> None:
    long_ago = utcnow() - timedelta(seconds=alerting.endpoint_disable_after + 60)
    with Receiver(lambda _n, _r: Reply(status=500, body=b"down")) as down:
        add_endpoint(db, merchant, down.url, failing_since=long_ago)
        start_worker(alerting)
        make_payments(db, merchant, alerting, 1)
        [request] = cloud.wait_for(1)
        mailbox.wait_for(1)
    [alert] = alert_rows(db)
    assert alert["cause"] == "endpoint_disabled"
    assert "tidak ada callback yang berhasil selama 5 hari" in whatsapp_text(request)


def test_callbacks_failing_longer_than_the_setting_alert_once_per_streak(
    db: Database,
    merchant: NewMerchant,
    owner: int,
    alerting: Settings,
    cloud: Receiver,
    mailbox: Mailbox,
    start_worker: StartWorker,
) -> None:
    after = alerting.alert_callbacks_failing_after
    with Receiver(lambda _n, _r: Reply(status=503, body=b"maintenance")) as down:
        endpoint = add_endpoint(db, merchant, down.url)
        start_worker(alerting)
        make_payments(db, merchant, alerting, 1)
        down.wait_for(1)
        wait_until(lambda: endpoint_row(db, endpoint["id"])["failing_since"] is not None, what="failing")
        since = endpoint_row(db, endpoint["id"])["failing_since"]

        # Not yet failing for long enough: nothing.
        assert (
            db.write_sync(lambda conn: check_failing_callbacks(conn, since + timedelta(seconds=after - 1), after)) == 0
        )
        # Now: the owner is told, once.
        late = since + timedelta(seconds=after + 1)
        assert db.write_sync(lambda conn: check_failing_callbacks(conn, late, after)) == 1
        # Still failing two hours on: the same streak, no second alert (the hourly cap would
        # allow one; the owner already knows).
        assert db.write_sync(lambda conn: check_failing_callbacks(conn, late + timedelta(hours=2), after)) == 0
        [alert] = alert_rows(db)
        assert alert["cause"] == "callbacks_failing"
        assert alert["subject"] == endpoint["public_id"]
        assert alert["summary"] == (
            f"Callback ke endpoint 127.0.0.1 ({endpoint['public_id']}) gagal sejak {to_wire(since)} WIB."
        )
        assert alert["page"] == f"/dashboard/webhooks/endpoints/{endpoint['public_id']}"
    # ``late`` is in the future: move the alert's messages to now, for the worker to send.
    db.write_sync(lambda conn: _due_now(conn))
    [request] = cloud.wait_for(1)
    [mail] = mailbox.wait_for(1)
    wait_until(all_sent(db, 2), what="the alert's messages delivered")
    assert "*Callback gagal terkirim*" in whatsapp_text(request)
    assert mail.message["Subject"] == "[Kasir mode uji] Callback gagal terkirim - Toko Satu"

    # A success ends the streak; a new streak, past the setting and the hour, alerts again.
    new_streak = late + timedelta(hours=3)
    db.write_sync(
        lambda conn: conn.execute(
            sa.update(endpoints).where(endpoints.c.id == endpoint["id"]).values(failing_since=new_streak)
        )
    )
    assert db.write_sync(lambda conn: check_failing_callbacks(conn, new_streak + timedelta(seconds=after), after)) == 1


def _due_now(conn: sa.Connection) -> None:
    from kasir.db.tables import deliveries

    conn.execute(
        sa.update(deliveries)
        .where(deliveries.c.dialect == "notifier", deliveries.c.status == "pending")
        .values(next_attempt_at=utcnow())
    )


def test_the_default_callback_url_failing_alerts_with_a_link_to_the_webhooks_page(
    db: Database,
    merchant: NewMerchant,
    owner: int,
    alerting: Settings,
    start_worker: StartWorker,
) -> None:
    after = alerting.alert_callbacks_failing_after
    with Receiver(lambda _n, _r: Reply(status=500, body=b"down")) as down:
        set_callback(db, merchant, down.url)
        start_worker(alerting)
        make_payments(db, merchant, alerting, 1)
        down.wait_for(1)
        wait_until(lambda: any(d["attempts"] for d in _callbacks(db)), what="a failed try recorded")
    [callback] = _callbacks(db)
    assert callback["status"] == "pending"
    created = callback["created_at"]
    late = created + timedelta(seconds=after + 1)
    assert db.write_sync(lambda conn: check_failing_callbacks(conn, late - timedelta(seconds=2), after)) == 0
    assert db.write_sync(lambda conn: check_failing_callbacks(conn, late, after)) == 1
    assert db.write_sync(lambda conn: check_failing_callbacks(conn, late + timedelta(hours=5), after)) == 0
    [alert] = alert_rows(db)
    assert alert["cause"] == "callbacks_failing"
    assert alert["subject"] == "callback_url"
    assert alert["page"] == "/dashboard/webhooks"
    assert alert["summary"] == f"Callback ke 127.0.0.1 (callback URL) gagal sejak {to_wire(created)} WIB."
    # Kasir's own messages are not callbacks: the alert's pending messages raise nothing more.
    assert len(alert_deliveries(db)) == 2


def _callbacks(db: Database) -> list[dict[str, Any]]:
    from kasir.db.tables import deliveries

    return db.read_sync(
        lambda conn: [
            dict(r)
            for r in conn.execute(
                sa.select(deliveries).where(deliveries.c.endpoint_id.is_(None), deliveries.c.dialect != "notifier")
            ).mappings()
        ]
    )


def test_the_sweeper_runs_the_failing_check(
    db: Database, merchant: NewMerchant, owner: int, alerting: Settings
) -> None:
    """One real sweeper pass raises the alert for an endpoint failing for two hours."""
    add_endpoint(db, merchant, "http://127.0.0.1:9/hook", failing_since=utcnow() - timedelta(hours=2))
    anyio.run(sweep_once, db, alerting)
    anyio.run(sweep_once, db, alerting)
    [alert] = alert_rows(db)
    assert alert["cause"] == "callbacks_failing"
    # A temporary endpoint of `kasir listen` (a developer's own machine) never alerts the owner.
    add_endpoint(
        db,
        merchant,
        "http://127.0.0.1:9/listen",
        failing_since=utcnow() - timedelta(hours=2),
        expires_at=utcnow() + timedelta(hours=1),
    )
    anyio.run(sweep_once, db, alerting)
    assert len(alert_rows(db)) == 1
