"""Send test event, from the dashboard to a developer's `kasir listen`, in Debian's Chromium.

`kasir listen --server … --api-key …` runs as its own process and registers itself as a temporary
endpoint of the merchant (docs/receiving.md); the owner signs in, opens that endpoint in the
dashboard, sends a test event of a chosen type, and the listener verifies its signature and prints
it while the page shows the listener's answer. Screenshots: test_send_test_event_reaches_kasir_listen-*.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kasir.clock import utcnow
from kasir.db.engine import Database
from kasir.merchants.service import NewMerchant
from kasir.team import users
from tests.acceptance.test_devtools import listening
from tests.browser.conftest import Phone
from tests.conftest import LiveServer
from tests.dashboard_helpers import EMAIL, PASSWORD


@pytest.fixture
def owner(db: Database, merchant: NewMerchant) -> users.NewUser:
    return db.write_sync(lambda conn: users.create_user(conn, merchant.username, EMAIL, utcnow(), password=PASSWORD))


def test_send_test_event_reaches_kasir_listen(
    phone: Phone,
    live_server: LiveServer,
    merchant: NewMerchant,
    owner: users.NewUser,
    tmp_path: Path,
    shoot: Callable[[Any, str], Any],
) -> None:
    options = ("--server", live_server.url, "--api-key", merchant.test_api_key, "--dialect", "standard")
    with listening(tmp_path, *options) as listener:
        [endpoint_id] = re.findall(r"^registered endpoint (\S+) on ", listener.output(), re.MULTILINE)
        page = phone.page
        page.goto(f"{live_server.url}/dashboard/login")
        page.fill('input[name="email"]', EMAIL)
        page.fill('input[name="password"]', PASSWORD)
        page.click('button[type="submit"]')
        page.goto(f"{live_server.url}/dashboard/webhooks/endpoints/{endpoint_id}")
        assert listener.url in page.content()
        page.select_option('select[name="event_type"]', "payment.paid")
        page.click('#tester button:has-text("Kirim event uji")')
        [seen] = listener.wait_for(bool, "the test event")
        assert (seen.verdict, seen.event_type, seen.answered) == ("verified", "payment.paid", 200)
        assert page.locator('#tester dd[data-field="status"]').inner_text().startswith("200")
        shoot(page, "test-event-answered")
        assert "payment.paid" in listener.output()
    assert [e for e in phone.errors if not e.startswith("Failed to load resource")] == []
