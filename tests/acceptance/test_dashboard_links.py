"""The dashboard's payment links over HTTP (/dashboard/links, docs/links.md).

Covered: making a fixed-price and an open-amount link by form, through the API's checks (a
refusal shows the form again as typed and writes nothing); the list with each link's price, uses
and cap, money received and state; a link's page with its URL, the WhatsApp share link, a QR that
decodes to the URL, the copy button's script, its totals and the payments made through it (paid
and waiting); changing it (the form filled in as the link is), deactivating after a confirmation,
reactivating; each change in the audit log; another merchant's link and the other mode's are 404
pages; no CSRF token, no change; a cashier gets the 403 page and changes nothing, a developer may.
Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import base64
import html
import re
from typing import Any
from urllib.parse import quote, unquote

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from kasir.clock import utcnow
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.db.tables import audit_log, payment_links
from kasir.links.service import Buyer, claim
from kasir.merchants.service import NewMerchant
from kasir.payments.views import PaymentRow
from kasir.qris.image import read_codes
from kasir.team import users
from tests.conftest import auth, writes_nothing
from tests.dashboard_helpers import EMAIL, PASSWORD, csrf_of

LINKS = "/dashboard/links"


@pytest.fixture
def owner(db: Database, merchant: NewMerchant) -> users.NewUser:
    return db.write_sync(lambda conn: users.create_user(conn, merchant.username, EMAIL, utcnow(), password=PASSWORD))


def sign_in(client: TestClient, email: str = EMAIL) -> str:
    response = client.post("/dashboard/login", data={"email": email, "password": PASSWORD}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/dashboard/account").text)


def fixed_form(csrf: str, **fields: str) -> dict[str, str]:
    return {
        "csrf_token": csrf,
        "title": "Kopi Gayo 250 g",
        "description": "Arabika, sangrai medium",
        "price": "fixed",
        "amount": "85000",
        "usage": "reusable",
        "max_paid_uses": "",
        "payment_method": "qris",
        **fields,
    }


def create_by_form(client: TestClient, csrf: str, **fields: str) -> str:
    # starlette types TestClient over httpx2, which is not installed (it runs on httpx): its answers are Any to mypy
    response: httpx.Response = client.post(LINKS, data=fixed_form(csrf, **fields), follow_redirects=False)
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.endswith("?done=created")
    return location.split("?")[0].rsplit("/", 1)[1]


def audit_lines(db: Database) -> list[dict[str, Any]]:
    return db.read_sync(
        lambda conn: [dict(row) for row in conn.execute(sa.select(audit_log).order_by(audit_log.c.id)).mappings()]
    )


def link_row(db: Database, public_id: str) -> dict[str, Any]:
    return dict(
        db.read_sync(
            lambda conn: (
                conn.execute(sa.select(payment_links).where(payment_links.c.public_id == public_id)).mappings().one()
            )
        )
    )


def url_on(page: str) -> str:
    found = re.search(r'id="link-url"[^>]*value="([^"]+)"', page)
    assert found, "no link URL on the page"
    return html.unescape(found.group(1))


def test_making_a_fixed_price_link_and_sharing_it(
    client: TestClient, db: Database, owner: users.NewUser, settings: Settings
) -> None:
    csrf = sign_in(client)
    empty = client.get(LINKS)
    assert empty.status_code == 200
    assert 'data-empty="links"' in empty.text
    form_page = client.get(f"{LINKS}/new")
    assert form_page.status_code == 200
    assert 'name="title"' in form_page.text
    link_id = create_by_form(client, csrf, max_paid_uses="50")

    page = client.get(f"{LINKS}/{link_id}?done=created")
    assert page.status_code == 200
    text = page.text
    assert 'data-notice="created"' in text
    row = link_row(db, link_id)
    url = f"{settings.public_url}/l/{row['slug']}"
    assert url_on(text) == url
    share = re.search(r'href="(https://wa\.me/\?text=[^"]+)"', text)
    assert share, "no WhatsApp share link"
    assert unquote(html.unescape(share.group(1)).removeprefix("https://wa.me/?text=")) == f"Kopi Gayo 250 g\n{url}"
    qr = re.search(r'src="data:image/png;base64,([^"]+)"[^>]*data-qr="link"', text)
    assert qr, "no QR of the link"
    assert read_codes(base64.b64decode(qr.group(1))) == [url]
    assert '<script src="/static/dashboard-links.js" defer></script>' in text
    assert 'data-copy="link-url"' in text
    assert client.get("/static/dashboard-links.js").status_code == 200
    assert (row["amount"], row["max_paid_uses"], row["description"]) == (85000, 50, "Arabika, sangrai medium")

    [line] = audit_lines(db)
    assert (line["action"], line["subject"], line["actor"]) == ("create_link", link_id, EMAIL)

    listed = client.get(LINKS).text
    item = re.search(rf'<li data-link="{link_id}" data-state="active">(.*?)</li>', listed, re.S)
    assert item, "the link is not listed"
    assert "Rp 85.000" in item.group(1)
    assert "0 dari 50" in item.group(1)


def test_an_open_amount_link_by_form(client: TestClient, db: Database, owner: users.NewUser) -> None:
    csrf = sign_in(client)
    link_id = create_by_form(
        client,
        csrf,
        title="Donasi",
        price="open",
        amount="",
        amount_min="10000",
        amount_max="250000",
        usage="single",
        expires_at="2099-12-31T23:30",
        redirect_url="https://masjid.test/terima-kasih",
    )
    row = link_row(db, link_id)
    assert (row["amount"], row["amount_min"], row["amount_max"]) == (None, 10000, 250000)
    assert (row["reusable"], row["max_paid_uses"]) == (False, 1)
    assert row["expires_at"].isoformat() == "2099-12-31T16:30:00+00:00"  # typed in WIB
    assert row["redirect_url"] == "https://masjid.test/terima-kasih"
    page = client.get(f"{LINKS}/{link_id}").text
    assert "Pembeli menentukan (Rp 10.000 – Rp 250.000)" in page
    assert "2099-12-31 23:30:00 WIB" in page


def test_a_refused_form_comes_back_as_typed(client: TestClient, db: Database, owner: users.NewUser) -> None:
    csrf = sign_in(client)
    with writes_nothing(db):
        for fields, words in (
            ({"title": ""}, "title is required"),
            ({"amount": "100"}, "amount must be between Rp 1.000 and Rp 500.000"),
            ({"price": "open", "amount_min": "50000", "amount_max": "1000"}, "amount_min must not be more than"),
            ({"redirect_url": "javascript:alert(1)"}, "redirect_url must be an http"),
            ({"payment_method": "ovo"}, "payment method ovo is not available"),
            ({"max_paid_uses": "0"}, "max_paid_uses must be a whole number"),
        ):
            response = client.post(LINKS, data=fixed_form(csrf, description="Tetap di sini", **fields))
            assert response.status_code in (400, 403), fields
            assert words in html.unescape(response.text), fields
            assert "Tetap di sini" in response.text


def test_a_links_page_lists_its_payments_and_totals(
    client: TestClient, db: Database, owner: users.NewUser, merchant: NewMerchant, settings: Settings
) -> None:
    csrf = sign_in(client)
    link_id = create_by_form(client, csrf, max_paid_uses="5")
    slug = link_row(db, link_id)["slug"]
    made: list[PaymentRow] = []
    for name in ("Ani", "Budi", "Citra"):

        def buy(conn: sa.Connection, name: str = name) -> PaymentRow:
            return claim(conn, slug, Buyer(name=name), settings, utcnow())

        made.append(db.write_sync(buy))
    for payment in made[:2]:
        paid = client.post(f"/v1/sandbox/payments/{payment['invoice_id']}/pay", headers=auth(merchant.test_api_key))
        assert paid.status_code == 200
    page = client.get(f"{LINKS}/{link_id}").text
    assert re.search(r'data-total="paid">2<', page)
    received = made[0]["final_amount"] + made[1]["final_amount"]
    assert f'data-total="received">Rp {received:,}<'.replace(",", ".") in page
    assert re.search(r'data-total="pending">1<', page)
    assert re.search(r'data-total="remaining">2 / 5<', page)
    rows = re.findall(r'<li data-invoice="([^"]+)" data-status="([a-z]+)">', page)
    assert rows == [
        (made[2]["invoice_id"], "pending"),
        (made[1]["invoice_id"], "paid"),
        (made[0]["invoice_id"], "paid"),
    ]
    assert f'href="/dashboard/payments/{quote(made[0]["invoice_id"])}"' in page
    listed = client.get(LINKS).text
    assert "3 dari 5" in listed
    assert "2 dibayar" in listed
    assert f"Rp {received:,}".replace(",", ".") in listed


def test_changing_deactivating_and_reactivating(client: TestClient, db: Database, owner: users.NewUser) -> None:
    csrf = sign_in(client)
    link_id = create_by_form(client, csrf, max_paid_uses="10")
    edit = client.get(f"{LINKS}/{link_id}/edit").text
    assert 'value="Kopi Gayo 250 g"' in edit
    assert 'value="85000"' in edit
    assert 'value="10"' in edit
    assert 'name="active" value="on" checked' in edit

    changed = client.post(
        f"{LINKS}/{link_id}/edit",
        data=fixed_form(csrf, title="Kopi Gayo 500 g", amount="160000", max_paid_uses="", active="on"),
        follow_redirects=False,
    )
    assert changed.status_code == 303
    assert changed.headers["location"] == f"{LINKS}/{link_id}?done=changed"
    row = link_row(db, link_id)
    assert (row["title"], row["amount"], row["max_paid_uses"], row["active"]) == ("Kopi Gayo 500 g", 160000, None, True)

    with writes_nothing(db):
        refused = client.post(f"{LINKS}/{link_id}/edit", data=fixed_form(csrf, amount="5", active="on"))
        assert refused.status_code == 400
        assert 'value="5"' in refused.text

    confirm = client.get(f"{LINKS}/{link_id}/deactivate")
    assert confirm.status_code == 200
    assert "Nonaktifkan link ini?" in confirm.text
    assert link_row(db, link_id)["active"] is True  # the confirmation page changes nothing
    done = client.post(f"{LINKS}/{link_id}/deactivate", data={"csrf_token": csrf}, follow_redirects=False)
    assert done.headers["location"] == f"{LINKS}/{link_id}?done=deactivated"
    assert link_row(db, link_id)["active"] is False
    page = client.get(f"{LINKS}/{link_id}").text
    assert 'data-field="state">nonaktif<' in page
    assert 'data-action="deactivate"' not in page

    reactivated = client.post(
        f"{LINKS}/{link_id}/edit", data=fixed_form(csrf, title="Kopi Gayo 500 g", amount="160000")
    )
    assert reactivated.status_code == 200  # followed to the link's page
    assert link_row(db, link_id)["active"] is False  # the box was left unticked
    client.post(f"{LINKS}/{link_id}/edit", data=fixed_form(csrf, amount="160000", active="on"))
    assert link_row(db, link_id)["active"] is True
    actions = [(line["action"], line["subject"]) for line in audit_lines(db)]
    assert actions == [
        ("create_link", link_id),
        ("change_link", link_id),
        ("deactivate_link", link_id),
        ("change_link", link_id),
        ("change_link", link_id),
    ]


def test_no_csrf_token_no_change(client: TestClient, db: Database, owner: users.NewUser) -> None:
    csrf = sign_in(client)
    link_id = create_by_form(client, csrf)
    with writes_nothing(db):
        for path, data in (
            (LINKS, fixed_form("forged")),
            (f"{LINKS}/{link_id}/edit", fixed_form("forged", title="Punya penyerang")),
            (f"{LINKS}/{link_id}/deactivate", {"csrf_token": ""}),
        ):
            refused = client.post(path, data=data)
            assert refused.status_code == 403, path


def test_another_merchants_link_and_the_other_modes_are_404(
    client: TestClient, db: Database, owner: users.NewUser, other_merchant: NewMerchant
) -> None:
    theirs = client.post(
        "/v1/links", headers=auth(other_merchant.test_api_key), json={"title": "Teh", "amount": 5000}
    ).json()["link"]["id"]
    csrf = sign_in(client)
    mine = create_by_form(client, csrf)
    with writes_nothing(db):
        for path in (f"{LINKS}/{theirs}", f"{LINKS}/{theirs}/edit", f"{LINKS}/{theirs}/deactivate", f"{LINKS}/lnk_x"):
            assert client.get(path).status_code == 404, path
        assert client.post(f"{LINKS}/{theirs}/deactivate", data={"csrf_token": csrf}).status_code == 404
        assert client.post(f"{LINKS}/{theirs}/edit", data=fixed_form(csrf)).status_code == 404
    client.post("/dashboard/mode", data={"csrf_token": csrf, "mode": "live"})
    assert client.get(f"{LINKS}/{mine}").status_code == 404
    assert mine not in client.get(LINKS).text


def test_a_cashier_is_refused_and_a_developer_is_not(
    client: TestClient, db: Database, merchant: NewMerchant, owner: users.NewUser
) -> None:
    csrf = sign_in(client)
    link_id = create_by_form(client, csrf)
    client.post("/dashboard/logout", data={"csrf_token": csrf})
    for role in ("cashier", "developer"):
        email = f"{role}@toko.test"

        def add_user(conn: sa.Connection, role: str = role, email: str = email) -> users.NewUser:
            return users.create_user(conn, merchant.username, email, utcnow(), role=role, password=PASSWORD)

        db.write_sync(add_user)
    csrf = sign_in(client, "cashier@toko.test")
    assert 'href="/dashboard/links"' not in client.get("/dashboard").text
    with writes_nothing(db):
        for path in (LINKS, f"{LINKS}/new", f"{LINKS}/{link_id}", f"{LINKS}/{link_id}/edit"):
            assert client.get(path).status_code == 403, path
        assert client.post(LINKS, data=fixed_form(csrf)).status_code == 403
        assert client.post(f"{LINKS}/{link_id}/deactivate", data={"csrf_token": csrf}).status_code == 403
    client.post("/dashboard/logout", data={"csrf_token": csrf})
    csrf = sign_in(client, "developer@toko.test")
    assert client.get(f"{LINKS}/{link_id}").status_code == 200
    create_by_form(client, csrf, title="Kopi Aceh")


def test_in_english(client: TestClient, owner: users.NewUser) -> None:
    csrf = sign_in(client)
    link_id = create_by_form(client, csrf, price="open", amount="", amount_min="5000", amount_max="50000")
    page = client.get(f"{LINKS}/{link_id}", params={"lang": "en"}).text
    assert "Share to WhatsApp" in page
    assert "Buyer chooses (Rp 5.000 – Rp 50.000)" in page
    assert "Make a new link" in client.get(LINKS).text
