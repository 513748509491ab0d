"""Reconciliation and payment sources in Debian's Chromium, on a phone (390×844) and a laptop
(1280×800): a credit nobody's payment matches shows as unmatched and is assigned to a payment with
the confirmation step (the payment is paid, the audit line shows); a source is created, its
pairing QR shown once and scanned, its "phone" reports over HTTP with the token, and the source's
page shows the notification and turns live.

Screenshots of every page go to test-output/screenshots/ (test_reconcile_and_pair_a_phone-*).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from kasir.clock import utcnow
from kasir.db.engine import Database
from kasir.merchants.service import NewMerchant
from kasir.qris.image import read_codes
from kasir.team import users
from tests.browser.conftest import Phone
from tests.conftest import LiveServer
from tests.dashboard_helpers import EMAIL, LAPTOP, PASSWORD

GOPAY_MERCHANT = "com.gojek.gopaymerchant"


@pytest.fixture
def owner(db: Database, subscribed_merchant: NewMerchant) -> users.NewUser:
    return db.write_sync(
        lambda conn: users.create_user(conn, subscribed_merchant.username, EMAIL, utcnow(), password=PASSWORD)
    )


def dotted(amount: int) -> str:
    return f"{amount:,}".replace(",", ".")


def fits(page: Any) -> None:
    """Nothing overflows the page's width (usable at 390 px)."""
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"], page.url


@pytest.mark.parametrize("device", ["phone", "laptop"])
def test_reconcile_and_pair_a_phone(
    device: str,
    open_phone: Callable[..., Phone],
    live_server: LiveServer,
    api: httpx.Client,
    owner: users.NewUser,
    shoot: Callable[[Any, str], Any],
) -> None:
    browser = open_phone(**(LAPTOP if device == "laptop" else {}))
    page = browser.page
    page.goto(f"{live_server.url}/dashboard/reconciliation")
    assert "/dashboard/login" in page.url
    page.fill('input[name="email"]', EMAIL)
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')
    assert page.url.endswith("/dashboard/reconciliation")
    assert page.locator("[data-mutation]").count() == 0
    shoot(page, f"{device}-reconciliation-empty")

    # A payment waits; a credit of an amount no payment has comes in over the API.
    payment = api.post("/api/create-payment.php", json={"amount": 25000, "payment_method": "qris"}).json()["payment"]
    reported = api.post("/v1/mutations", json={"channel": "qris", "amount": 12345, "reference": "QR-BROWSER-1"})
    [credit] = reported.json()["mutations"]
    assert credit["status"] == "unmatched"
    page.reload()
    item = page.locator(f'[data-mutation="{credit["id"]}"]')
    assert "Rp 12.345" in item.inner_text()
    assert "tidak cocok" in item.inner_text()
    fits(page)
    shoot(page, f"{device}-reconciliation-unmatched")

    # Assign it: choose the payment, compare, confirm.
    item.locator("text=Tetapkan ke pembayaran").click()
    assert page.locator("h1").inner_text() == "Pilih pembayaran"
    assert page.locator(f'[data-invoice="{payment["invoice_id"]}"]').is_visible()
    fits(page)
    shoot(page, f"{device}-choose")
    page.fill('input[name="invoice_id"]', payment["invoice_id"])
    page.click("text=Lanjut")
    assert page.locator("h1").inner_text() == "Konfirmasi penetapan"
    assert page.locator('[data-amount="credit"]').inner_text() == "Rp 12.345"
    assert page.locator('[data-amount="payment"]').inner_text() == f"Rp {dotted(payment['final_amount'])}"
    assert page.locator('[data-status="pending"]').is_visible()
    assert page.locator('[data-compare="differ"]').is_visible()
    fits(page)
    shoot(page, f"{device}-confirm")
    page.click("text=Ya, tetapkan dan tandai lunas")
    assert page.locator('[data-notice="assigned"]').inner_text() == f"Ditetapkan: {payment['invoice_id']} sudah lunas."
    assert page.locator(f'[data-mutation="{credit["id"]}"]').count() == 0
    audit = page.locator(f'[data-audit="assign_mutation"][data-subject="{credit["id"]}"]')
    assert payment["invoice_id"] in audit.inner_text()
    assert EMAIL in audit.inner_text()
    fits(page)
    shoot(page, f"{device}-assigned")
    checked = api.get("/api/check-payment.php", params={"invoice": payment["invoice_id"]}).json()
    assert (checked["status"], checked["paid_amount"]) == ("paid", 12345)

    # A phone: create its source, scan the pairing QR, report a payment from it.
    page.click("nav >> text=Sumber pembayaran")
    assert page.locator("[data-source]").count() == 0
    shoot(page, f"{device}-sources-empty")
    page.click("text=Buat sumber baru")
    page.fill('input[name="name"]', "HP kasir depan")
    page.select_option(f'select[name="app:{GOPAY_MERCHANT}"]', "gopay_qris")
    fits(page)
    shoot(page, f"{device}-source-form")
    page.get_by_role("button", name="Buat sumber", exact=True).click()
    assert page.locator("h1").inner_text() == "Sumber dibuat: HP kasir depan"
    token = page.locator('[data-secret="token"]').inner_text()
    pair_url = page.locator('[data-secret="pair_url"]').inner_text()
    assert pair_url.endswith(f"#token={token}")
    qr = page.locator('img[data-qr="pair"]')
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=qr.element_handle())
    assert read_codes(qr.screenshot()) == [pair_url]
    fits(page)
    shoot(page, f"{device}-source-created")

    source_id = pair_url.split("/v1/sources/")[1].split("#")[0]
    sale = api.post("/api/create-payment.php", json={"amount": 18000, "payment_method": "gopay_qris"}).json()
    sale_payment = sale["payment"]
    with httpx.Client(base_url=live_server.url, timeout=30) as phone:
        sent = phone.post(
            f"/v1/sources/{source_id}/notifications",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "package": GOPAY_MERCHANT,
                "title": "Pembayaran QRIS statis diterima",
                "text": f"Rp {dotted(sale_payment['final_amount'])} di Toko Satu",
                "posted_at": int(utcnow().timestamp() * 1000),
            },
        )
        assert sent.status_code == 200, sent.text
        assert sent.json()["results"][0]["outcome"] == "matched"
        odd = phone.post(
            f"/v1/sources/{source_id}/notifications",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "package": GOPAY_MERCHANT,
                "title": "GoPay Merchant",
                "text": "Ada uang masuk, cek aplikasi",
                "posted_at": int(utcnow().timestamp() * 1000) - 1000,
            },
        )
        [unparsed] = odd.json()["results"]
        assert unparsed["outcome"] == "unparsed"

    page.click("text=Ke halaman sumber")
    assert page.locator("h1 [data-state]").get_attribute("data-state") == "live"
    notification = page.locator('[data-notification][data-outcome="credited"]')
    assert f"Rp {dotted(sale_payment['final_amount'])}" in notification.inner_text()
    assert sale_payment["invoice_id"] in notification.inner_text()
    assert token not in page.content()
    assert "#token=" not in page.content()
    fits(page)
    shoot(page, f"{device}-source-live")

    page.click("text=Sumber pembayaran >> nth=0")
    assert page.locator(f'[data-source="{source_id}"] [data-state]').inner_text() == "hidup"
    assert token not in page.content()
    shoot(page, f"{device}-sources-live")

    # The notification no parser read waits in reconciliation, with its source and its text.
    page.click("nav >> text=Rekonsiliasi")
    waiting = page.locator(f'[data-notification="{unparsed["notification_id"]}"]')
    assert "Ada uang masuk, cek aplikasi" in waiting.inner_text()
    assert "HP kasir depan" in waiting.inner_text()
    fits(page)
    shoot(page, f"{device}-reconciliation-notification")
    waiting.locator("text=Tetapkan ke pembayaran").click()
    assert page.locator('[data-item="notification"]').is_visible()
    fits(page)
    shoot(page, f"{device}-choose-notification")

    # The other pages of a source: change, new token (confirmation), delete (confirmation).
    page.goto(f"{live_server.url}/dashboard/sources/{source_id}/edit")
    fits(page)
    shoot(page, f"{device}-source-edit")
    page.goto(f"{live_server.url}/dashboard/sources/{source_id}/rotate")
    fits(page)
    shoot(page, f"{device}-source-rotate")
    page.click("text=Ya, buat token baru")
    assert page.locator("h1").inner_text() == "Token baru dibuat: HP kasir depan"
    new_token = page.locator('[data-secret="token"]').inner_text()
    assert new_token != token
    shoot(page, f"{device}-source-rotated")
    page.goto(f"{live_server.url}/dashboard/sources/{source_id}/delete")
    fits(page)
    shoot(page, f"{device}-source-delete")
    page.click("text=Ya, hapus")
    assert page.locator('[data-notice="deleted"]').is_visible()
    assert page.locator("[data-source]").count() == 0
    shoot(page, f"{device}-source-deleted")

    page.click("text=English")
    assert page.locator("h1").inner_text() == "Payment sources"
    # No script error and no CSP violation.
    assert [error for error in browser.errors if not error.startswith("Failed to load resource")] == []
