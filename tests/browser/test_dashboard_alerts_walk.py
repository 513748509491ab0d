"""The alerts page in Debian's Chromium, on a phone (390×844) and a laptop (1280×800), with the
app's REAL background worker, a REAL local Cloud-API-shaped WhatsApp server and a REAL local SMTP
server (aiosmtpd):

sign in as the owner; the page has no alert and says where alerts would go; the owner types a
WhatsApp number and keeps email to the owners, saves; a phone source goes silent (the health
sweep) → the WhatsApp message and the email arrive, and the page lists the alert with both
messages sent; "See the problem" opens the source's page.

Screenshots of every step go to test-output/screenshots/ (test_alerts_flow-*).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from kasir.app import create_app
from kasir.clock import utcnow
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.merchants.service import NewMerchant
from kasir.team import users
from tests.browser.conftest import Phone
from tests.browser.page_checks import no_overflow, wait_for_text
from tests.conftest import LiveServer, free_port
from tests.dashboard_helpers import LAPTOP, PASSWORD
from tests.integration.alerts.conftest import alert_settings, cloud_success, live_source, sweep_sources
from tests.mailbox import Mailbox
from tests.receivers import Receiver

OWNER = "owner@toko.test"

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@pytest.fixture
def owner(db: Database, merchant: NewMerchant) -> users.NewUser:
    return db.write_sync(lambda conn: users.create_user(conn, merchant.username, OWNER, utcnow(), password=PASSWORD))


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with Mailbox() as box:
        yield box


@pytest.fixture
def cloud() -> Iterator[Receiver]:
    with Receiver(lambda _n, _r: cloud_success(), port=free_port()) as api:
        yield api


@pytest.fixture
def alerting(settings: Settings, cloud: Receiver, mailbox: Mailbox) -> Settings:
    cloud_port = int(cloud.url.split(":")[2].split("/")[0])
    return alert_settings(settings, cloud_port, mailbox.port, smtp_username=None, smtp_password=None)


@pytest.fixture
def working_server(alerting: Settings, db: Database) -> Iterator[LiveServer]:
    with LiveServer(create_app(alerting, database=db)) as server:
        yield server


@pytest.mark.parametrize("device", ["phone", "laptop"])
def test_alerts_flow(
    device: str,
    open_phone: Callable[..., Phone],
    working_server: LiveServer,
    db: Database,
    merchant: NewMerchant,
    owner: users.NewUser,
    alerting: Settings,
    cloud: Receiver,
    mailbox: Mailbox,
    shoot: Callable[[Any, str], Any],
) -> None:
    browser = open_phone(**(LAPTOP if device == "laptop" else {}))
    page = browser.page
    base = working_server.url
    page.goto(f"{base}/dashboard/alerts")
    assert "/dashboard/login" in page.url
    page.fill('input[name="email"]', OWNER)
    page.fill('input[name="password"]', PASSWORD)
    page.click('button[type="submit"]')
    page.wait_for_url(f"{base}/dashboard/alerts")
    assert page.locator('[data-empty="alerts"]').is_visible()
    assert OWNER in page.locator('[data-recipient="email"]').inner_text()
    no_overflow(page)
    shoot(page, f"{device}-empty")

    page.fill('input[name="whatsapp"]', "0812-9876-5432")
    page.check('input[name="email_choice"][value="owners"]')
    page.click('#recipients-form button[type="submit"]')
    page.wait_for_url(f"{base}/dashboard/alerts?done=saved")
    assert page.locator('[data-notice="saved"]').is_visible()
    assert page.locator('[data-recipient="whatsapp"]').inner_text().startswith("6281298765432")
    shoot(page, f"{device}-saved")

    source = live_source(db, merchant, utcnow() - timedelta(minutes=10))
    assert sweep_sources(db, alerting, utcnow()) == 1
    cloud.wait_for(1)
    [mail] = mailbox.wait_for(1)
    assert mail.recipients == [OWNER]
    page.reload()
    wait_for_text(page, '[data-list="alerts"]', "terkirim")
    wait_for_text(page, '[data-medium="email"]', "terkirim")
    item = page.locator('[data-cause="source_silent"]')
    assert "Sumber pembayaran berhenti melapor" in item.inner_text()
    assert "HP kasir depan" in item.inner_text()
    no_overflow(page)
    shoot(page, f"{device}-alerted")

    page.click('[data-action="see"]')
    page.wait_for_url(f"{base}/dashboard/sources/{source['public_id']}")
    shoot(page, f"{device}-source")
