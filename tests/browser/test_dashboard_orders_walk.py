"""The orders area in Debian's Chromium, as a CASHIER on a phone (390×844) and on a laptop
(1280×800): a WA Store order is taken over the API and paid by the sandbox (test mode), another
waits for its payment; the cashier signs in, finds the paid one in the list (filtered by status),
opens it (the buyer's name and items, the number masked, no cancel button), marks it processing,
then completed, and its page and the list say completed. No JavaScript is needed, none errors,
and nothing is wider than the screen.

Screenshots of every page go to test-output/screenshots/ (test_cashier_completes_a_paid_order-*).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from kasir.clock import utcnow
from kasir.db.engine import Database
from kasir.merchants.service import NewMerchant
from kasir.team import users
from tests.browser.conftest import Phone
from tests.conftest import LiveServer
from tests.dashboard_helpers import LAPTOP, PASSWORD

CASHIER = "kasir@toko.test"
ITEMS = [
    {"name": "Kopi Susu Gula Aren 1 L", "quantity": 2, "price": 37500},
    {"name": "Roti Bakar Cokelat Keju", "quantity": 1, "price": 18000},
]


@pytest.fixture
def cashier(db: Database, merchant: NewMerchant) -> users.NewUser:
    return db.write_sync(
        lambda conn: users.create_user(conn, merchant.username, CASHIER, utcnow(), role="cashier", password=PASSWORD)
    )


def fits(page: Any) -> None:
    """Nothing overflows the screen's width."""
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]


def status_of(page: Any) -> str:
    return str(page.locator('[data-testid="status"]').get_attribute("data-status"))


@pytest.mark.parametrize("device", ["phone", "laptop"])
def test_cashier_completes_a_paid_order(
    device: str,
    open_phone: Callable[..., Phone],
    live_server: LiveServer,
    api: httpx.Client,
    cashier: users.NewUser,
    shoot: Callable[[Any, str], Any],
) -> None:
    made = api.post(
        "/v1/store/orders",
        json={"customer_name": "Rahim Hidayat", "customer_phone": "0812-3456-7890", "items": ITEMS, "notes": "es batu"},
    )
    assert made.status_code == 201, made.text
    order = made.json()["order"]
    number = order["order_number"]
    assert api.post(f"/v1/sandbox/payments/{order['invoice_id']}/pay").status_code == 200
    waiting = api.post(
        "/v1/store/orders",
        json={"customer_name": "Sari Dewi", "customer_phone": "081311112222", "items": ITEMS[:1]},
    ).json()["order"]["order_number"]

    browser = open_phone(**(LAPTOP if device == "laptop" else {}))
    page = browser.page
    base = live_server.url
    page.goto(f"{base}/dashboard/orders")
    assert "/dashboard/login" in page.url
    page.fill('input[name="email"]', CASHIER)
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')
    page.wait_for_url(f"{base}/dashboard/orders")
    assert page.locator("h1").inner_text() == "Pesanan WA Store"
    assert page.locator(f'tr[data-order="{number}"] [data-status="paid"]').is_visible()
    assert page.locator(f'tr[data-order="{waiting}"] [data-status="waiting_payment"]').is_visible()
    # A cashier's navigation: no goods, no webhooks.
    assert page.locator('nav.nav a[href="/dashboard/goods"]').count() == 0
    assert page.locator('nav.nav a[href="/dashboard/webhooks"]').count() == 0
    shoot(page, f"{device}-orders")
    fits(page)

    # "Sudah masuk?": only the paid ones.
    page.select_option('select[name="status"]', "paid")
    page.click('.filters button[type="submit"]')
    page.wait_for_url("**status=paid**")
    assert page.locator("table.orders tbody tr").count() == 1
    shoot(page, f"{device}-orders-paid")
    fits(page)

    page.click(f'tr[data-order="{number}"] a')
    page.wait_for_url(f"{base}/dashboard/orders/{number}")
    assert status_of(page) == "paid"
    assert "Rahim Hidayat" in page.locator('[data-field="customer_name"]').inner_text()
    assert "6281234567890" not in page.content()  # masked for the cashier
    assert "Roti Bakar Cokelat Keju" in page.locator('[data-testid="items"]').inner_text()
    assert page.locator('[data-field="payment_status"]').get_attribute("data-status") == "paid"
    assert page.locator("details.cancel").count() == 0
    assert page.locator('form[action$="/cancel"]').count() == 0
    assert page.locator('form[action$="/payment"]').count() == 0
    shoot(page, f"{device}-order-paid")
    fits(page)

    page.click('button[data-step="process"]')
    page.wait_for_url(f"**/dashboard/orders/{number}?done=process")
    assert status_of(page) == "processing"
    assert page.locator('[data-testid="done"]').inner_text() == "Pesanan ditandai diproses."
    assert page.locator('button[data-step="process"]').count() == 0
    shoot(page, f"{device}-order-processing")
    fits(page)

    page.click('button[data-step="complete"]')
    page.wait_for_url(f"**/dashboard/orders/{number}?done=complete")
    assert status_of(page) == "completed"
    assert page.locator('[data-testid="no-actions"]').is_visible()
    assert page.locator("details.cancel").count() == 0
    page.goto(f"{base}/dashboard/orders/{number}")
    assert status_of(page) == "completed"
    story = page.locator('[data-testid="story"] li').evaluate_all("items => items.map(i => i.dataset.step)")
    assert story == ["created", "paid", "processing", "completed"]
    assert page.locator('[data-testid="audit"] li').count() == 2
    shoot(page, f"{device}-order-completed")
    fits(page)

    page.goto(f"{base}/dashboard/orders")
    assert page.locator(f'tr[data-order="{number}"] [data-status="completed"]').is_visible()
    shoot(page, f"{device}-orders-after")
    assert api.get("/api/wa-store-orders.php", params={"order_number": number}).json()["data"]["status"] == "completed"
    assert [e for e in browser.errors if not e.startswith("Failed to load resource")] == []
