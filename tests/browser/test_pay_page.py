"""The hosted pay page in a real browser (Debian's Chromium), on a phone, against a live server.

Payments are made through the HTTP API as a shop makes them; the page is opened at the live
server's own address (``payment_url`` in API answers carries settings.public_url, which tests set
to http://kasir.test). Every test leaves full-page screenshots under test-output/screenshots/.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import sqlalchemy as sa
from PIL import Image, ImageDraw

from kasir.db.engine import Database
from kasir.db.tables import payments
from kasir.merchants.service import NewMerchant, configure_merchant
from kasir.money import rupiah
from kasir.qris.image import read_codes
from tests.browser.conftest import PHONE, Phone, ShopSite
from tests.conftest import LiveServer

Shoot = Callable[[Any, str], Path]

PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
LICENSE_KEY = "ABCD-1234-EFGH"
XSS = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
STATUS = "[data-testid=status]"


# --- set-up over the API ----------------------------------------------------------------------


def jpeg() -> bytes:
    image = Image.new("RGB", (240, 160), (30, 110, 80))
    ImageDraw.Draw(image).ellipse((70, 30, 170, 130), fill=(250, 210, 60))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["success"] is True, body
    return body


def goods(api: httpx.Client) -> dict[str, int]:
    """A PDF, a license key and a product photo, uploaded as a shop does: the ids to attach."""
    file = ok(api.post("/v1/files", files={"file": ("panduan.pdf", PDF, "application/pdf")}))["file"]
    content = ok(api.post("/v1/contents", json={"title": "Lisensi", "type": "license_key", "content": LICENSE_KEY}))
    image = ok(api.post("/v1/images", files={"image": ("produk.jpg", jpeg(), "image/jpeg")}))["image"]
    return {"file_id": file["id"], "content_id": content["content"]["id"], "product_image_id": image["id"]}


def create(api: httpx.Client, **fields: Any) -> dict[str, Any]:
    """create-payment over HTTP; the whole answer (payment, qris_string, payment_url…)."""
    return ok(api.post("/api/create-payment.php", json={"amount": 50000, **fields}))


def pay(api: httpx.Client, invoice: str) -> None:
    assert ok(api.post(f"/v1/sandbox/payments/{quote(invoice, safe='')}/pay", json={}))["payment"]["status"] == "paid"


def page_url(live_server: LiveServer, invoice: str, **query: str) -> str:
    extra = "".join(f"&{key}={value}" for key, value in query.items())
    return f"{live_server.url}/pay?invoice={quote(invoice, safe='')}{extra}"


def set_expiry(db: Database, invoice: str, expires_at: datetime) -> None:
    db.write_sync(
        lambda conn: conn.execute(
            sa.update(payments).where(payments.c.invoice_id == invoice).values(expires_at=expires_at)
        )
    )


def status_of(page: Any) -> str:
    return str(page.get_attribute(STATUS, "data-status"))


def wait_for_status(page: Any, status: str, *, deadline: float) -> None:
    """Wait, without touching the page, until it shows ``status`` by itself; ``deadline`` is a
    time.monotonic() value."""
    remaining_ms = max(1.0, (deadline - time.monotonic()) * 1000)
    page.wait_for_selector(f"{STATUS}[data-status={status}]", state="attached", timeout=remaining_ms)


def seconds(countdown: str) -> int:
    parts = [int(part) for part in countdown.split(":")]
    total = 0
    for part in parts:
        total = total * 60 + part
    return total


def natural_width(page: Any, selector: str) -> int:
    return int(page.eval_on_selector(selector, "img => img.complete ? img.naturalWidth : 0"))


def assert_fits_phone(page: Any) -> None:
    """Nothing sticks out sideways: the page never scrolls horizontally on the 390 px screen."""
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["viewport"]["width"]


def wait_loaded(page: Any, selector: str) -> None:
    page.wait_for_function(
        "selector => { const img = document.querySelector(selector); return img && img.complete; }", arg=selector
    )


# --- 1. the happy path --------------------------------------------------------------------------


def test_paid_with_goods_from_qr_to_download_content_and_shop(
    live_server: LiveServer, api: httpx.Client, phone: Phone, shop_site: ShopSite, shoot: Shoot
) -> None:
    attached = goods(api)
    created = create(
        api,
        amount=75000,
        description="E-book Resep Nusantara",
        customer_name="Budi Santoso",
        redirect_url=shop_site.thanks,
        **attached,
    )
    payment, qris = created["payment"], created["qris_string"]
    invoice, final = payment["invoice_id"], payment["final_amount"]
    page = phone.page

    page.goto(page_url(live_server, invoice))
    assert status_of(page) == "pending"
    assert page.locator(".merchant strong").inner_text() == "Toko Satu"
    assert page.get_by_text("Bayar tepat", exact=True).is_visible()
    assert page.locator("h1").inner_text() == "E-book Resep Nusantara"
    assert page.get_by_test_id("customer-name").inner_text() == "Budi Santoso"
    shown = rupiah(final)
    amount = page.get_by_test_id("final-amount")
    assert amount.inner_text().replace("\xa0", " ") == f"Rp {shown}"
    assert amount.locator("mark").inner_text() == shown[-3:] == f"{final % 1000:03d}"

    # The QR: an image that loaded, served from /qr.svg for exactly this payment's QRIS, and what
    # the phone draws of it scans back to that QRIS.
    qr = page.get_by_test_id("qr")
    wait_loaded(page, "[data-testid=qr]")
    assert natural_width(page, "[data-testid=qr]") > 0
    src = str(qr.get_attribute("src"))
    assert urlsplit(src).path == "/qr.svg"
    assert parse_qs(urlsplit(src).query)["data"] == [qris]
    served = page.request.get(live_server.url + src)
    assert served.ok
    assert served.headers["content-type"].startswith("image/svg+xml")
    assert read_codes(qr.screenshot()) == [qris]

    # The product photo loaded.
    wait_loaded(page, "img.product")
    assert natural_width(page, "img.product") > 0

    # The countdown: m:ss, and it goes down by itself.
    countdown = page.get_by_test_id("countdown")
    page.wait_for_function("() => document.getElementById('countdown').textContent !== '--:--'")
    first = countdown.inner_text()
    assert re.fullmatch(r"\d{1,2}:[0-5]\d", first), first
    assert 14 * 60 <= seconds(first) <= 15 * 60
    page.wait_for_function("before => document.getElementById('countdown').textContent !== before", arg=first)
    assert seconds(countdown.inner_text()) < seconds(first)
    # Goods are not on the page before payment.
    assert page.get_by_test_id("download").count() == 0
    assert page.get_by_test_id("content").count() == 0
    assert_fits_phone(page)
    shoot(page, "1-pending")

    # Paid elsewhere (the sandbox): the page turns paid by itself within 3 s of the credit.
    started = time.monotonic()
    pay(api, invoice)
    wait_for_status(page, "paid", deadline=started + 3)
    assert page.locator("#status-title").inner_text() == "Pembayaran berhasil"
    assert page.get_by_test_id("qr").count() == 0
    assert not page.locator("#how-to-pay").is_visible()
    shoot(page, "2-paid")

    # The file, byte for byte.
    link = page.get_by_test_id("download")
    assert "panduan.pdf" in link.inner_text()
    with page.expect_download() as downloading:
        link.click()
    download = downloading.value
    assert download.suggested_filename == "panduan.pdf"
    assert Path(download.path()).read_bytes() == PDF
    page.reload()  # the page counts the download (and restarts the 20 s before the redirect)
    assert page.get_by_test_id("downloads-left").inner_text().startswith("4 unduhan tersisa")

    # The hidden content.
    assert page.get_by_test_id("content").inner_text() == LICENSE_KEY
    assert page.get_by_test_id("content").is_visible()
    # With goods to take, the shop waits 20 s (not 5) and the note counts down from it.
    note = page.locator("#redirect-note")
    assert note.get_attribute("data-seconds") == "20"
    left = re.search(r"dalam (\d+) detik", note.inner_text())
    assert left is not None
    assert 10 <= int(left.group(1)) <= 20
    assert_fits_phone(page)
    shoot(page, "3-goods")

    # "Continue" leads to the shop (without telling it the page's URL).
    page.get_by_test_id("continue").click()
    page.wait_for_url(shop_site.thanks)
    assert page.locator("body").inner_text().strip() == "thanks"
    assert len(shop_site.visits) == 1
    assert "referer" not in shop_site.visits[0]
    shoot(page, "4-shop")
    assert phone.errors == []


# --- 2. the redirect alone ----------------------------------------------------------------------


def test_paid_without_goods_redirects_to_the_shop_after_5_seconds(
    live_server: LiveServer, api: httpx.Client, phone: Phone, shop_site: ShopSite, shoot: Shoot
) -> None:
    invoice = create(api, description="Kopi susu", redirect_url=shop_site.thanks)["payment"]["invoice_id"]
    page = phone.page
    page.goto(page_url(live_server, invoice))
    assert status_of(page) == "pending"
    assert page.get_by_test_id("continue").count() == 0  # the redirect is a paid page's only

    started = time.monotonic()
    pay(api, invoice)
    wait_for_status(page, "paid", deadline=started + 3)
    shown = time.monotonic()
    assert page.locator("#redirect-note").get_attribute("data-seconds") == "5"
    assert page.locator("#redirect-note").inner_text().startswith("Anda akan diarahkan kembali ke toko dalam")
    assert page.get_by_test_id("continue").get_attribute("href") == shop_site.thanks
    assert page.locator("#goods").is_visible()
    shoot(page, "1-paid")

    page.wait_for_url(shop_site.thanks, timeout=9000)
    waited = time.monotonic() - shown
    assert 3.5 <= waited <= 7.5, f"redirected {waited:.1f} s after the paid page showed, not ~5 s"
    assert page.locator("body").inner_text().strip() == "thanks"
    assert "referer" not in shop_site.visits[0]
    shoot(page, "2-shop")
    assert phone.errors == []


# --- 3. expiry ----------------------------------------------------------------------------------


def test_expired_payment_shows_expired_without_qr_or_countdown(
    live_server: LiveServer, api: httpx.Client, db: Database, phone: Phone, shoot: Shoot
) -> None:
    invoice = create(api, description="Pulsa 50rb")["payment"]["invoice_id"]
    set_expiry(db, invoice, datetime.now(UTC) - timedelta(minutes=1))
    page = phone.page
    page.goto(page_url(live_server, invoice))

    assert status_of(page) == "expired"
    assert page.locator("#status-title").inner_text() == "Waktu pembayaran habis"
    assert page.locator("#status-detail").inner_text().startswith("Pembayaran ini tidak dapat dibayar lagi")
    assert page.locator("img[data-testid=qr]").count() == 0
    assert page.get_by_text("Simpan gambar QR").count() == 0
    assert not page.get_by_test_id("countdown").is_visible()
    assert not page.get_by_text("Sisa waktu").is_visible()
    assert not page.locator("#how-to-pay").is_visible()
    assert not page.locator("#goods").is_visible()
    # The amount stays readable, for the buyer's records.
    assert page.get_by_test_id("final-amount").is_visible()
    assert_fits_phone(page)
    shoot(page, "expired")
    assert phone.errors == []


def test_open_page_turns_expired_by_itself_when_time_runs_out(
    live_server: LiveServer, api: httpx.Client, db: Database, phone: Phone, shoot: Shoot
) -> None:
    invoice = create(api)["payment"]["invoice_id"]
    page = phone.page
    page.goto(page_url(live_server, invoice))
    assert status_of(page) == "pending"
    # The payment now expires in 3 s: the next poll (every 1.5 s) brings the countdown down to it.
    set_expiry(db, invoice, datetime.now(UTC) + timedelta(seconds=3))
    page.wait_for_function("() => /^0:0[0-3]$/.test(document.getElementById('countdown').textContent)", timeout=3000)
    shoot(page, "1-last-seconds")
    wait_for_status(page, "expired", deadline=time.monotonic() + 6)
    assert page.locator("img[data-testid=qr]").count() == 0
    assert not page.get_by_test_id("countdown").is_visible()
    shoot(page, "2-expired")
    assert phone.errors == []


# --- 4. cancellation ----------------------------------------------------------------------------


def test_cancelled_payment_shows_cancelled(
    live_server: LiveServer, api: httpx.Client, phone: Phone, shoot: Shoot
) -> None:
    invoice = create(api, description="Langganan 1 bulan")["payment"]["invoice_id"]
    page = phone.page
    page.goto(page_url(live_server, invoice))
    assert status_of(page) == "pending"

    started = time.monotonic()
    ok(api.post(f"/v1/payments/{quote(invoice, safe='')}/cancel"))
    wait_for_status(page, "cancelled", deadline=started + 3)  # an open page notices by itself
    page.reload()
    assert status_of(page) == "cancelled"
    assert page.locator("#status-title").inner_text() == "Pembayaran dibatalkan"
    assert page.locator("#status-detail").inner_text() == "Penjual membatalkan pembayaran ini."
    assert page.locator("img[data-testid=qr]").count() == 0
    assert not page.get_by_test_id("countdown").is_visible()
    assert not page.locator("#goods").is_visible()
    assert_fits_phone(page)
    shoot(page, "cancelled")
    assert phone.errors == []


# --- 5. language --------------------------------------------------------------------------------


def test_english_switch_sticks_across_reloads(
    live_server: LiveServer, api: httpx.Client, phone: Phone, open_phone: Callable[..., Phone], shoot: Shoot
) -> None:
    invoice = create(api, description="Kaos polos")["payment"]["invoice_id"]
    page = phone.page
    page.goto(page_url(live_server, invoice))
    assert page.get_attribute("html", "lang") == "id"
    assert page.get_by_text("Bayar tepat", exact=True).is_visible()
    shoot(page, "1-indonesian")

    page.get_by_role("link", name="English").click()
    page.wait_for_load_state()
    assert parse_qs(urlsplit(page.url).query)["lang"] == ["en"]
    assert page.get_attribute("html", "lang") == "en"
    assert page.get_by_text("Pay exactly", exact=True).is_visible()
    assert page.get_by_text("Bayar tepat", exact=True).count() == 0
    assert page.locator("#status-title").inner_text() == "Waiting for payment…"
    assert page.title().startswith("Payment Rp ")
    cookies = {cookie["name"]: cookie for cookie in phone.context.cookies()}
    assert cookies["kasir_lang"]["value"] == "en"
    assert cookies["kasir_lang"]["httpOnly"] is True
    assert_fits_phone(page)
    shoot(page, "2-english")

    page.reload()
    assert page.get_attribute("html", "lang") == "en"
    page.goto(page_url(live_server, invoice))  # no ?lang=: the cookie alone
    assert page.get_attribute("html", "lang") == "en"
    assert page.get_by_text("Pay exactly", exact=True).is_visible()
    shoot(page, "3-english-remembered")

    page.get_by_role("link", name="Bahasa Indonesia").click()
    page.wait_for_load_state()
    page.goto(page_url(live_server, invoice))
    assert page.get_attribute("html", "lang") == "id"
    assert page.get_by_text("Bayar tepat", exact=True).is_visible()

    # Without a choice, a browser preferring neither language gets Indonesian, one preferring
    # English gets English.
    french = open_phone(locale="fr-FR").page
    french.goto(page_url(live_server, invoice))
    assert french.get_attribute("html", "lang") == "id"
    english = open_phone(locale="en-GB").page
    english.goto(page_url(live_server, invoice))
    assert english.get_attribute("html", "lang") == "en"
    assert phone.errors == []


# --- 6. OVO -------------------------------------------------------------------------------------


def test_ovo_payment_shows_the_number_and_copies_it(
    live_server: LiveServer,
    api: httpx.Client,
    db: Database,
    merchant: NewMerchant,
    open_phone: Callable[..., Phone],
    shoot: Shoot,
) -> None:
    db.write_sync(
        lambda conn: configure_merchant(conn, merchant.username, subscription_active=True, ovo_number="081234567890")
    )
    invoice = create(api, payment_method="ovo", description="Top up")["payment"]["invoice_id"]
    phone = open_phone()
    phone.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = phone.page
    page.goto(page_url(live_server, invoice))

    assert status_of(page) == "pending"
    assert page.get_by_text("Transfer ke nomor OVO").is_visible()
    assert page.get_by_test_id("ovo-number").inner_text() == "081234567890"
    assert page.locator("img[data-testid=qr]").count() == 0  # paid by transfer, not by scanning
    assert page.get_by_test_id("countdown").is_visible()
    # Found by what it copies, not by its label: see test_ovo_copy_button_is_labelled_copy.
    copy = page.locator("button[data-copy=ovo-number]")
    assert copy.is_visible()
    shoot(page, "1-ovo")

    copy.click()
    page.get_by_role("button", name="Tersalin").wait_for()
    assert page.evaluate("() => navigator.clipboard.readText()") == "081234567890"
    shoot(page, "2-copied")
    assert phone.errors == []


def test_ovo_copy_button_is_labelled_copy(
    live_server: LiveServer,
    api: httpx.Client,
    db: Database,
    merchant: NewMerchant,
    phone: Phone,
    shoot: Shoot,
) -> None:
    db.write_sync(
        lambda conn: configure_merchant(conn, merchant.username, subscription_active=True, ovo_number="081234567890")
    )
    invoice = create(api, payment_method="ovo")["payment"]["invoice_id"]
    page = phone.page
    page.goto(page_url(live_server, invoice))
    shoot(page, "id")
    indonesian = page.locator("button[data-copy=ovo-number]").inner_text()
    page.goto(page_url(live_server, invoice, lang="en"))
    shoot(page, "en")
    english = page.locator("button[data-copy=ovo-number]").inner_text()
    assert (indonesian, english) == ("Salin", "Copy")
    assert_fits_phone(page)  # the long label pushes the button ~130 px past the screen's edge


# --- 7. security --------------------------------------------------------------------------------


def test_buyer_text_is_inert_and_goods_stay_off_the_unpaid_page(
    live_server: LiveServer, api: httpx.Client, phone: Phone, shop_site: ShopSite, shoot: Shoot
) -> None:
    created = create(api, description=XSS, customer_name=XSS, redirect_url=shop_site.thanks, **goods(api))
    invoice = created["payment"]["invoice_id"]
    page = phone.page
    page.goto(page_url(live_server, invoice))
    page.wait_for_load_state("networkidle")

    assert page.locator("h1").inner_text() == XSS
    assert page.get_by_test_id("customer-name").inner_text() == XSS
    assert page.evaluate("() => typeof window.__pwned") == "undefined"
    assert page.locator('img[src="x"]').count() == 0
    assert page.locator("script").count() == 2  # the page's data and /static/pay.js, nothing else
    assert_fits_phone(page)  # long unbroken text wraps
    shoot(page, "1-unpaid")

    # Before payment, the goods are nowhere: not in the DOM, the raw HTML, or the status JSON.
    secrets = (LICENSE_KEY, "/download/", shop_site.thanks)
    raw = httpx.get(page_url(live_server, invoice), timeout=10)
    status = httpx.get(f"{live_server.url}/pay/status", params={"invoice": invoice}, timeout=10)
    assert raw.status_code == status.status_code == 200
    for secret in secrets:
        assert secret not in page.content()
        assert secret not in raw.text
        assert secret not in status.text
    assert status.json()["payment"]["content"] is None
    assert status.json()["payment"]["download"] is None
    assert status.json()["payment"]["redirect_url"] is None

    # Paid: the goods arrive (so the checks above could have failed), the text is still inert.
    started = time.monotonic()
    pay(api, invoice)
    wait_for_status(page, "paid", deadline=started + 3)
    assert page.get_by_test_id("content").inner_text() == LICENSE_KEY
    assert page.locator("h1").inner_text() == XSS
    assert page.evaluate("() => typeof window.__pwned") == "undefined"
    assert LICENSE_KEY in httpx.get(f"{live_server.url}/pay/status", params={"invoice": invoice}, timeout=10).text
    shoot(page, "2-paid")

    # Nor on the not-found page, which echoes the invoice it was asked for.
    page.goto(f"{live_server.url}/pay?invoice={quote(XSS, safe='')}")
    assert page.locator("h1").inner_text() == "Pembayaran tidak ditemukan"
    assert page.locator("code").inner_text() == XSS
    assert page.evaluate("() => typeof window.__pwned") == "undefined"
    shoot(page, "3-not-found")
    phone.errors.clear()  # the 404 of the page itself is logged as a console error

    # No way to smuggle a script URL in as the redirect.
    refused = api.post("/api/create-payment.php", json={"amount": 50000, "redirect_url": "javascript:alert(1)"})
    assert refused.status_code == 400, refused.text
    assert phone.errors == []


# --- 8. accessibility ---------------------------------------------------------------------------


def unnamed(page: Any) -> list[str]:
    """Links, buttons and images Chromium's accessibility tree gives no name."""
    cdp = page.context.new_cdp_session(page)
    try:
        nodes = cdp.send("Accessibility.getFullAXTree")["nodes"]
    finally:
        cdp.detach()
    problems = []
    for node in nodes:
        role = node.get("role", {}).get("value")
        if node.get("ignored") or role not in ("link", "button", "image", "img"):
            continue
        if not str(node.get("name", {}).get("value", "")).strip():
            problems.append(f"{role} without a name (backend node {node.get('backendDOMNodeId')})")
    return problems


def a11y_basics(page: Any) -> None:
    assert page.get_attribute("html", "lang") in ("id", "en")
    assert page.title().strip()
    assert page.locator("h1").count() == 1
    for image in page.locator("img").all():
        assert (image.get_attribute("alt") or "").strip(), image.evaluate("img => img.outerHTML")
    assert page.get_attribute(STATUS, "aria-live") in ("polite", "assertive")
    for control in page.locator("a, button").all():
        assert control.evaluate("el => (el.innerText || el.getAttribute('aria-label') || '').trim()"), control.evaluate(
            "el => el.outerHTML"
        )
    assert unnamed(page) == []


def test_accessibility_basics_pending_and_paid(
    live_server: LiveServer, api: httpx.Client, phone: Phone, shop_site: ShopSite, shoot: Shoot
) -> None:
    invoice = create(api, description="Template undangan", redirect_url=shop_site.thanks, **goods(api))["payment"][
        "invoice_id"
    ]
    page = phone.page
    page.goto(page_url(live_server, invoice))
    wait_loaded(page, "img.product")
    assert page.locator("img").count() == 2  # the photo and the QR
    labelled = page.locator("section.amount").get_attribute("aria-labelledby")
    assert page.locator(f"#{labelled}").inner_text() == "Bayar tepat"
    a11y_basics(page)
    shoot(page, "1-pending")

    started = time.monotonic()
    pay(api, invoice)
    wait_for_status(page, "paid", deadline=started + 3)
    a11y_basics(page)
    assert page.get_by_role("link", name=re.compile(r"^Unduh file")).is_visible()
    assert page.get_by_role("link", name="Lanjutkan ke toko").is_visible()
    assert_fits_phone(page)
    shoot(page, "2-paid")
    assert phone.errors == []


def test_page_without_description_still_has_a_heading(
    live_server: LiveServer, api: httpx.Client, phone: Phone, shoot: Shoot
) -> None:
    invoice = create(api)["payment"]["invoice_id"]  # description is optional in create-payment
    page = phone.page
    page.goto(page_url(live_server, invoice))
    shoot(page, "no-description")
    assert page.get_by_role("heading").count() >= 1
