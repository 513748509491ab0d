"""Team roles in Debian's Chromium, on a phone (390×844) and a laptop (1280×800), against the app
on a real socket:

the owner signs in and invites a cashier and a developer through the team page (each link shown
once); each follows their link in a browser context of their own and chooses a password; the
cashier signs out and in again, sees the money and the paid payment (not the pending one), no
webhook secret anywhere, and gets the 403 page at the webhooks and at the API keys; the developer
opens the webhooks but gets the 403 page at the team; the owner sees both in the team and its
history, and removes the developer, whose next page is the sign-in.

The link the page shows is made from KASIR_PUBLIC_URL (http://kasir.test in tests): its path is
opened on the live server. Screenshots go to test-output/screenshots/ (test_roles_walk-*).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from kasir.clock import utcnow
from kasir.db.engine import Database
from kasir.merchants.service import NewMerchant
from kasir.money import rupiah
from kasir.team import users
from tests.browser.conftest import Phone
from tests.browser.page_checks import no_overflow
from tests.conftest import LiveServer
from tests.dashboard_helpers import LAPTOP, PASSWORD

OWNER = "owner@toko.test"
CASHIER = "kasir@toko.test"
DEVELOPER = "dev@toko.test"
CASHIER_PASSWORD = "sandi-kasir-depan-1"
DEVELOPER_PASSWORD = "sandi-pengembang-1"
ROLE_REFUSED = "Peran Anda tidak boleh membuka halaman ini"


@pytest.fixture
def owner(db: Database, merchant: NewMerchant) -> users.NewUser:
    return db.write_sync(lambda conn: users.create_user(conn, merchant.username, OWNER, utcnow(), password=PASSWORD))


def sign_in(page: Any, base: str, email: str, password: str) -> None:
    page.goto(f"{base}/dashboard/login")
    page.fill('input[name="email"]', email)
    page.fill('input[name="password"]', password)
    page.click('main button[type="submit"]')
    page.wait_for_url(f"{base}/dashboard")


def invite(page: Any, email: str, role: str) -> str:
    """Through the team page's form: the link it shows once."""
    page.fill('#invite-form input[name="email"]', email)
    page.select_option('#invite-form select[name="role"]', role)
    page.click('#invite-form button[type="submit"]')
    link = str(page.locator('[data-testid="invitation-link"]').inner_text()).strip()
    assert link.startswith("http://kasir.test/dashboard/invite/")
    return link.removeprefix("http://kasir.test")


def join(browser: Phone, base: str, path: str, password: str) -> None:
    """The invited person, in their own browser: the link, a password, signed in."""
    page = browser.page
    page.goto(base + path)
    page.fill('input[name="password"]', password)
    page.fill('input[name="password_again"]', password)
    page.click('[data-testid="invite-accept"] button[type="submit"]')
    page.wait_for_url(f"{base}/dashboard")


def refused(page: Any, url: str) -> None:
    answer = page.goto(url)
    assert answer.status == 403, (url, answer.status)
    assert ROLE_REFUSED in page.locator("main").inner_text()


@pytest.mark.parametrize("device", ["phone", "laptop"])
def test_roles_walk(
    device: str,
    open_phone: Callable[..., Phone],
    live_server: LiveServer,
    api: httpx.Client,
    merchant: NewMerchant,
    owner: users.NewUser,
    shoot: Callable[[Any, str], Any],
) -> None:
    size = LAPTOP if device == "laptop" else {}
    base = live_server.url
    paid = api.post("/api/create-payment.php", json={"amount": 85000, "payment_method": "qris"}).json()["payment"]
    pending = api.post("/api/create-payment.php", json={"amount": 12000, "payment_method": "qris"}).json()["payment"]
    assert api.post(f"/v1/sandbox/payments/{paid['invoice_id']}/pay").status_code == 200

    # The owner invites a cashier and a developer.
    boss = open_phone(**size)
    page = boss.page
    page.goto(f"{base}/dashboard/team")
    assert "/dashboard/login" in page.url
    page.fill('input[name="email"]', OWNER)
    page.fill('input[name="password"]', PASSWORD)
    page.click('main button[type="submit"]')
    page.wait_for_url(f"{base}/dashboard/team")
    assert page.locator("h1").inner_text() == "Tim"
    shoot(page, f"{device}-team")
    no_overflow(page)
    cashier_link = invite(page, CASHIER, "cashier")
    shoot(page, f"{device}-invitation-link")
    no_overflow(page)
    page.click("text=Kembali ke tim")
    developer_link = invite(page, DEVELOPER, "developer")
    page.goto(f"{base}/dashboard/team")
    assert page.locator('[data-testid="pending"] li').count() == 2
    assert cashier_link.rsplit("/", 1)[1] not in page.content()
    shoot(page, f"{device}-team-pending")
    no_overflow(page)

    # The cashier, in a browser of their own: the link, a password, then signing in again.
    cashier = open_phone(**size)
    page = cashier.page
    page.goto(base + cashier_link)
    assert CASHIER in page.locator("main").inner_text()
    shoot(page, f"{device}-cashier-invitation")
    no_overflow(page)
    join(cashier, base, cashier_link, CASHIER_PASSWORD)
    page.click("text=Keluar")
    page.wait_for_url(f"{base}/dashboard/login?signed_out=1")
    sign_in(page, base, CASHIER, CASHIER_PASSWORD)
    nav = page.locator("nav.nav").inner_text()
    assert "Pembayaran" in nav
    for hidden in ("Webhook", "Kunci API", "Tim", "Sumber pembayaran", "Kanal"):
        assert hidden not in nav
    assert page.locator('[data-testid="integration"]').count() == 0
    # The last 7 days' card, not today's: a walk that runs across midnight WIB would see today's
    # figure start again from 0.
    received = page.locator('[data-period="last_7_days"] [data-figure="received"]').inner_text()
    assert received == f"Rp {rupiah(paid['final_amount'])}"
    shoot(page, f"{device}-cashier-overview")
    no_overflow(page)
    page.click("nav.nav >> text=Pembayaran")
    assert page.locator(f'tr[data-invoice="{paid["invoice_id"]}"]').count() == 1
    assert page.locator(f'tr[data-invoice="{pending["invoice_id"]}"]').count() == 0
    assert page.locator('[data-testid="new-payment"]').count() == 0
    shoot(page, f"{device}-cashier-payments")
    no_overflow(page)
    page.click(f'tr[data-invoice="{paid["invoice_id"]}"] a')
    assert page.locator('[data-testid="status"]').get_attribute("data-status") == "paid"
    assert page.locator('[data-testid="cancel-form"]').count() == 0
    shoot(page, f"{device}-cashier-payment")
    seen = page.content()
    for url in ("/dashboard", "/dashboard/payments", "/dashboard/account"):
        page.goto(base + url)
        seen += page.content()
    for secret in (merchant.test_webhook_secret, merchant.live_webhook_secret, merchant.test_api_key):
        assert secret not in seen
    assert page.goto(f"{base}/dashboard/payments/{pending['invoice_id']}").status == 404
    refused(page, f"{base}/dashboard/webhooks")
    shoot(page, f"{device}-cashier-webhooks-403")
    no_overflow(page)
    refused(page, f"{base}/dashboard/keys")
    shoot(page, f"{device}-cashier-keys-403")

    # The developer: the integration, not the team.
    developer = open_phone(**size)
    page = developer.page
    join(developer, base, developer_link, DEVELOPER_PASSWORD)
    assert "Tim" not in page.locator("nav.nav").inner_text()
    assert page.locator('[data-testid="integration"]').count() == 1
    page.click("nav.nav >> text=Webhook")
    page.wait_for_url(f"{base}/dashboard/webhooks")
    refused(page, f"{base}/dashboard/team")
    shoot(page, f"{device}-developer-team-403")
    no_overflow(page)

    # The owner sees both, and removes the developer: their next page is the sign-in.
    page = boss.page
    page.goto(f"{base}/dashboard/team")
    members = page.locator('[data-testid="members"]')
    assert members.locator(f'li[data-email="{CASHIER}"]').get_attribute("data-role") == "cashier"
    assert members.locator(f'li[data-email="{DEVELOPER}"]').get_attribute("data-role") == "developer"
    assert page.locator('[data-testid="pending"]').count() == 0
    history = page.locator('[data-testid="history"]').inner_text()
    assert "bergabung" in history
    assert "mengundang" in history
    shoot(page, f"{device}-team-members")
    no_overflow(page)
    members.locator(f'li[data-email="{DEVELOPER}"] [data-testid="remove"]').click()
    shoot(page, f"{device}-remove-confirm")
    page.click('[data-testid="remove-form"] button[type="submit"]')
    page.wait_for_url(f"{base}/dashboard/team?done=removed")
    assert page.locator(f'[data-testid="members"] li[data-email="{DEVELOPER}"]').count() == 0
    shoot(page, f"{device}-team-removed")
    developer.page.reload()
    assert "/dashboard/login" in developer.page.url

    for browser in (boss, cashier, developer):
        assert [e for e in browser.errors if not e.startswith("Failed to load resource")] == []
