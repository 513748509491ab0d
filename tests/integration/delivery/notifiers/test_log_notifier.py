"""The default notifier (KASIR_NOTIFIER=log): buyer messages are written to the ``kasir.notify``
log instead of being sent, and count as delivered, so a shop can run WA Store orders before it
has a WhatsApp Business number. The buyer's number is masked in that log."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from kasir.config import Settings
from kasir.merchants.service import NewMerchant
from tests.integration.delivery.notifiers.conftest import (
    BUYER,
    StartWorker,
    attempt_log,
    create_order,
    finished,
    messages,
)
from tests.waiting import wait_until


def test_default_settings_write_the_message_to_the_log_with_the_number_masked(
    settings: Settings,
    merchant: NewMerchant,
    client: TestClient,
    start_worker: StartWorker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert settings.notifier == "log"
    caplog.set_level(logging.INFO, logger="kasir.notify")
    start_worker(settings)
    order = create_order(client, merchant)
    wait_until(finished(client, merchant, 1), what="the message delivered")

    [delivery] = messages(client, merchant)
    assert delivery["status"] == "succeeded"
    assert delivery["url"] == f"whatsapp:{BUYER}"
    [attempt] = attempt_log(client, merchant, delivery["id"])
    assert attempt["outcome"] == "succeeded"
    assert attempt["status_code"] == 200
    assert attempt["url"] == "log:kasir.notify"
    assert attempt["request_headers"]["X-Kasir-Recipient"] == "6281******890"

    [record] = [r for r in caplog.records if r.name == "kasir.notify"]
    assert record.levelno == logging.INFO
    text = record.getMessage()
    assert "6281******890" in text
    assert order["order_number"] in text
    assert "Halo Rahim, pesanan" in text
    assert "*Total: Rp 75.000*" in text
    assert order["payment_url"] in text
    # The full number is in no log line and not in the attempt log.
    assert BUYER not in caplog.text
    assert "081234567890" not in caplog.text
    assert BUYER not in str(attempt)


def test_each_step_is_logged_once_and_notify_false_is_not(
    settings: Settings,
    merchant: NewMerchant,
    client: TestClient,
    start_worker: StartWorker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="kasir.notify")
    start_worker(settings)
    key = {"X-API-Key": merchant.test_api_key}
    order = create_order(client, merchant, notify=False)
    assert client.post(f"/v1/sandbox/payments/{order['invoice_id']}/pay", headers=key).status_code == 200
    wait_until(finished(client, merchant, 1), what="the payment's message delivered")
    assert client.post(f"/v1/store/orders/{order['order_number']}/complete", headers=key, json={}).status_code == 200
    wait_until(finished(client, merchant, 2), what="two messages delivered")

    logged = [r.getMessage() for r in caplog.records if r.name == "kasir.notify"]
    assert len(logged) == 2
    assert "pembayaran pesanan" in logged[0]
    assert "telah selesai" in logged[1]
    assert all(order["order_number"] in line for line in logged)
