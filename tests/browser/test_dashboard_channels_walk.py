"""Channels and API keys in Debian's Chromium, on a phone (390×844) and a laptop (1280×800), over
a real socket:

the owner signs in; uploads the photo of a real static GoPay QRIS (tests/fixtures/qris, printed
and photographed: tests/acceptance/test_dashboard_channels.py) → the preview shows its merchant
name, city, NMID and acquirer before anything is saved → saves it (the API's account status then
says GoPay is connected); pastes a dynamic QRIS → the refusal and its reason, nothing saved;
rotates the test API key → the new key is shown once, the API refuses the old one and takes the
new one, and the keys page never shows it again; the statistics page then counts a payment paid
with the new key and draws its chart.

Screenshots of every page go to test-output/screenshots/ (test_channels_and_keys_walk-*).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from kasir.clock import utcnow
from kasir.db.engine import Database
from kasir.merchants.keys import key_prefix
from kasir.merchants.service import NewMerchant, get_merchant
from kasir.team import users
from tests.acceptance.test_dashboard_channels import GOPAY_DYNAMIC, GOPAY_NMID, GOPAY_STATIC, photo_of_qris
from tests.browser.conftest import Phone
from tests.browser.page_checks import no_overflow
from tests.conftest import LiveServer, auth
from tests.dashboard_helpers import EMAIL, LAPTOP, PASSWORD


@pytest.fixture
def owner(db: Database, merchant: NewMerchant) -> users.NewUser:
    return db.write_sync(lambda conn: users.create_user(conn, merchant.username, EMAIL, utcnow(), password=PASSWORD))


@pytest.mark.parametrize("device", ["phone", "laptop"])
def test_channels_and_keys_walk(
    device: str,
    open_phone: Callable[..., Phone],
    live_server: LiveServer,
    db: Database,
    merchant: NewMerchant,
    owner: users.NewUser,
    shoot: Callable[[Any, str], Any],
    tmp_path: Path,
) -> None:
    photo = tmp_path / "qris-kantin.png"
    photo.write_bytes(photo_of_qris(GOPAY_STATIC))
    browser = open_phone(**(LAPTOP if device == "laptop" else {}))
    page = browser.page
    base = live_server.url

    page.goto(f"{base}/dashboard/channels")
    page.fill('input[name="email"]', EMAIL)
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')
    page.wait_for_url(f"{base}/dashboard/channels")
    assert page.locator("h1").inner_text() == "Kanal"
    shoot(page, f"{device}-channels")
    no_overflow(page)

    # The photo of the counter's QRIS: what Kasir reads, before anything is saved.
    gopay = page.locator('section[data-channel="qris_gopay"]')
    gopay.locator('input[type="file"]').set_input_files(str(photo))
    gopay.locator('button[type="submit"]').click()
    page.wait_for_url(f"{base}/dashboard/channels/preview")
    assert page.locator('[data-fact="merchant_name"]').inner_text() == "Kantin Ibu Lilik"
    assert page.locator('[data-fact="merchant_city"]').inner_text() == "Jakarta Pusat 10310"
    assert page.locator('[data-fact="nmid"]').inner_text() == GOPAY_NMID
    assert page.locator('[data-fact="acquirer"]').inner_text() == "GoPay"
    assert page.locator('[data-fact="kind"]').inner_text() == "Statis"
    assert page.locator("img.chn-qr").evaluate("img => img.complete && img.naturalWidth > 0")
    assert db.read_sync(lambda conn: get_merchant(conn, merchant.id))["qris_gopay"] is None
    shoot(page, f"{device}-preview")
    no_overflow(page)

    page.click('button[data-action="confirm"]')
    page.wait_for_url(f"{base}/dashboard/channels?done=saved&channel=qris_gopay")
    assert "Kanal GoPay QRIS disimpan." in page.locator('[data-notice="saved"]').inner_text()
    assert gopay.locator('[data-fact="merchant_name"]').inner_text() == "Kantin Ibu Lilik"
    assert db.read_sync(lambda conn: get_merchant(conn, merchant.id))["qris_gopay"] == GOPAY_STATIC
    shoot(page, f"{device}-saved")
    no_overflow(page)

    # A dynamic QRIS pasted: refused, with the reason, and nothing saved.
    gopay.locator('textarea[name="qris"]').fill(GOPAY_DYNAMIC)
    gopay.locator('button[type="submit"]').click()
    page.wait_for_url(f"{base}/dashboard/channels/preview")
    refusal = page.locator('[data-refusal="qris_not_static"]')
    assert "QRIS ini dinamis" in refusal.inner_text()
    assert page.locator('[data-fact="merchant_name"]').inner_text() == "Starbucks"
    assert page.locator('button[data-action="confirm"]').count() == 0
    assert db.read_sync(lambda conn: get_merchant(conn, merchant.id))["qris_gopay"] == GOPAY_STATIC
    shoot(page, f"{device}-dynamic-refused")
    no_overflow(page)

    # The test API key, rotated: shown once, the old one dead at once.
    page.click('nav >> text="Kunci API"')
    page.wait_for_url(f"{base}/dashboard/keys")
    assert page.locator("h1").inner_text() == "Kunci API"
    assert page.locator('[data-prefix="test"]').inner_text() == key_prefix(merchant.test_api_key)
    shoot(page, f"{device}-keys")
    no_overflow(page)
    page.click('a[data-action="rotate"]')
    page.wait_for_url(f"{base}/dashboard/keys/rotate")
    shoot(page, f"{device}-keys-confirm")
    no_overflow(page)
    page.click('button[type="submit"]:has-text("Ya, buat kunci baru")')
    key = page.locator('[data-secret="api_key"]').inner_text()
    assert key.startswith("ksr_test_")
    shoot(page, f"{device}-keys-new")
    no_overflow(page)
    with httpx.Client(base_url=base, timeout=30) as api:
        assert api.get("/api/get-account-status.php", headers=auth(merchant.test_api_key)).status_code == 401
        status = api.get("/api/get-account-status.php", headers=auth(key))
        assert status.status_code == 200
        assert status.json()["integrations"]["gopay"] is True
        # A payment paid with the new key, for the statistics below.
        created = api.post(
            "/api/create-payment.php", headers=auth(key), json={"amount": 85_000, "payment_method": "qris"}
        )
        invoice = created.json()["payment"]["invoice_id"]
        assert api.post(f"/v1/sandbox/payments/{invoice}/pay", headers=auth(key)).status_code == 200
    page.click("text=Kembali ke kunci API")
    page.wait_for_url(f"{base}/dashboard/keys")
    assert key not in page.content()
    assert page.locator('[data-prefix="test"]').inner_text() == key_prefix(key)

    # The statistics of this month, with the chart image drawn (CSP img-src 'self').
    page.click('nav >> text="Statistik"')
    page.wait_for_url(f"{base}/dashboard/statistics")
    assert page.locator('[data-method="qris"] [data-amount]').inner_text() == "Rp 85.000"
    chart = page.locator('img[data-chart="methods"]')
    chart.scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelector('img[data-chart]').complete")
    assert chart.evaluate("img => img.naturalWidth") > 0
    shoot(page, f"{device}-statistics")
    no_overflow(page)
    # The one console error is Chromium reporting the refusal page's status, 400.
    assert browser.errors == ["Failed to load resource: the server responded with a status of 400 (Bad Request)"]
