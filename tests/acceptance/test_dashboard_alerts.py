"""The dashboard's alerts page over HTTP (docs/alerts.md), on SQLite and PostgreSQL.

Covered: the list shows the alerts of the session's merchant and mode only, newest first, each
with its summary, a link to the page that shows the problem, and its messages' delivery state
(pending, sent, failed with the reason) linked to their attempt log, paged; the owner sets where
alerts go (a WhatsApp number, the owners' addresses, a list, or no email), with an audit line,
and a bad number or address is refused with the reason and changes nothing; a developer sees the
list but no form and cannot post it (403, nothing changed); a cashier cannot open the page; no
CSRF token, no change; the page warns when alerts reach nobody and says when the server writes
messages to its log instead of sending them; and ``recent_alerts``, for the overview's banner."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from kasir.alerts import recipients, views
from kasir.alerts.service import raise_alert
from kasir.clock import utcnow
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.db.tables import audit_log, deliveries
from kasir.merchants.service import NewMerchant
from kasir.team import users
from tests.conftest import writes_nothing
from tests.dashboard_helpers import EMAIL, PASSWORD, csrf_of

ALERTS = "/dashboard/alerts"
RECIPIENTS = f"{ALERTS}/recipients"
DEVELOPER = "dev@toko.test"
CASHIER = "kasir@toko.test"


@pytest.fixture
def owner(db: Database, merchant: NewMerchant) -> users.NewUser:
    return db.write_sync(lambda conn: users.create_user(conn, merchant.username, EMAIL, utcnow(), password=PASSWORD))


def sign_in(client: TestClient, email: str = EMAIL) -> str:
    response = client.post("/dashboard/login", data={"email": email, "password": PASSWORD}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/dashboard/account").text)


def alert(
    db: Database, merchant_id: int, subject: str, *, mode: str = "test", minutes_ago: float = 0, **kw: Any
) -> None:
    values: dict[str, Any] = {
        "merchant_id": merchant_id,
        "mode": mode,
        "cause": "source_silent",
        "subject": subject,
        "summary": f"Sumber «HP {subject}» tidak melapor.",
        "page": f"/dashboard/sources/{subject}",
        "now": utcnow() - timedelta(minutes=minutes_ago),
        **kw,
    }
    assert db.write_sync(lambda conn: raise_alert(conn, **values))


def shown_alerts(html: str) -> list[str]:
    import re

    return re.findall(r'data-alert="(alr_[0-9a-f]+)"', html)


def stored_recipients(db: Database, merchant: NewMerchant) -> recipients.Recipients:
    return db.read_sync(lambda conn: recipients.recipients_of(conn, merchant.id))


def test_the_list_shows_each_alert_with_its_link_and_its_messages_state(
    client: TestClient, db: Database, merchant: NewMerchant, owner: users.NewUser
) -> None:
    db.write_sync(
        lambda conn: recipients.save_recipients(conn, merchant.id, whatsapp="6281298765432", emails=None, now=utcnow())
    )
    alert(db, merchant.id, "src_aaa", minutes_ago=10)
    alert(db, merchant.id, "ep_bbb", cause="endpoint_disabled", page="/dashboard/webhooks/endpoints/ep_bbb")
    # The first alert's email failed for good, its WhatsApp message went out.
    db.write_sync(
        lambda conn: (
            conn.execute(
                sa.update(deliveries)
                .where(deliveries.c.url == f"email:{EMAIL}")
                .values(status="failed", attempts=9, last_status_code=550, last_error="the SMTP server refused: 550 x")
            ),
            conn.execute(
                sa.update(deliveries)
                .where(deliveries.c.url == "whatsapp:6281298765432")
                .values(status="succeeded", attempts=1)
            ),
        )
    )
    sign_in(client)
    page = client.get(ALERTS)
    assert page.status_code == 200
    html = page.text
    rows = db.read_sync(lambda conn: views.list_alerts(conn, merchant.id, "test", limit=10))
    assert shown_alerts(html) == [r["public_id"] for r in rows]  # newest first
    assert [r["cause"] for r in rows] == ["endpoint_disabled", "source_silent"]
    assert "Endpoint webhook dinonaktifkan" in html
    assert "Sumber «HP src_aaa» tidak melapor." in html
    assert 'href="/dashboard/sources/src_aaa"' in html
    assert 'href="/dashboard/webhooks/endpoints/ep_bbb"' in html
    assert 'data-medium="email" data-status="failed"' in html
    assert "the SMTP server refused: 550 x" in html
    assert 'data-medium="whatsapp" data-status="succeeded"' in html
    for message in rows[1]["messages"]:
        assert f'href="/dashboard/webhooks/deliveries/{message["id"]}"' in html
    # Recipients as the owner reads them, masked in the list (it is a log), whole in the card.
    assert "6281******432" in html
    assert "ow***@toko.test" in html
    assert 'data-recipient="whatsapp">6281298765432' in html
    # The default server writes both to its log: the page says so.
    assert "KASIR_NOTIFIER=log" in html
    assert "KASIR_SMTP_HOST" in html
    assert client.get(ALERTS, params={"lang": "en"}).text.count("Payment source stopped reporting") == 1


def test_only_this_merchants_alerts_in_this_mode(
    client: TestClient, db: Database, merchant: NewMerchant, other_merchant: NewMerchant, owner: users.NewUser
) -> None:
    alert(db, merchant.id, "src_mine")
    alert(db, merchant.id, "src_live", mode="live")
    alert(db, other_merchant.id, "src_theirs")
    csrf = sign_in(client)
    html = client.get(ALERTS).text
    assert "src_mine" in html
    assert "src_live" not in html
    assert "src_theirs" not in html
    assert client.post("/dashboard/mode", data={"csrf_token": csrf, "mode": "live"}).status_code in (200, 303)
    html = client.get(ALERTS).text
    assert "src_live" in html
    assert "src_mine" not in html


def test_the_list_is_paged(client: TestClient, db: Database, merchant: NewMerchant, owner: users.NewUser) -> None:
    for i in range(23):
        alert(db, merchant.id, f"src_{i:03d}", minutes_ago=100 - i)
    sign_in(client)
    first = client.get(ALERTS).text
    assert len(shown_alerts(first)) == 20
    assert "src_022" in first
    older = client.get(ALERTS, params={"before": shown_alerts(first)[-1]}).text
    assert len(shown_alerts(older)) == 3
    assert "src_000" in older
    assert 'data-page="newest"' in older
    assert shown_alerts(client.get(ALERTS, params={"before": "alr_nonsense"}).text) == shown_alerts(first)


def test_no_recipient_is_warned_about(
    client: TestClient, db: Database, merchant: NewMerchant, owner: users.NewUser
) -> None:
    db.write_sync(lambda conn: recipients.save_recipients(conn, merchant.id, whatsapp=None, emails=[], now=utcnow()))
    sign_in(client)
    html = client.get(ALERTS).text
    assert 'data-warning="no-recipient"' in html
    assert "Belum ada pesan" not in html
    assert 'data-empty="alerts"' in html


def test_the_owner_sets_where_alerts_go(
    client: TestClient, db: Database, merchant: NewMerchant, owner: users.NewUser
) -> None:
    csrf = sign_in(client)
    assert stored_recipients(db, merchant) == recipients.Recipients(None, (EMAIL,), owners_default=True)
    page = client.get(ALERTS).text
    assert 'id="recipients-form"' in page
    assert 'value="owners" checked' in page

    saved = client.post(
        RECIPIENTS,
        data={
            "csrf_token": csrf,
            "whatsapp": "0812-9876-5432",
            "email_choice": "list",
            "emails": "ops@toko.id\nAdmin@Toko.id",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == f"{ALERTS}?done=saved"
    assert stored_recipients(db, merchant) == recipients.Recipients(
        "6281298765432", ("ops@toko.id", "Admin@Toko.id"), owners_default=False
    )
    html = client.get(saved.headers["location"]).text
    assert 'data-notice="saved"' in html
    assert 'value="6281298765432"' in html
    assert 'value="list" checked' in html

    client.post(RECIPIENTS, data={"csrf_token": csrf, "whatsapp": "", "email_choice": "none", "emails": "x"})
    assert stored_recipients(db, merchant) == recipients.Recipients(None, (), owners_default=False, email_off=True)
    client.post(RECIPIENTS, data={"csrf_token": csrf, "whatsapp": "+62 812 1111 2222", "email_choice": "owners"})
    assert stored_recipients(db, merchant) == recipients.Recipients("6281211112222", (EMAIL,), owners_default=True)

    lines = db.read_sync(lambda conn: conn.execute(sa.select(audit_log).order_by(audit_log.c.id)).mappings().all())
    assert [(line["action"], line["actor"]) for line in lines] == [("change_alert_recipients", EMAIL)] * 3
    assert json.loads(lines[0]["details"]) == {"whatsapp": "6281298765432", "emails": ["ops@toko.id", "Admin@Toko.id"]}
    assert json.loads(lines[2]["details"]) == {"whatsapp": "6281211112222", "emails": "owners"}


@pytest.mark.parametrize(
    ("fields", "shown"),
    [
        ({"whatsapp": "bukan nomor", "email_choice": "owners"}, "Nomor WhatsApp tidak valid"),
        ({"whatsapp": "", "email_choice": "list", "emails": "pemilik@toko"}, "Alamat email tidak valid"),
        ({"whatsapp": "", "email_choice": "list", "emails": ""}, "Alamat email tidak valid"),
        ({"whatsapp": "", "email_choice": "everyone"}, "Pilih ke mana email dikirim."),
    ],
)
def test_a_bad_recipient_is_refused_with_the_reason_and_changes_nothing(
    client: TestClient, db: Database, merchant: NewMerchant, owner: users.NewUser, fields: dict[str, str], shown: str
) -> None:
    csrf = sign_in(client)
    with writes_nothing(db):
        page = client.post(RECIPIENTS, data={"csrf_token": csrf, **fields})
    assert page.status_code == 400
    assert shown in page.text
    assert 'role="alert"' in page.text
    if fields.get("whatsapp"):
        assert f'value="{fields["whatsapp"]}"' in page.text  # what was typed stays in the form


def test_without_the_csrf_token_nothing_changes(
    client: TestClient, db: Database, merchant: NewMerchant, owner: users.NewUser
) -> None:
    sign_in(client)
    with writes_nothing(db):
        response = client.post(RECIPIENTS, data={"whatsapp": "081298765432", "email_choice": "none"})
    assert response.status_code == 403


def test_a_developer_sees_the_list_but_cannot_change_the_recipients_and_a_cashier_sees_nothing(
    client: TestClient, db: Database, merchant: NewMerchant, owner: users.NewUser
) -> None:
    now = utcnow()
    for email, role in ((DEVELOPER, "developer"), (CASHIER, "cashier")):

        def add_user(conn: sa.Connection, e: str = email, r: str = role) -> users.NewUser:
            return users.create_user(conn, merchant.username, e, now, role=r, password=PASSWORD)

        db.write_sync(add_user)
    alert(db, merchant.id, "src_dev")
    csrf = sign_in(client, DEVELOPER)
    html = client.get(ALERTS).text
    assert "src_dev" in html
    assert 'id="recipients-form"' not in html
    assert "Hanya pemilik yang dapat mengubah penerima." in html
    with writes_nothing(db):
        refused = client.post(RECIPIENTS, data={"csrf_token": csrf, "whatsapp": "081298765432", "email_choice": "none"})
    assert refused.status_code == 403

    client.cookies.clear()
    csrf = sign_in(client, CASHIER)
    assert client.get(ALERTS).status_code == 403
    assert f'href="{ALERTS}"' not in client.get("/dashboard/account").text
    with writes_nothing(db):
        assert client.post(RECIPIENTS, data={"csrf_token": csrf, "email_choice": "none"}).status_code == 403


def test_recent_alerts_for_the_overview(db: Database, merchant: NewMerchant, settings: Settings) -> None:
    now = utcnow()
    empty = db.read_sync(lambda conn: views.recent_alerts(conn, merchant.id, "test", now))
    assert empty == views.RecentAlerts(0, None, None, None, 0)
    db.write_sync(
        lambda conn: recipients.save_recipients(conn, merchant.id, whatsapp="6281298765432", emails=[], now=now)
    )
    alert(db, merchant.id, "src_old", minutes_ago=25 * 60)
    alert(db, merchant.id, "src_a", minutes_ago=30)
    alert(db, merchant.id, "ep_b", cause="callbacks_failing", page="/dashboard/webhooks", minutes_ago=5)
    alert(db, merchant.id, "src_live", mode="live")
    db.write_sync(
        lambda conn: conn.execute(sa.update(deliveries).where(deliveries.c.mode == "test").values(status="failed"))
    )
    recent = db.read_sync(lambda conn: views.recent_alerts(conn, merchant.id, "test", now))
    assert recent.count == 2
    assert recent.latest_cause == "callbacks_failing"
    assert recent.latest_summary == "Sumber «HP ep_b» tidak melapor."
    assert recent.latest_at is not None
    assert recent.failed_messages == 2  # of the two recent alerts; the day-old one is not counted


def test_the_overview_shows_the_last_days_alerts_to_the_owner_not_to_a_cashier(
    client: TestClient, db: Database, merchant: NewMerchant, owner: users.NewUser
) -> None:
    sign_in(client)
    assert 'data-testid="alerts-banner"' not in client.get("/dashboard").text
    alert(db, merchant.id, "src_old", minutes_ago=25 * 60)
    assert 'data-testid="alerts-banner"' not in client.get("/dashboard").text  # older than a day
    alert(db, merchant.id, "src_a", minutes_ago=30)
    alert(db, merchant.id, "src_live", mode="live")
    page = client.get("/dashboard").text
    banner = page[page.index('data-testid="alerts-banner"') :].split("</p>")[0]
    assert "1 peringatan dalam 24 jam terakhir" in banner
    assert "Sumber «HP src_a» tidak melapor." in banner
    assert f'href="{ALERTS}"' in banner
    db.write_sync(
        lambda conn: users.create_user(conn, merchant.username, CASHIER, utcnow(), role="cashier", password=PASSWORD)
    )
    client.cookies.clear()
    sign_in(client, CASHIER)
    assert 'data-testid="alerts-banner"' not in client.get("/dashboard").text
