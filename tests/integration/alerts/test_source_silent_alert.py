"""Issue 19's alert, end to end, on SQLite and PostgreSQL (docs/alerts.md): a phone stops
reporting, the health sweep marks it silent, and the owner gets exactly one WhatsApp message at a
real local Cloud-API-shaped server and one email at a real local SMTP server (aiosmtpd, with
AUTH), both sent by the real delivery worker; the sweep runs again and nothing is repeated within
the hour, not even when the phone comes back and goes quiet again; after the hour it alerts again.

The sweep runs on the clock the test hands it, so an hour passes without being waited out: the
story is set in the recent past (a message is due when its alert was raised, so the worker sends
it at once), ending now."""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta

import pytest

from kasir.clock import to_wire, utcnow
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.merchants.service import NewMerchant
from kasir.sources import health
from tests.conftest import table_dump
from tests.integration.alerts.conftest import (
    OWNER_EMAIL,
    OWNER_PHONE,
    PHONE_NUMBER_ID,
    SENDER,
    SMTP_PASSWORD,
    SMTP_USER,
    TOKEN,
    StartWorker,
    alert_deliveries,
    alert_rows,
    alert_settings,
    all_sent,
    attempts_of,
    live_source,
    sweep_sources,
)
from tests.mailbox import Mailbox
from tests.receivers import Receiver
from tests.waiting import wait_until

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

# Settle time for a message that should NOT come: the worker is woken by the commit at once and
# sends within milliseconds, so half a second of nothing is a clear "not sent".
QUIET = 0.5


@pytest.fixture
def alerting(settings: Settings, cloud_port: int, mailbox: Mailbox) -> Settings:
    return alert_settings(settings, cloud_port, mailbox.port)


def test_a_silent_source_sends_one_whatsapp_and_one_email_and_no_repeat_within_the_hour(
    db: Database,
    merchant: NewMerchant,
    owner: int,
    alerting: Settings,
    cloud: Receiver,
    mailbox: Mailbox,
    start_worker: StartWorker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="kasir")
    start = utcnow() - timedelta(minutes=30)
    source = live_source(db, merchant, start)
    start_worker(alerting)

    silent_at = start + timedelta(seconds=alerting.source_silent_after + 1)
    assert sweep_sources(db, alerting, silent_at) == 1
    [whatsapp] = cloud.wait_for(1)
    [mail] = mailbox.wait_for(1)
    wait_until(all_sent(db, 2), what="both alert messages delivered")

    # The WhatsApp message: a Cloud API text message to the owner, with the link to the source.
    link = f"http://kasir.test/dashboard/sources/{source['public_id']}"
    assert whatsapp.path == f"/{PHONE_NUMBER_ID}/messages"
    assert whatsapp.headers["Authorization"] == f"Bearer {TOKEN}"
    sent = json.loads(whatsapp.body)
    assert sent["to"] == OWNER_PHONE
    assert sent["type"] == "text"
    text = sent["text"]["body"]
    assert text.startswith("Peringatan Kasir untuk Toko Satu (MODE UJI)\n\n*Sumber pembayaran berhenti melapor*\n")
    assert f"Sumber «HP kasir depan» ({source['public_id']}) tidak melapor sejak {to_wire(start)} WIB" in text
    assert "kanal: gopay_qris." in text
    assert f"Lihat: {link}" in text
    assert sent["text"]["preview_url"] is True

    # The email: from the configured sender to the owner's sign-in address, the same words.
    assert mailbox.logins == [(SMTP_USER, True)]
    assert mail.sender == "alerts@kasir.test"
    assert mail.recipients == [OWNER_EMAIL]
    assert mail.message["From"] == SENDER
    assert mail.message["To"] == OWNER_EMAIL
    assert mail.message["Subject"] == "[Kasir mode uji] Sumber pembayaran berhenti melapor - Toko Satu"
    assert mail.message["Auto-Submitted"] == "auto-generated"
    assert f"Lihat: {link}" in mail.text
    assert "*" not in mail.text  # WhatsApp's bold marks are for WhatsApp

    # Both are deliveries like any other: succeeded, one attempt each, logged without secrets.
    [alert] = alert_rows(db)
    assert alert["cause"] == "source_silent"
    assert alert["subject"] == source["public_id"]
    assert alert["mode"] == "test"
    assert alert["page"] == f"/dashboard/sources/{source['public_id']}"
    by_url = {d["url"]: d for d in alert_deliveries(db)}
    assert set(by_url) == {f"whatsapp:{OWNER_PHONE}", f"email:{OWNER_EMAIL}"}
    assert all(d["status"] == "succeeded" and d["dialect"] == "notifier" for d in by_url.values())
    [email_attempt] = attempts_of(db, by_url[f"email:{OWNER_EMAIL}"]["id"])
    assert email_attempt["url"] == f"smtp://127.0.0.1:{mailbox.port}"
    assert email_attempt["status_code"] == 250
    assert email_attempt["response_body"].startswith("250 ")
    assert json.loads(email_attempt["request_headers"])["To"] == "pe***@toko-satu.test"

    # The sweep again, a minute on: the source is still silent, nothing new to say.
    assert sweep_sources(db, alerting, silent_at + timedelta(minutes=1)) == 0
    # The phone speaks, then goes quiet again within the hour: source.silent again, no alert.
    db.write_sync(lambda conn: health.sign_of_life(conn, source, silent_at + timedelta(minutes=2)))
    later = silent_at + timedelta(minutes=2, seconds=alerting.source_silent_after + 1)
    assert sweep_sources(db, alerting, later) == 1
    time.sleep(QUIET)
    assert len(cloud.requests) == 1
    assert len(mailbox.mails) == 1
    assert len(alert_rows(db)) == 1
    assert len(alert_deliveries(db)) == 2

    # Neither the SMTP password nor the Cloud API token is in any row or any log line.
    dump = repr(table_dump(db))
    assert SMTP_PASSWORD not in dump
    assert TOKEN not in dump
    assert SMTP_PASSWORD not in caplog.text
    assert TOKEN not in caplog.text


def test_after_an_hour_the_same_source_alerts_again(
    db: Database,
    merchant: NewMerchant,
    owner: int,
    alerting: Settings,
    cloud: Receiver,
    mailbox: Mailbox,
    start_worker: StartWorker,
) -> None:
    start = utcnow() - timedelta(minutes=70)
    source = live_source(db, merchant, start)
    start_worker(alerting)
    silent_after = timedelta(seconds=alerting.source_silent_after + 1)

    first = start + silent_after
    assert sweep_sources(db, alerting, first) == 1
    cloud.wait_for(1)
    mailbox.wait_for(1)

    # Back, and silent again 61 minutes after the first alert: a new alert, both messages again.
    back = first + timedelta(minutes=61) - silent_after
    db.write_sync(lambda conn: health.sign_of_life(conn, source, back))
    assert sweep_sources(db, alerting, back + silent_after) == 1
    cloud.wait_for(2)
    mailbox.wait_for(2)
    wait_until(all_sent(db, 4), what="the second alert's messages delivered")
    assert [a["cause"] for a in alert_rows(db)] == ["source_silent", "source_silent"]
    assert [a["subject"] for a in alert_rows(db)] == [source["public_id"]] * 2
