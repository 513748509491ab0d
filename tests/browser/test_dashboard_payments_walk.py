"""The payments area in Debian's Chromium, on a phone (390×844) and a laptop (1280×800): sign in,
see a payment created over the API in the list, filter, open it, pay it by the sandbox and watch
its timeline show the credit, create one by the form (refused first, values kept) and see its pay
link and QR, cancel one and see the audit line. No JavaScript is needed, none errors, and nothing
is wider than the screen.

Screenshots of every page go to test-output/screenshots/ (test_payments_area-*).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from kasir.clock import utcnow
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.merchants.service import NewMerchant
from kasir.team import users
from tests.browser.conftest import Phone
from tests.conftest import LiveServer
from tests.dashboard_helpers import EMAIL, LAPTOP, PASSWORD
from tests.receivers import Receiver
from tests.workers import RunningWorker


@pytest.fixture
def owner(db: Database, merchant: NewMerchant) -> users.NewUser:
    return db.write_sync(lambda conn: users.create_user(conn, merchant.username, EMAIL, utcnow(), password=PASSWORD))


@pytest.fixture
def receiver(db: Database, settings: Settings) -> Iterator[Receiver]:
    """The shop's callback receiver, and a real delivery worker sending to it."""
    with Receiver() as shop, RunningWorker(db, settings):
        yield shop


def fits(page: Any) -> None:
    """Nothing overflows the screen's width."""
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]


def rupiah(amount: int) -> str:
    return f"{amount:,}".replace(",", ".")


@pytest.mark.parametrize("device", ["phone", "laptop"])
def test_payments_area(
    device: str,
    open_phone: Callable[..., Phone],
    live_server: LiveServer,
    api: httpx.Client,
    owner: users.NewUser,
    shoot: Callable[[Any, str], Any],
    receiver: Receiver,
) -> None:
    endpoint = api.post("/v1/endpoints", json={"url": receiver.url, "event_types": ["payment.paid"]})
    assert endpoint.status_code == 201, endpoint.text
    browser = open_phone(**(LAPTOP if device == "laptop" else {}))
    page = browser.page
    base = live_server.url
    kopi = api.post(
        "/api/create-payment.php",
        json={"amount": 25000, "description": "Kopi susu gula aren 1 L", "customer_name": "Budi Santoso"},
    ).json()["payment"]
    teh = api.post("/api/create-payment.php", json={"amount": 12000, "description": "Teh manis"}).json()["payment"]

    page.goto(f"{base}/dashboard/payments")
    page.fill('input[name="email"]', EMAIL)
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')
    assert page.url.endswith("/dashboard/payments")  # back to the page asked for
    rows = page.locator("table.payments tbody tr")
    assert rows.count() == 2
    assert page.locator(f'tr[data-invoice="{kopi["invoice_id"]}"]').is_visible()
    assert page.locator('[data-testid="total"]').inner_text() == "2 pembayaran"
    fits(page)
    shoot(page, f"{device}-list")

    page.fill('input[name="search"]', "kopi")
    page.select_option('select[name="status"]', "pending")
    page.click('form.filters button[type="submit"]')
    assert "search=kopi" in page.url
    assert rows.count() == 1
    assert page.locator(f'tr[data-invoice="{teh["invoice_id"]}"]').count() == 0
    fits(page)
    shoot(page, f"{device}-list-filtered")

    page.click(f'a:has-text("{kopi["invoice_id"]}")')
    assert page.locator('[data-testid="status"]').inner_text() == "menunggu"
    final = rupiah(kopi["final_amount"])
    assert page.locator('[data-testid="final-amount"]').inner_text() == f"Rp {final}"
    assert page.locator('[data-testid="breakdown"]').inner_text() == f"Rp 25.000 + kode unik {kopi['unique_code']}"
    qr = page.locator('img[data-testid="qr"]')
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=qr.element_handle())
    assert page.locator('[data-step="paid"]').count() == 0
    fits(page)
    shoot(page, f"{device}-payment-pending")

    paid = api.post(f"/v1/sandbox/payments/{kopi['invoice_id']}/pay")
    assert paid.status_code == 200, paid.text
    page.reload()
    assert page.locator('[data-testid="status"]').inner_text() == "dibayar"
    credit = page.locator('[data-step="paid"] [data-testid="paid-by"]')
    assert credit.get_attribute("data-source") == "sandbox"
    reference = str(credit.get_attribute("data-reference"))
    assert reference.startswith("SANDBOX-")
    assert reference in credit.inner_text()
    assert page.locator('[data-type="payment.paid"]').is_visible()
    # The callback of payment.paid, delivered by the worker: its attempt shows with its status.
    receiver.wait_for(1, timeout=30)
    deadline = time.monotonic() + 30
    while page.locator('[data-type="payment.paid"] tr[data-attempt="1"]').count() == 0:
        assert time.monotonic() < deadline, "the delivery's attempt never showed"
        time.sleep(0.2)
        page.reload()
    assert "200" in page.locator('[data-type="payment.paid"] tr[data-attempt="1"]').inner_text()
    assert page.locator('[data-testid="cancel-form"]').count() == 0  # a paid payment cannot be cancelled
    fits(page)
    shoot(page, f"{device}-payment-paid")

    # A payment by the form: refused first (below the minimum), the values kept; then made.
    page.goto(f"{base}/dashboard/payments")
    page.click('[data-testid="new-payment"]')
    page.fill('input[name="amount"]', "5")
    page.fill('input[name="description"]', "Kue lapis legit")
    page.fill('input[name="customer_name"]', "Sari")
    page.fill('input[name="customer_email"]', "sari@contoh.id")
    shoot(page, f"{device}-new-form")
    page.click('[data-testid="new-payment-form"] button[type="submit"]')
    assert "amount for qris must be between" in page.locator('[data-testid="form-error"]').inner_text()
    assert page.input_value('input[name="description"]') == "Kue lapis legit"
    assert page.input_value('input[name="customer_email"]') == "sari@contoh.id"
    fits(page)
    shoot(page, f"{device}-new-refused")
    page.fill('input[name="amount"]', "30000")
    page.click('[data-testid="new-payment-form"] button[type="submit"]')
    assert "/dashboard/payments/PAY-" in page.url
    assert page.locator(".notice").inner_text().startswith("Pembayaran dibuat.")
    link = page.locator('[data-testid="pay-link"]')
    invoice = page.url.split("/dashboard/payments/")[1].split("?")[0]
    assert link.get_attribute("href") == f"http://kasir.test/pay?invoice={invoice}"
    qr = page.locator('img[data-testid="qr"]')
    page.wait_for_function("img => img.complete && img.naturalWidth >= 200", arg=qr.element_handle())
    assert page.locator('[data-field="customer_name"]').inner_text() == "Sari"
    fits(page)
    shoot(page, f"{device}-created")

    # Cancel it: behind a disclosure, then the audit line and the timeline say who.
    page.click("details.cancel summary")
    shoot(page, f"{device}-cancel-confirm")
    page.click('[data-testid="cancel-form"] button[type="submit"]')
    assert page.locator(".notice").inner_text() == "Pembayaran dibatalkan."
    assert page.locator('[data-testid="status"]').inner_text() == "dibatalkan"
    assert EMAIL in page.locator('[data-step="cancelled"]').inner_text()
    line = page.locator('[data-testid="audit"] li[data-action="payment.cancel"]')
    assert EMAIL in line.inner_text()
    assert api.get(f"/v1/payments/{invoice}").json()["payment"]["status"] == "cancelled"
    fits(page)
    shoot(page, f"{device}-cancelled")

    page.goto(f"{base}/dashboard/payments?lang=en")
    assert page.locator("h1").inner_text() == "Payments"
    assert page.locator("table.payments tbody tr").count() == 3
    fits(page)
    shoot(page, f"{device}-list-en")
    page.goto(f"{base}/dashboard/payments/{teh['invoice_id']}")
    assert page.locator("h2", has_text="Timeline").is_visible()
    shoot(page, f"{device}-payment-en")
    # No script error and no CSP violation (the refused form's 400 is logged as a failed load).
    assert [error for error in browser.errors if not error.startswith("Failed to load resource")] == []
