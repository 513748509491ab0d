"""The webhooks area in Debian's Chromium, on a phone (390×844) and a laptop (1280×800), with the
app's REAL background worker and a REAL local receiver that answers 500 first, then 200:

sign in; add the receiver as an endpoint through the form (its secret shown once); a payment paid
over the API → the callback log shows the failed attempt with the receiver's 500 answer; Resend →
the receiver gets it and the log shows it succeeded; Send test event (payment.expired) → the
receiver gets it and the page shows the answer; rotate the default secret (shown once).

Screenshots of every page go to test-output/screenshots/ (test_webhooks_flow-*).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from kasir.app import create_app
from kasir.clock import utcnow
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.merchants.service import NewMerchant
from kasir.team import users
from tests.browser.conftest import Phone
from tests.browser.page_checks import no_overflow, wait_for_text
from tests.conftest import LiveServer, auth
from tests.dashboard_helpers import LAPTOP, PASSWORD
from tests.receivers import Receiver, Reply


@pytest.fixture
def owner(db: Database, merchant: NewMerchant) -> users.NewUser:
    return db.write_sync(
        lambda conn: users.create_user(conn, merchant.username, "owner@toko.test", utcnow(), password=PASSWORD)
    )


@pytest.fixture
def working_server(settings: Settings, db: Database) -> Iterator[LiveServer]:
    """The app with its background tasks: the delivery worker sends for real. A retry an hour
    after a failure, so that only Resend sends it again within the test."""
    with_worker = settings.model_copy(update={"delivery_retry_schedule": [3600]})
    with LiveServer(create_app(with_worker, database=db)) as server:
        yield server


@pytest.mark.parametrize("device", ["phone", "laptop"])
def test_webhooks_flow(
    device: str,
    open_phone: Callable[..., Phone],
    working_server: LiveServer,
    merchant: NewMerchant,
    owner: users.NewUser,
    shoot: Callable[[Any, str], Any],
) -> None:
    def script(number: int, _received: Any) -> Reply:
        if number == 1:
            return Reply(status=500, body=b'{"error":"database toko mati"}')
        return Reply(status=200, body=b'{"status":"ok","diterima":true}')

    browser = open_phone(**(LAPTOP if device == "laptop" else {}))
    page = browser.page
    base = working_server.url
    with (
        Receiver(script) as receiver,
        httpx.Client(base_url=base, headers=auth(merchant.test_api_key), timeout=30) as api,
    ):
        page.goto(f"{base}/dashboard/webhooks")
        assert "/dashboard/login" in page.url
        page.fill('input[name="email"]', "owner@toko.test")
        page.fill('input[name="password"]', PASSWORD)
        page.click('button[type="submit"]')
        page.wait_for_url(f"{base}/dashboard/webhooks")
        assert page.locator("h1").inner_text() == "Webhook"
        assert merchant.test_webhook_secret not in page.content()
        shoot(page, f"{device}-webhooks")
        no_overflow(page)

        # Add the receiver as an endpoint, by the form.
        page.click("text=Tambah endpoint")
        shoot(page, f"{device}-new-endpoint")
        no_overflow(page)
        page.fill('input[name="url"]', receiver.url)
        page.fill('input[name="description"]', "server toko")
        page.select_option('select[name="dialect"]', "bayargg")
        page.check('input[name="event:payment.paid"]')
        page.check('input[name="event:payment.expired"]')
        page.fill('textarea[name="headers"]', "X-Toko: satu")
        page.click('#endpoint-form button[type="submit"]')
        secret = page.locator("[data-secret]").inner_text()
        assert secret.startswith("whsec_")
        [endpoint] = api.get("/v1/endpoints").json()["data"]
        assert endpoint["url"] == receiver.url
        assert endpoint["event_types"] == ["payment.expired", "payment.paid"]
        assert endpoint["secret_hint"] == secret[:8] + "***"
        shoot(page, f"{device}-endpoint-created")
        no_overflow(page)
        endpoint_url = f"{base}/dashboard/webhooks/endpoints/{endpoint['id']}"

        # A payment paid over the API: the worker sends, the receiver answers 500.
        created = api.post("/api/create-payment.php", json={"amount": 25000, "payment_method": "qris"})
        invoice = created.json()["payment"]["invoice_id"]
        assert api.post(f"/v1/sandbox/payments/{invoice}/pay").status_code == 200
        [first] = receiver.wait_for(1, timeout=30)
        assert json.loads(first.body)["invoice_id"] == invoice
        page.goto(f"{base}/dashboard/webhooks/deliveries")
        wait_for_text(page, "#log tbody", "HTTP 500")
        row = page.locator("#log tbody tr").first
        assert "payment.paid" in row.inner_text()
        shoot(page, f"{device}-log-failed")
        no_overflow(page)

        row.locator("a").first.click()
        attempt = page.locator('[data-attempt="1"]')
        assert attempt.locator('[data-outcome="retrying"]').count() == 1
        assert attempt.locator('dd[data-field="status"]').inner_text() == "500"
        assert "database toko mati" in attempt.inner_text()
        assert attempt.locator('td[data-header="x-webhook-signature"]').inner_text() == "***"
        assert first.headers["X-Webhook-Signature"] not in page.content()
        assert secret not in page.content()
        assert invoice in attempt.locator('[data-field="request-body"]').inner_text()
        shoot(page, f"{device}-delivery-failed")
        no_overflow(page)

        # Resend: the receiver gets it (and answers 200), the log shows it succeeded.
        page.click("text=Kirim ulang")
        receiver.wait_for(2, timeout=30)
        wait_for_text(page, '[data-attempt="2"]', "berhasil")
        assert page.locator('[data-attempt="2"] dd[data-field="status"]').inner_text() == "200"
        shoot(page, f"{device}-delivery-resent")
        no_overflow(page)
        page.goto(f"{base}/dashboard/webhooks/deliveries?status=succeeded")
        assert page.locator("#log tbody tr").count() == 1
        assert "HTTP 200" in page.locator("#log tbody tr").first.inner_text()
        shoot(page, f"{device}-log-succeeded")

        # Send a test event of a chosen type; the receiver gets it, the page shows its answer.
        page.goto(endpoint_url)
        page.select_option('select[name="event_type"]', "payment.expired")
        page.click('#tester button:has-text("Kirim event uji")')
        third = receiver.wait_for(3, timeout=30)[2]
        body = json.loads(third.body)
        assert body["event"] == "payment.expired"
        assert page.locator('#tester dd[data-field="status"]').inner_text().startswith("200")
        assert "diterima" in page.locator('#tester [data-field="body"]').inner_text()
        assert third.headers["X-Toko"] == "satu"
        shoot(page, f"{device}-test-event")
        no_overflow(page)

        # The delete confirmation (cancelled), then the default secret rotated: shown once.
        page.click("text=Hapus endpoint")
        page.wait_for_url(f"{endpoint_url}/delete")
        shoot(page, f"{device}-delete-confirm")
        page.get_by_role("link", name="Batal", exact=True).click()
        page.wait_for_url(endpoint_url)
        page.goto(f"{base}/dashboard/webhooks")
        page.click("text=Buat secret baru")
        revealed = page.locator("[data-secret]").inner_text()
        assert revealed.startswith("whsec_")
        shoot(page, f"{device}-secret-rotated")
        page.goto(f"{base}/dashboard/webhooks?lang=en")
        assert revealed not in page.content()
        assert page.locator("h1").inner_text() == "Webhooks"
        shoot(page, f"{device}-webhooks-en")
        no_overflow(page)
    assert [e for e in browser.errors if not e.startswith("Failed to load resource")] == []
