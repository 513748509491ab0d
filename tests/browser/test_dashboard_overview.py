"""The dashboard's first minutes in Debian's Chromium, on a phone (390×844) and a laptop (1280×800):
sign in, see a payment created over the API waiting, pay it by the sandbox and see the overview
count it (figures and the server-drawn chart), switch to live and back, sign out.

Screenshots of every step go to test-output/screenshots/ (test_sign_in_see_a_payment_paid_and_sign_out-*).
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


@pytest.fixture
def owner(db: Database, merchant: NewMerchant) -> users.NewUser:
    return db.write_sync(
        lambda conn: users.create_user(conn, merchant.username, "owner@toko.test", utcnow(), password=PASSWORD)
    )


def figure(page: Any, period: str, name: str) -> str:
    return str(page.locator(f'[data-period="{period}"] [data-figure="{name}"]').inner_text())


@pytest.mark.parametrize("device", ["phone", "laptop"])
def test_sign_in_see_a_payment_paid_and_sign_out(
    device: str,
    open_phone: Callable[..., Phone],
    live_server: LiveServer,
    api: httpx.Client,
    owner: users.NewUser,
    shoot: Callable[[Any, str], Any],
) -> None:
    browser = open_phone(**(LAPTOP if device == "laptop" else {}))
    page = browser.page
    page.goto(f"{live_server.url}/dashboard/payments")
    assert "/dashboard/login" in page.url  # no session: off to the sign-in, the page asked for kept
    shoot(page, f"{device}-sign-in")

    page.fill('input[name="email"]', "owner@toko.test")
    page.fill('input[name="password"]', "not-the-password")
    page.click('button[type="submit"]')
    assert page.locator(".error").inner_text() == "Email atau kata sandi salah."
    shoot(page, f"{device}-sign-in-refused")

    created = api.post("/api/create-payment.php", json={"amount": 25000, "payment_method": "qris"}).json()["payment"]
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')
    page.goto(f"{live_server.url}/dashboard")
    assert page.locator(".mode-badge").inner_text() == "MODE UJI"
    assert page.locator(".test-banner").is_visible()
    assert page.locator('[data-figure="pending"]').inner_text() == "1"
    assert figure(page, "today", "created") == "1"
    assert figure(page, "today", "paid") == "0"
    shoot(page, f"{device}-overview-pending")

    paid = api.post(f"/v1/sandbox/payments/{created['invoice_id']}/pay")
    assert paid.status_code == 200, paid.text
    page.reload()
    assert page.locator('[data-figure="pending"]').inner_text() == "0"
    assert figure(page, "today", "paid") == "1"
    amount = f"{created['final_amount']:,}".replace(",", ".")
    assert figure(page, "today", "received") == f"Rp {amount}"
    assert figure(page, "this_month", "received") == f"Rp {amount}"
    chart = page.locator("img.chart")
    chart.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=chart.element_handle())
    shoot(page, f"{device}-overview-paid")

    # Nothing overflows the phone's width: the page is usable at 390 px.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"]

    page.click("text=Pindah ke mode live")
    assert page.locator(".mode-badge").inner_text() == "MODE LIVE"
    assert page.locator(".test-banner").count() == 0
    assert page.locator('[data-figure="pending"]').inner_text() == "0"
    assert figure(page, "today", "paid") == "0"  # a page never mixes modes
    shoot(page, f"{device}-overview-live")
    page.click("text=Pindah ke mode uji")

    page.click("text=English")
    assert page.locator("h1").inner_text() == "Overview"
    page.click("text=Sign out")
    assert "/dashboard/login" in page.url
    assert page.locator(".notice").inner_text() == "You are signed out."
    page.goto(f"{live_server.url}/dashboard")
    assert "/dashboard/login" in page.url
    # No script error and no CSP violation (an HTTP status the test asked for, the refused
    # sign-in's 401, is logged too, and is not one).
    assert [error for error in browser.errors if not error.startswith("Failed to load resource")] == []
