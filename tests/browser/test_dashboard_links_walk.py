"""Payment links in Debian's Chromium, end to end, on a real socket whose address is the public
URL (so the link a merchant shares is the one the buyer opens):

the owner (a laptop, 1280 px) signs in and makes a fixed-price link and an open-amount link by the
form, each sending the buyer back to a real local shop site once paid, and copies one with the
copy button; two buyers, each in a browser context of their own on a phone (390 px), open the
links, fill the form (the second types an amount out of range first, and is told), land on their
pay pages, pay by the sandbox and are sent on to the shop by the pay page; the owner's link pages
then show each payment paid and the money received, also on a phone, nothing wider than the
screen.

Screenshots of every step go to test-output/screenshots/ (test_links_walk-*).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from kasir.app import create_app
from kasir.clock import utcnow
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.merchants.service import NewMerchant
from kasir.money import rupiah
from kasir.team import users
from tests.browser.conftest import PHONE, Phone, ShopSite
from tests.browser.page_checks import no_overflow
from tests.conftest import LiveServer, auth, free_port
from tests.dashboard_helpers import LAPTOP, PASSWORD

EMAIL = "owner@toko.test"


@pytest.fixture
def owner(db: Database, merchant: NewMerchant) -> users.NewUser:
    return db.write_sync(lambda conn: users.create_user(conn, merchant.username, EMAIL, utcnow(), password=PASSWORD))


@pytest.fixture
def server(settings: Settings, db: Database) -> Iterator[LiveServer]:
    """The app at the address its KASIR_PUBLIC_URL names: the port is chosen first, and the server
    is told to listen on it before it starts."""
    port = free_port()
    public = settings.model_copy(update={"public_url": f"http://127.0.0.1:{port}"})
    live = LiveServer(create_app(public, database=db, background=False))
    live.port, live.url = port, public.public_url
    live._server.config.port = port  # the one knob LiveServer does not offer
    with live:
        yield live


def sign_in(page: Any, base: str) -> None:
    page.goto(f"{base}/dashboard/links")
    assert "/dashboard/login" in page.url
    page.fill('input[name="email"]', EMAIL)
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')
    page.wait_for_url(f"{base}/dashboard/links")


def make_link(page: Any, base: str, title: str, fill: Callable[[Any], None]) -> str:
    """Through the list's button and the form; the link's page after, its id returned."""
    page.goto(f"{base}/dashboard/links")
    page.click('[data-action="new-link"]')
    page.fill('input[name="title"]', title)
    fill(page)
    page.click('#link-form button[type="submit"]')
    page.wait_for_url(re.compile(r".*/dashboard/links/lnk_[0-9a-f]{24}\?done=created$"))
    assert page.locator('[data-notice="created"]').is_visible()
    return str(urlsplit(page.url).path.rsplit("/", 1)[1])


def invoice_of(page: Any) -> str:
    return str(parse_qs(urlsplit(page.url).query)["invoice"][0])


def test_links_walk(
    server: LiveServer,
    open_phone: Callable[..., Phone],
    owner: users.NewUser,
    merchant: NewMerchant,
    shop_site: ShopSite,
    shoot: Callable[[Any, str], Any],
) -> None:
    base = server.url
    laptop = open_phone(**LAPTOP)
    laptop.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    desk = laptop.page
    sign_in(desk, base)
    assert desk.locator("h1").inner_text() == "Link pembayaran"
    shoot(desk, "laptop-1-empty-list")

    # The owner makes the two links.
    def fixed(page: Any) -> None:
        page.fill('textarea[name="description"]', "Arabika Gayo, sangrai medium. Dikirim dari Takengon.")
        page.fill('input[name="amount"]', "85000")
        page.fill('input[name="max_paid_uses"]', "20")
        page.fill('input[name="redirect_url"]', shop_site.thanks)
        shoot(page, "laptop-2-new-link-form")

    kopi = make_link(desk, base, "Kopi Gayo 250 g", fixed)
    kopi_url = desk.get_by_test_id("link-url").input_value()
    assert re.fullmatch(rf"{re.escape(base)}/l/[A-Za-z0-9]{{16}}", kopi_url)
    share = str(desk.get_by_test_id("share-whatsapp").get_attribute("href"))
    assert share.startswith("https://wa.me/?text=Kopi%20Gayo%20250%20g%0A")
    copy = desk.get_by_test_id("copy-link")
    assert copy.is_visible()  # the script showed it
    copy.click()
    desk.wait_for_function("() => document.querySelector('[data-testid=copy-link]').textContent === 'Tersalin'")
    assert desk.evaluate("navigator.clipboard.readText()") == kopi_url
    shoot(desk, "laptop-3-fixed-link")
    no_overflow(desk)

    def donation(page: Any) -> None:
        page.check('input[name="price"][value="open"]')
        page.fill('input[name="amount_min"]', "10000")
        page.fill('input[name="amount_max"]', "500000")
        page.fill('input[name="redirect_url"]', shop_site.thanks)

    donasi = make_link(desk, base, "Donasi renovasi musala", donation)
    donasi_url = desk.get_by_test_id("link-url").input_value()
    shoot(desk, "laptop-4-open-link")
    no_overflow(desk)

    # Buyer one, on a phone of their own: the fixed price.
    budi = open_phone()
    budi.page.goto(kopi_url)
    assert budi.page.get_by_test_id("link-title").inner_text() == "Kopi Gayo 250 g"
    assert budi.page.get_by_test_id("link-price").inner_text().replace("\xa0", " ") == "Rp 85.000"
    assert budi.page.locator('input[name="amount"]').count() == 0
    shoot(budi.page, "phone-5-fixed-link-page")
    no_overflow(budi.page)
    budi.page.fill('input[name="name"]', "Budi Santoso")
    budi.page.fill('input[name="phone"]', "0812 3456 7890")
    budi.page.get_by_test_id("submit").click()
    budi.page.wait_for_url(re.compile(r".*/pay\?invoice=PAY-toko_satu-.*"))
    assert budi.page.locator("h1").inner_text() == "Kopi Gayo 250 g"
    assert budi.page.get_by_test_id("customer-name").inner_text() == "Budi Santoso"
    kopi_invoice = invoice_of(budi.page)
    shoot(budi.page, "phone-6-fixed-pay-page")

    # Buyer two, another phone: the open amount, out of range first.
    ani = open_phone()
    ani.page.goto(donasi_url)
    assert ani.page.get_by_test_id("amount-range").inner_text() == "Antara Rp 10.000 dan Rp 500.000."
    ani.page.fill('input[name="amount"]', "5.000")
    ani.page.fill('input[name="name"]', "Ani")
    ani.page.get_by_test_id("submit").click()
    error = ani.page.get_by_test_id("form-error")
    assert error.inner_text() == "Jumlah harus antara Rp 10.000 dan Rp 500.000."
    assert ani.page.locator('input[name="name"]').input_value() == "Ani"
    shoot(ani.page, "phone-7-amount-refused")
    no_overflow(ani.page)
    ani.page.fill('input[name="amount"]', "25.000")
    ani.page.get_by_test_id("submit").click()
    ani.page.wait_for_url(re.compile(r".*/pay\?invoice=.*"))
    donasi_invoice = invoice_of(ani.page)
    final = ani.page.get_by_test_id("final-amount").inner_text().replace("\xa0", " ")
    assert re.fullmatch(r"Rp 25\.\d{3}", final), final
    shoot(ani.page, "phone-8-open-pay-page")

    # Both pay (the sandbox's credit of the exact amount): each pay page turns paid by itself,
    # and sends its buyer to the shop.
    with httpx.Client(base_url=base, headers=auth(merchant.test_api_key), timeout=30) as api:
        for invoice in (kopi_invoice, donasi_invoice):
            assert api.post(f"/v1/sandbox/payments/{invoice}/pay").json()["payment"]["status"] == "paid"
        paid = {
            invoice: api.get(f"/v1/payments/{invoice}").json()["payment"] for invoice in (kopi_invoice, donasi_invoice)
        }
    for buyer in (budi, ani):
        buyer.page.wait_for_selector("[data-testid=status][data-status=paid]", state="attached", timeout=5000)
    shoot(budi.page, "phone-9-paid")
    for buyer in (budi, ani):
        buyer.page.wait_for_url(shop_site.thanks, timeout=10_000)
        assert buyer.page.locator("body").inner_text().strip() == "thanks"
    assert len(shop_site.visits) == 2

    # The owner's link pages show the payments.
    for label, link_id, invoice, name in (
        ("fixed", kopi, kopi_invoice, "Budi Santoso"),
        ("open", donasi, donasi_invoice, "Ani"),
    ):
        desk.goto(f"{base}/dashboard/links/{link_id}")
        row = desk.locator(f'li[data-invoice="{invoice}"]')
        assert row.get_attribute("data-status") == "paid"
        assert name in row.inner_text()
        assert desk.locator('[data-total="paid"]').inner_text() == "1"
        received = desk.locator('[data-total="received"]').inner_text().replace("\xa0", " ")
        assert received == f"Rp {rupiah(paid[invoice]['paid_amount'])}"
        shoot(desk, f"laptop-10-{label}-link-payments")
        no_overflow(desk)
    desk.goto(f"{base}/dashboard/links")
    assert desk.locator(f'li[data-link="{kopi}"] [data-field="uses"]').inner_text().startswith("1 dari 20")
    shoot(desk, "laptop-11-list")

    # The same pages on the owner's phone.
    pocket = open_phone(**{**PHONE, "locale": "id-ID"})
    sign_in(pocket.page, base)
    shoot(pocket.page, "phone-12-list")
    no_overflow(pocket.page)
    for label, link_id in (("fixed", kopi), ("open", donasi)):
        pocket.page.goto(f"{base}/dashboard/links/{link_id}")
        shoot(pocket.page, f"phone-13-{label}-link")
        no_overflow(pocket.page)
    pocket.page.goto(f"{base}/dashboard/links/{kopi}/edit")
    shoot(pocket.page, "phone-14-edit")
    no_overflow(pocket.page)

    for browser in (laptop, budi, ani, pocket):
        # A refused form answers 400: the browser says so in its console, and nothing else may.
        assert [e for e in browser.errors if "status of 400" not in e] == [], browser.errors
