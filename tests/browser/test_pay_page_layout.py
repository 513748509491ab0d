"""The pay page's first screen, measured in Chromium (issue 16, item 8).

A buyer on a phone must see what to pay and the QR to pay it with without scrolling, even when
the payment has a product photo; and once paid, the download button must stand apart from the
success box rather than touch it. Measured at 390×844 (the phone of tests/browser/conftest.py),
and checked at 1280×800, a laptop.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.browser.conftest import PHONE, Phone, ShopSite
from tests.browser.test_pay_page import (
    Shoot,
    assert_fits_phone,
    create,
    goods,
    page_url,
    pay,
    status_of,
    wait_for_status,
    wait_loaded,
)
from tests.conftest import LiveServer

# Amount, photo and QR: the boxes the first screen must hold.
AMOUNT = "section.amount"
QR = "[data-testid=qr]"
PHOTO = "img.product"


def box(page: Any, selector: str) -> dict[str, float]:
    found = page.locator(selector).bounding_box()
    assert found is not None, f"{selector} is not rendered"
    return dict(found)


def assert_on_first_screen(page: Any, selector: str, height: int) -> None:
    """The element is wholly inside the viewport as loaded: top at or below 0, bottom at or above
    the viewport's height, and the page not scrolled."""
    assert page.evaluate("() => window.scrollY") == 0
    shown = box(page, selector)
    bottom = shown["y"] + shown["height"]
    spans = f"{selector} spans {shown['y']:.0f}-{bottom:.0f} px of {height}"
    assert shown["y"] >= 0, spans
    assert bottom <= height, spans


def shoot_both(page: Any, shoot: Shoot, step: str) -> None:
    """The full page (``shoot``), and beside it only what the first screen shows."""
    full = shoot(page, step)
    page.screenshot(path=str(full.with_name(f"{full.stem}-first-screen.png")))


def open_with_photo(live_server: LiveServer, api: httpx.Client, page: Any, **fields: Any) -> str:
    created = create(
        api, amount=75000, description="E-book Resep Nusantara", customer_name="Budi Santoso", **goods(api), **fields
    )
    invoice = str(created["payment"]["invoice_id"])
    page.goto(page_url(live_server, invoice))
    wait_loaded(page, PHOTO)
    wait_loaded(page, QR)
    return invoice


def test_phone_with_photo_shows_amount_and_qr_on_the_first_screen(
    live_server: LiveServer, api: httpx.Client, phone: Phone, shoot: Shoot
) -> None:
    page = phone.page
    height = PHONE["viewport"]["height"]
    open_with_photo(live_server, api, page)
    assert status_of(page) == "pending"

    # The photo is still there and loaded (smaller, not gone), and it sits above the amount.
    assert int(page.eval_on_selector(PHOTO, "img => img.naturalWidth")) > 0
    photo = box(page, PHOTO)
    assert photo["width"] > 40, photo
    assert photo["height"] > 40, photo
    assert photo["y"] + photo["height"] <= box(page, AMOUNT)["y"]
    assert_on_first_screen(page, AMOUNT, height)
    assert_on_first_screen(page, QR, height)
    assert_fits_phone(page)
    shoot_both(page, shoot, "pending-390x844")
    assert phone.errors == []


def test_paid_download_button_stands_apart_from_the_success_box(
    live_server: LiveServer, api: httpx.Client, phone: Phone, shop_site: ShopSite, shoot: Shoot
) -> None:
    page = phone.page
    invoice = open_with_photo(live_server, api, page, redirect_url=shop_site.thanks)
    started = time.monotonic()
    pay(api, invoice)
    wait_for_status(page, "paid", deadline=started + 3)
    download = box(page, "[data-testid=download]")
    status = box(page, "#status")
    gap = download["y"] - (status["y"] + status["height"])
    assert gap >= 8, f"the download button is {gap:.1f} px below the success box"
    assert_fits_phone(page)
    shoot_both(page, shoot, "paid-390x844")
    assert phone.errors == []


def test_laptop_with_photo_still_shows_everything_in_one_column(
    live_server: LiveServer, api: httpx.Client, browser: Any, shoot: Shoot
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="id-ID")
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        open_with_photo(live_server, api, page)
        assert_on_first_screen(page, AMOUNT, 800)
        assert_on_first_screen(page, QR, 800)
        # One centred column, no wider than the card: the QR is under the amount, not beside it.
        amount, qr, photo = box(page, AMOUNT), box(page, QR), box(page, PHOTO)
        assert amount["width"] <= 30 * 16
        assert qr["y"] >= amount["y"] + amount["height"]
        assert abs((amount["x"] + amount["width"] / 2) - 640) <= 2
        assert photo["height"] > 40
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 1280
        shoot_both(page, shoot, "pending-1280x800")
        assert errors == []
    finally:
        context.close()
