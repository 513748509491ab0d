"""Alert emails as deliveries, on SQLite and PostgreSQL: a real SMTP server that refuses (5xx,
then 4xx) makes the delivery retry on the schedule with the server's own reply in the attempt
log, until it accepts; a wrong password is a refused login, shown without the password; no SMTP
host configured writes the email to the ``kasir.notify`` log, as buyer messages are without a
WhatsApp number (docs/alerts.md)."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest

from kasir.alerts.service import raise_alert
from kasir.clock import utcnow
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.merchants.service import NewMerchant
from tests.conftest import table_dump
from tests.integration.alerts.conftest import (
    OWNER_EMAIL,
    SMTP_PASSWORD,
    SMTP_USER,
    StartWorker,
    alert_deliveries,
    alert_settings,
    all_sent,
    attempts_of,
)
from tests.mailbox import OK, Mailbox
from tests.waiting import wait_until

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

REFUSALS = {1: "550 5.7.1 Relaying denied for <pemilik@toko-satu.test>", 2: "451 4.3.0 Try again later"}


def raise_one(db: Database, merchant: NewMerchant) -> None:
    assert db.write_sync(
        lambda conn: raise_alert(
            conn,
            merchant_id=merchant.id,
            mode="test",
            cause="link_exhausted",
            subject="lnk_0123456789abcdef",
            summary="Tautan «Kopi Gayo 250 g» sudah dibayar 10 dari 10 kali.",
            page="/dashboard/links/lnk_0123456789abcdef",
            now=utcnow() - timedelta(seconds=1),
        )
    )


def only_email(db: Database, merchant: NewMerchant) -> None:
    """The owner's alerts by email only: the WhatsApp number is not set."""
    from kasir.alerts import recipients

    db.write_sync(lambda conn: recipients.save_recipients(conn, merchant.id, whatsapp=None, emails=None, now=utcnow()))


def test_an_smtp_refusal_is_retried_with_the_servers_reply_in_the_attempt_log(
    db: Database,
    merchant: NewMerchant,
    owner: int,
    settings: Settings,
    cloud_port: int,
    start_worker: StartWorker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="kasir")
    only_email(db, merchant)
    with Mailbox(lambda n: REFUSALS.get(n, OK), login=(SMTP_USER, SMTP_PASSWORD)) as box:
        start_worker(alert_settings(settings, cloud_port, box.port))
        raise_one(db, merchant)
        [mail] = box.wait_for(1, timeout=20)
        wait_until(all_sent(db, 1), timeout=20, what="the email delivered at the third try")

    assert box.tries == 3
    assert mail.recipients == [OWNER_EMAIL]
    assert "Tautan «Kopi Gayo 250 g» sudah dibayar 10 dari 10 kali." in mail.text
    assert "Lihat: http://kasir.test/dashboard/links/lnk_0123456789abcdef" in mail.text
    [delivery] = alert_deliveries(db)
    assert delivery["status"] == "succeeded"
    assert delivery["attempts"] == 3
    first, second, third = attempts_of(db, delivery["id"])
    assert (first["outcome"], first["status_code"]) == ("retrying", 550)
    assert first["error"] == (
        "the SMTP server refused the message: 550 5.7.1 Relaying denied for <pemilik@toko-satu.test>"
    )
    assert (second["outcome"], second["status_code"]) == ("retrying", 451)
    assert second["error"] == "the SMTP server refused the message: 451 4.3.0 Try again later"
    assert (third["outcome"], third["status_code"], third["error"]) == ("succeeded", 250, None)
    assert third["started_at"] - first["started_at"] >= timedelta(seconds=1.5)  # the schedule, ±20 %
    assert all(a["url"] == f"smtp://127.0.0.1:{box.port}" for a in (first, second, third))
    for attempt in (first, second, third):
        headers = json.loads(attempt["request_headers"])
        assert headers["To"] == "pe***@toko-satu.test"
        assert SMTP_PASSWORD not in json.dumps(attempt, default=str)
    assert SMTP_PASSWORD not in repr(table_dump(db))
    assert SMTP_PASSWORD not in caplog.text


def test_a_refused_login_is_a_failed_try_that_never_shows_the_password(
    db: Database,
    merchant: NewMerchant,
    owner: int,
    settings: Settings,
    cloud_port: int,
    start_worker: StartWorker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="kasir")
    only_email(db, merchant)
    with Mailbox(login=(SMTP_USER, "the-right-password-9")) as box:
        start_worker(alert_settings(settings, cloud_port, box.port, delivery_retry_schedule=[1]))
        raise_one(db, merchant)
        wait_until(all_sent(db, 1), timeout=20, what="the email given up on")
    assert box.mails == []
    # smtplib tries each mechanism the server offers (PLAIN, LOGIN) before it gives up a try.
    assert box.logins
    assert all(login == (SMTP_USER, False) for login in box.logins)
    [delivery] = alert_deliveries(db)
    assert delivery["status"] == "failed"
    attempts = attempts_of(db, delivery["id"])
    assert [a["outcome"] for a in attempts] == ["retrying", "failed"]
    for attempt in attempts:
        assert attempt["status_code"] == 535
        assert attempt["error"] == "the SMTP server refused the login: 535 5.7.8 Authentication credentials invalid"
    assert SMTP_PASSWORD not in repr(table_dump(db))
    assert SMTP_PASSWORD not in caplog.text


def test_without_an_smtp_host_the_email_is_written_to_the_log(
    db: Database,
    merchant: NewMerchant,
    owner: int,
    settings: Settings,
    start_worker: StartWorker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="kasir.notify")
    only_email(db, merchant)
    assert settings.smtp_host is None
    start_worker(settings)
    raise_one(db, merchant)
    wait_until(all_sent(db, 1), what="the email written to the log")
    [delivery] = alert_deliveries(db)
    assert delivery["status"] == "succeeded"
    [attempt] = attempts_of(db, delivery["id"])
    assert attempt["url"] == "log:kasir.notify"
    assert attempt["status_code"] == 200
    assert attempt["response_body"] == "written to the log (KASIR_SMTP_HOST is not set)"
    [record] = [r for r in caplog.records if r.name == "kasir.notify"]
    text = record.getMessage()
    assert "email to pe***@toko-satu.test (not sent: KASIR_SMTP_HOST is not set)" in text
    assert "[Kasir mode uji] Link pembayaran habis - Toko Satu" in text
    assert "Lihat: http://kasir.test/dashboard/links/lnk_0123456789abcdef" in text
    assert OWNER_EMAIL not in caplog.text
