"""The pay page promises "terkonfirmasi otomatis" only when something reports the payment's
channel by itself (issue 16, item 9; the rule is kasir.sources.confirmation), in both languages.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from kasir.app import create_app
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.merchants.service import NewMerchant, configure_merchant
from tests.browser.conftest import Phone
from tests.browser.test_pay_page import Shoot, assert_fits_phone, create, ok, page_url, status_of
from tests.conftest import LiveServer, auth
from tests.integration.payments.fake_pollers import HERE

HINT = "[data-testid=exact-hint]"
AUTOMATIC = {
    "id": "Bayar persis sampai 3 digit terakhir agar pembayaran terkonfirmasi otomatis.",
    "en": "Pay the exact amount, down to the last 3 digits, so the payment confirms by itself.",
}
MANUAL = {
    "id": "Bayar persis sampai 3 digit terakhir. Penjual akan mengonfirmasi pembayaran Anda setelah dana masuk.",
    "en": "Pay the exact amount, down to the last 3 digits. The seller will confirm your payment once the money arrives.",
}


def promise_in_both_languages(
    page: Any, live_server: LiveServer, invoice: str, shoot: Shoot, step: str
) -> dict[str, str]:
    """The hint as the buyer reads it, in Indonesian and then (with the switch) in English."""
    shown = {}
    page.goto(page_url(live_server, invoice, lang="id"))  # not the English a previous call chose
    assert status_of(page) == "pending"
    assert page.locator(HINT).is_visible()
    shown["id"] = page.locator(HINT).inner_text()
    assert_fits_phone(page)
    shoot(page, f"{step}-id")
    page.get_by_role("link", name="English").click()
    page.wait_for_load_state()
    assert page.get_attribute("html", "lang") == "en"
    shown["en"] = page.locator(HINT).inner_text()
    shoot(page, f"{step}-en")
    return shown


def test_without_a_source_the_page_says_the_seller_confirms(
    live_server: LiveServer, api: httpx.Client, phone: Phone, shoot: Shoot
) -> None:
    invoice = create(api, description="Kopi susu")["payment"]["invoice_id"]
    assert promise_in_both_languages(phone.page, live_server, invoice, shoot, "manual") == MANUAL
    assert "otomatis" not in phone.page.locator("body").inner_text()
    assert phone.errors == []


def test_with_a_forwarder_the_page_promises_automatic_confirmation(
    live_server: LiveServer, api: httpx.Client, phone: Phone, shoot: Shoot
) -> None:
    ok(api.post("/v1/forwarder"))  # as the merchant sets up a phone relaying its notifications
    invoice = create(api, description="Kopi susu")["payment"]["invoice_id"]
    assert promise_in_both_languages(phone.page, live_server, invoice, shoot, "automatic") == AUTOMATIC
    assert phone.errors == []


@pytest.fixture
def ovo_poller_server(settings: Settings, db: Database) -> Iterator[LiveServer]:
    """The app with one poller that reads an OVO account (and no forwarder, no autopay)."""
    configured = settings.model_copy(update={"mutation_sources": [f"{HERE}:ovo_only"]})
    with LiveServer(create_app(configured, database=db, background=False)) as server:
        yield server


def test_a_poller_of_ovo_makes_only_ovo_pages_promise_it(
    ovo_poller_server: LiveServer, db: Database, merchant: NewMerchant, phone: Phone, shoot: Shoot
) -> None:
    db.write_sync(
        lambda conn: configure_merchant(conn, merchant.username, subscription_active=True, ovo_number="081234567890")
    )
    with httpx.Client(base_url=ovo_poller_server.url, headers=auth(merchant.test_api_key), timeout=30) as api:
        ovo = create(api, payment_method="ovo")["payment"]["invoice_id"]
        qris = create(api, payment_method="qris")["payment"]["invoice_id"]
    assert promise_in_both_languages(phone.page, ovo_poller_server, ovo, shoot, "ovo") == AUTOMATIC
    assert promise_in_both_languages(phone.page, ovo_poller_server, qris, shoot, "qris") == MANUAL
    assert phone.errors == []
