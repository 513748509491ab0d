"""The dashboard's payments area over HTTP: the list (each filter and the search narrowing exactly
as list-payments does on the same data), paging through every payment, the CSV export (every
filtered row, formula injection neutralised), a payment's page (amounts, QR, pay link, its
timeline when paid by ``POST /v1/mutations`` and by a phone source, its events, deliveries and
attempts, its audit lines), cancelling (audited, 409 when not pending), creating by the form
(valid, refused with the values kept), the 404s of another merchant's and the other mode's
invoices, and CSRF refusals that change nothing. Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import re
import time
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from kasir.clock import today_wib, utcnow
from kasir.config import Settings
from kasir.dashboard.payments_detail import CSV_COLUMNS
from kasir.db.engine import Database
from kasir.db.tables import audit_log, payments
from kasir.merchants.service import NewMerchant
from kasir.team import users
from tests.conftest import auth, writes_nothing
from tests.dashboard_helpers import EMAIL, PASSWORD, csrf_of
from tests.receivers import Receiver, Reply
from tests.workers import RunningWorker

LIST = "/dashboard/payments"


@pytest.fixture
def owner(db: Database, merchant: NewMerchant) -> users.NewUser:
    return db.write_sync(lambda conn: users.create_user(conn, merchant.username, EMAIL, utcnow(), password=PASSWORD))


@pytest.fixture
def csrf(client: TestClient, owner: users.NewUser) -> str:
    """Signs the client in; the CSRF token of its forms."""
    response = client.post("/dashboard/login", data={"email": EMAIL, "password": PASSWORD}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return csrf_of(client.get(LIST).text)


def create(client: TestClient, key: str, amount: int = 20000, **fields: Any) -> dict[str, Any]:
    response = client.post("/api/create-payment.php", headers=auth(key), json={"amount": amount, **fields})
    assert response.status_code == 200, response.text
    return dict(response.json()["payment"])


def invoices_on(html: str) -> list[str]:
    return re.findall(r'<tr data-invoice="([^"]+)"', html)


def api_invoices(client: TestClient, key: str, **params: Any) -> list[str]:
    """Every invoice list-payments answers for these filters, across its pages."""
    found: list[str] = []
    page = 1
    while True:
        body = client.get("/api/list-payments.php", headers=auth(key), params={**params, "page": page, "limit": 100})
        assert body.status_code == 200, body.text
        data = body.json()
        found += [p["invoice_id"] for p in data["data"]]
        if page >= data["pagination"]["total_pages"]:
            return found
        page += 1


def dashboard_invoices(client: TestClient, **params: Any) -> list[str]:
    """Every invoice the dashboard's list shows for these filters, following its "next" links."""
    found: list[str] = []
    response = client.get(LIST, params=params)
    while True:
        assert response.status_code == 200, response.text
        found += invoices_on(response.text)
        following = re.search(r'<a href="([^"]+)" rel="next"', response.text)
        if not following:
            return found
        response = client.get(following.group(1).replace("&amp;", "&"))


def paid_via_mutation(client: TestClient, key: str, payment: dict[str, Any], reference: str) -> None:
    response = client.post(
        "/v1/mutations",
        headers=auth(key),
        json=[{"channel": payment["payment_method"], "amount": payment["final_amount"], "reference": reference}],
    )
    assert response.status_code == 200, response.text
    assert response.json()["mutations"][0]["status"] == "matched", response.text


def audit_rows(db: Database) -> list[dict[str, Any]]:
    return db.read_sync(lambda conn: [dict(r) for r in conn.execute(sa.select(audit_log)).mappings()])


def no_inline_style_or_script(html: str) -> None:
    assert "style=" not in html
    assert "<style" not in html
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)


# --- the list -----------------------------------------------------------------------------------


def test_every_filter_and_the_search_narrow_as_list_payments_does(
    client: TestClient, subscribed_merchant: NewMerchant, csrf: str
) -> None:
    key = subscribed_merchant.test_api_key
    kopi = create(client, key, 15000, description="Kopi susu", customer_name="Budi Santoso")
    teh = create(client, key, 12000, description="Teh manis", customer_email="sari@contoh.id")
    bri = create(client, key, 30000, payment_method="qris_user", description="Nasi goreng", customer_phone="0812-555")
    ovo = create(client, key, 40000, payment_method="ovo", description="Kopi tubruk")
    cancelled = create(client, key, 17000, description="Roti")
    paid_via_mutation(client, key, kopi, "REF-KOPI")
    paid_via_mutation(client, key, bri, "REF-BRI")
    assert client.post(f"/v1/payments/{cancelled['invoice_id']}/cancel", headers=auth(key)).status_code == 200
    today = today_wib().isoformat()
    yesterday = (today_wib() - timedelta(days=1)).isoformat()
    queries: list[dict[str, str]] = [
        {},
        {"status": "paid"},
        {"status": "pending"},
        {"status": "cancelled"},
        {"status": "expired"},
        {"payment_method": "qris_user"},
        {"payment_method": "qris"},
        {"paid_via": "qris"},
        {"paid_via": "ovo"},
        {"search": "kopi"},
        {"search": "KOPI"},
        {"search": "sari@contoh"},
        {"search": "0812-555"},
        {"search": teh["invoice_id"][-6:]},
        {"search": "budi"},
        {"search": "tidak-ada"},
        {"start_date": today},
        {"end_date": yesterday},
        {"start_date": yesterday, "end_date": today},
        {"search": "kopi", "status": "pending"},
        {"payment_method": "qris", "status": "pending", "start_date": today},
    ]
    expectations = {
        "status=paid": {kopi["invoice_id"], bri["invoice_id"]},
        "search=kopi": {kopi["invoice_id"], ovo["invoice_id"]},
        "end_date=" + yesterday: set(),
    }
    for query in queries:
        shown = dashboard_invoices(client, **query)
        assert shown == api_invoices(client, key, **query), query  # the same rows, the same order
        label = "&".join(f"{k}={v}" for k, v in query.items())
        if label in expectations:
            assert set(shown) == expectations[label], query
    # Every filter narrows: none of these shows everything.
    everything = set(dashboard_invoices(client))
    assert len(everything) == 5
    for query in queries[1:16]:
        assert set(dashboard_invoices(client, **query)) < everything, query

    # The form shows the filters it was given, and the CSV link carries them.
    page = client.get(LIST, params={"status": "paid", "search": "kopi"}).text
    assert '<option value="paid" selected>' in page
    assert 'name="search" value="kopi"' in page
    assert 'href="/dashboard/payments.csv?search=kopi&amp;status=paid"' in page
    no_inline_style_or_script(page)


def test_a_wrong_filter_is_refused_with_the_api_s_reason(client: TestClient, merchant: NewMerchant, csrf: str) -> None:
    for query, field in (
        ({"status": "lunas"}, "status"),
        ({"start_date": "16-04-2026"}, "start_date"),
        ({"page": "x"}, "page"),
    ):
        response = client.get(LIST, params=query)
        assert response.status_code == 400, query
        api = client.get("/api/list-payments.php", headers=auth(merchant.test_api_key), params=query)
        assert api.status_code == 400
        assert api.json()["field"] == field
        assert api.json()["error"] in response.text.replace("&#39;", "'")


def test_paging_walks_through_every_payment(client: TestClient, merchant: NewMerchant, csrf: str) -> None:
    made = [create(client, merchant.test_api_key, 10000 + n)["invoice_id"] for n in range(45)]
    first = client.get(LIST)
    assert "45 pembayaran" in first.text
    assert "Halaman 1 dari 3" in first.text
    assert len(invoices_on(first.text)) == 20
    assert 'href="/dashboard/payments?page=3"' in first.text  # the last page's number
    walked = dashboard_invoices(client)
    assert walked == list(reversed(made))  # newest first, each once
    last = client.get(LIST, params={"page": 3})
    assert len(invoices_on(last.text)) == 5
    assert 'rel="prev"' in last.text
    assert 'rel="next"' not in last.text
    beyond = client.get(LIST, params={"page": 9})
    assert beyond.status_code == 200
    assert invoices_on(beyond.text) == []


# --- the CSV export -----------------------------------------------------------------------------


def test_the_csv_has_every_filtered_payment_and_no_formula(
    client: TestClient, db: Database, merchant: NewMerchant, csrf: str
) -> None:
    key = merchant.test_api_key
    plain = [create(client, key, 10000 + n, description=f"Pesanan {n}") for n in range(23)]
    evil = {
        '=HYPERLINK("http://x")': create(client, key, 11111, description='=HYPERLINK("http://x")'),
        "+1+1": create(client, key, 11112, description="+1+1"),
        "-2+3": create(client, key, 11113, description="-2+3"),
        "@SUM(A1)": create(client, key, 11114, description="@SUM(A1)"),
    }
    # Leading tabs and CRs do not survive the API's trimming; a row as an import could write it.
    tab, cr = create(client, key, 11115, description="tab"), create(client, key, 11116, description="cr")

    def set_descriptions(conn: sa.Connection) -> None:
        for payment, text in ((tab, "\tcmd"), (cr, "\rcmd")):
            conn.execute(
                sa.update(payments).where(payments.c.invoice_id == payment["invoice_id"]).values(description=text)
            )

    db.write_sync(set_descriptions)
    paid_via_mutation(client, key, plain[0], "=REF-1")

    response = client.get(f"{LIST}.csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith('attachment; filename="payments-toko_satu-test-')
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    body = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert [r["invoice_id"] for r in body] == api_invoices(client, key)  # all 29, not one page
    assert len(body) == 29
    by_invoice = {r["invoice_id"]: r for r in body}
    for text, payment in evil.items():
        assert by_invoice[payment["invoice_id"]]["description"] == "'" + text
    assert by_invoice[tab["invoice_id"]]["description"] == "'\tcmd"
    assert by_invoice[cr["invoice_id"]]["description"] == "'\rcmd"
    assert by_invoice[plain[1]["invoice_id"]]["description"] == "Pesanan 1"
    first = by_invoice[plain[0]["invoice_id"]]
    assert first["amount"] == "10000"
    assert first["final_amount"] == str(plain[0]["final_amount"])
    assert first["unique_code"] == str(plain[0]["unique_code"])
    assert first["paid_amount"] == str(plain[0]["final_amount"])
    assert first["status"] == "paid"
    assert first["paid_reff_num"] == "'=REF-1"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", first["created_at"])
    assert first["created_at"] == plain[0]["created_at"]  # WIB, as the API prints it

    filtered = client.get(f"{LIST}.csv", params={"search": "pesanan", "status": "pending"})
    filtered_rows = list(csv.reader(io.StringIO(filtered.content.decode("utf-8-sig"))))[1:]
    assert [r[0] for r in filtered_rows] == api_invoices(client, key, search="pesanan", status="pending")
    assert len(filtered_rows) == 22
    assert client.get(f"{LIST}.csv", params={"status": "lunas"}).status_code == 400


# --- one payment --------------------------------------------------------------------------------


def step(html: str, kind: str) -> str:
    found = re.search(rf'<li data-step="{kind}">(.*?)</li>', html, re.S)
    assert found, f"no {kind} step"
    return found.group(1)


def test_a_payment_s_page_shows_amounts_qr_link_customer_and_its_timeline_paid_by_a_mutation(
    client: TestClient, db: Database, settings: Settings, merchant: NewMerchant, csrf: str
) -> None:
    key = merchant.test_api_key
    with Receiver(lambda n, _r: Reply(status=500, body=b"broken") if n == 1 else Reply()) as receiver:
        endpoint = client.post(
            "/v1/endpoints", headers=auth(key), json={"url": receiver.url, "event_types": ["payment.paid"]}
        ).json()["endpoint"]
        with RunningWorker(db, settings.model_copy(update={"delivery_retry_schedule": [1]})):
            payment = create(
                client,
                key,
                50000,
                description="Kopi susu 1 L",
                customer_name="Budi <b>Santoso</b>",
                customer_email="budi@contoh.id",
                customer_phone="0812-3456-7890",
                redirect_url="https://toko.example/terima-kasih",
            )
            invoice = payment["invoice_id"]
            page = client.get(f"{LIST}/{invoice}").text
            assert 'data-step="created"' in page
            assert 'data-step="expires"' in page
            assert 'data-step="paid"' not in page
            paid_via_mutation(client, key, payment, "QR-20261122-0002")
            receiver.wait_for(2, timeout=30)
            deadline = time.monotonic() + 30
            while True:
                deliveries = client.get("/v1/deliveries", headers=auth(key)).json()["data"]
                if deliveries and deliveries[0]["status"] == "succeeded":
                    break
                assert time.monotonic() < deadline, deliveries
                time.sleep(0.1)
    response = client.get(f"{LIST}/{invoice}")
    assert response.status_code == 200
    html = response.text
    no_inline_style_or_script(html)
    final = f"{payment['final_amount']:,}".replace(",", ".")
    assert f"Rp {final[:-3]}<mark>{final[-3:]}</mark>" in html
    assert f"Rp 50.000 + kode unik {payment['unique_code']}" in html
    assert re.search(r'<img class="qr" src="data:image/png;base64,[A-Za-z0-9+/=]+"', html)
    assert f'href="http://kasir.test/pay?invoice={invoice}"' in html
    assert "Budi &lt;b&gt;Santoso&lt;/b&gt;" in html  # escaped, never markup
    for text in ("budi@contoh.id", "0812-3456-7890", "Kopi susu 1 L", "https://toko.example/terima-kasih"):
        assert text in html
    paid = step(html, "paid")
    assert 'data-reference="QR-20261122-0002"' in paid
    assert 'data-source="api"' in paid
    checked = client.get("/api/check-payment.php", headers=auth(key), params={"invoice": invoice}).json()
    assert f"{checked['paid_at']} WIB" in paid
    assert f"{checked['created_at']} WIB" in step(html, "created")
    assert 'data-status="paid"' in html
    assert "<form" not in html.split('data-testid="timeline"')[0].split('class="card qr-card"')[1]  # no cancel

    # Its events, and the delivery with every attempt, as the API lists them.
    for event_type in ("payment.created", "payment.paid"):
        assert f'data-type="{event_type}"' in html
    [delivery] = [
        d for d in client.get("/v1/deliveries", headers=auth(key)).json()["data"] if d["url"] == endpoint["url"]
    ]
    attempts = client.get(f"/v1/deliveries/{delivery['id']}/attempts", headers=auth(key)).json()["data"]
    assert [a["status_code"] for a in attempts] == [500, 200]
    block = html.split(f'data-delivery="{delivery["id"]}"')[1].split("</table>")[0]
    rows = re.findall(
        r'<tr data-attempt="(\d+)"><td>\d+</td><td[^>]*>([^<]+)</td><td>([^<]+)</td><td[^>]*>(\d+) ms</td><td>(\w+)</td>',
        block,
    )
    assert [(int(n), int(code), int(ms), outcome) for n, _at, code, ms, outcome in rows] == [
        (a["attempt"], a["status_code"], a["duration_ms"], a["outcome"]) for a in attempts
    ]
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", at) for _n, at, *_ in rows)


def test_a_payment_paid_by_a_phone_source_shows_the_notification(
    client: TestClient, merchant: NewMerchant, csrf: str
) -> None:
    key = merchant.test_api_key
    source = client.post("/v1/sources", headers=auth(key), json={"name": "HP kasir", "apps": {"id.dana": "qris"}})
    assert source.status_code in (200, 201), source.text
    source_id, token = source.json()["source"]["id"], source.json()["source"]["token"]
    payment = create(client, key, 15000)
    amount = f"{payment['final_amount']:,}".replace(",", ".")
    posted = client.post(
        f"/v1/sources/{source_id}/notifications",
        headers={"Authorization": f"Bearer {token}"},
        json=[
            {
                "package": "id.dana",
                "title": "Pembayaran Masuk",
                "text": f"Rp{amount} diterima dari Budi Santoso",
                "posted_at": int(time.time() * 1000),
            }
        ],
    )
    assert posted.status_code == 200, posted.text
    [result] = posted.json()["results"]
    assert result["outcome"] == "matched"
    assert result["invoice_id"] == payment["invoice_id"]
    html = client.get(f"{LIST}/{payment['invoice_id']}").text
    paid = step(html, "paid")
    assert f'data-source="phone:{source_id}"' in paid
    assert f'data-notification="{result["notification_id"]}"' in paid
    assert f"Rp{amount} diterima dari Budi Santoso" in paid
    assert "HP kasir" in paid
    assert "id.dana" in paid
    assert token not in html  # the source's token is never on a page


# --- cancelling ---------------------------------------------------------------------------------


def test_cancel_is_audited_in_its_transaction_and_a_second_one_is_409(
    client: TestClient, db: Database, merchant: NewMerchant, csrf: str
) -> None:
    key = merchant.test_api_key
    payment = create(client, key)
    invoice = payment["invoice_id"]
    page = client.get(f"{LIST}/{invoice}").text
    assert f'action="/dashboard/payments/{invoice}/cancel"' in page
    assert "<details" in page  # behind a disclosure: a confirmation, not one stray tap
    response = client.post(f"{LIST}/{invoice}/cancel", data={"csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"{LIST}/{invoice}?done=cancelled"
    checked = client.get(f"/v1/payments/{invoice}", headers=auth(key)).json()["payment"]
    assert checked["status"] == "cancelled"
    [line] = audit_rows(db)
    assert (line["action"], line["subject"], line["actor"], line["mode"]) == ("payment.cancel", invoice, EMAIL, "test")
    html = client.get(response.headers["location"]).text
    assert "Pembayaran dibatalkan." in html
    assert f"oleh {EMAIL}" in step(html, "cancelled")
    assert re.search(
        rf'<li data-action="payment.cancel">[^<]+WIB · <strong>payment.cancel</strong> · {re.escape(EMAIL)}', html
    )
    events = client.get("/v1/events", headers=auth(key), params={"type": "payment.cancelled"}).json()["data"]
    assert [e["data"]["invoice_id"] for e in events] == [invoice]

    with writes_nothing(db):
        again = client.post(f"{LIST}/{invoice}/cancel", data={"csrf_token": csrf})
        assert again.status_code == 409
        assert "only a pending payment can be cancelled" in again.text
        assert "text/html" in again.headers["content-type"]


def test_a_cancel_that_fails_leaves_no_audit_line(
    client: TestClient, db: Database, merchant: NewMerchant, csrf: str
) -> None:
    payment = create(client, merchant.test_api_key)
    paid_via_mutation(client, merchant.test_api_key, payment, "REF-1")
    with writes_nothing(db):
        assert client.post(f"{LIST}/{payment['invoice_id']}/cancel", data={"csrf_token": csrf}).status_code == 409
    assert audit_rows(db) == []


# --- creating by the form -----------------------------------------------------------------------

FORM = {
    "amount": "25000",
    "description": "Kue lapis",
    "customer_name": "Sari",
    "customer_email": "sari@contoh.id",
    "customer_phone": "081234567890",
    "payment_method": "qris",
    "redirect_url": "https://toko.example/selesai",
}


def test_the_form_offers_the_merchant_s_methods(client: TestClient, merchant: NewMerchant, csrf: str) -> None:
    html = client.get(f"{LIST}/new").text
    no_inline_style_or_script(html)
    assert '<option value="qris" selected>' in html
    assert '<option value="qris_user" disabled>' in html  # no subscription: shown, not offered
    assert "needs an active subscription" in html


def test_creating_by_the_form_goes_through_create_payment(
    client: TestClient, db: Database, merchant: NewMerchant, csrf: str
) -> None:
    response = client.post(
        f"{LIST}/new",
        data={**FORM, "csrf_token": csrf, "callback_url": "http://127.0.0.1:1/steal"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    invoice = response.headers["location"].removeprefix(f"{LIST}/").removesuffix("?done=created")
    assert invoice.startswith("PAY-toko_satu-")
    made = client.get(f"/v1/payments/{invoice}", headers=auth(merchant.test_api_key)).json()["payment"]
    assert (made["amount"], made["description"], made["customer_name"], made["customer_email"]) == (
        25000,
        "Kue lapis",
        "Sari",
        "sari@contoh.id",
    )
    assert (made["customer_phone"], made["redirect_url"], made["mode"]) == (
        "081234567890",
        FORM["redirect_url"],
        "test",
    )
    # Only the form's fields reach the service: no callback URL that skipped the SSRF guard.
    callback = db.read_sync(
        lambda conn: conn.execute(sa.select(payments.c.callback_url).where(payments.c.invoice_id == invoice)).scalar()
    )
    assert callback is None
    html = client.get(response.headers["location"]).text
    assert "Pembayaran dibuat." in html
    assert f'href="http://kasir.test/pay?invoice={invoice}"' in html
    assert 'data-testid="qr"' in html
    events = client.get("/v1/events", headers=auth(merchant.test_api_key), params={"type": "payment.created"}).json()
    assert [e["data"]["invoice_id"] for e in events["data"]] == [invoice]


@pytest.mark.parametrize(
    ("changes", "status", "message"),
    [
        ({"amount": "25.000"}, 400, "without decimals or separators"),
        ({"amount": ""}, 400, "amount"),
        ({"amount": "5"}, 400, "amount for qris must be between"),
        ({"customer_email": "bukan-email"}, 400, "is not an email address"),
        ({"redirect_url": "javascript:alert(1)"}, 400, "must be an http:// or https:// URL"),
        ({"payment_method": "qris_user"}, 403, "needs an active subscription"),
        ({"payment_method": "bitcoin"}, 400, "payment_method must be one of"),
    ],
)
def test_a_refused_form_comes_back_with_the_error_and_the_values(
    client: TestClient,
    db: Database,
    merchant: NewMerchant,
    csrf: str,
    changes: dict[str, str],
    status: int,
    message: str,
) -> None:
    values = {**FORM, "description": 'Kue "lapis" <legit>', **changes}
    api = client.post(
        "/api/create-payment.php", headers=auth(merchant.test_api_key), data={k: v for k, v in values.items() if v}
    )
    assert api.status_code == status  # the API refuses it the same way
    with writes_nothing(db):
        response = client.post(f"{LIST}/new", data={**values, "csrf_token": csrf})
    assert response.status_code == status
    html = response.text
    assert message in html.replace("&#39;", "'")
    assert 'data-testid="form-error"' in html
    assert 'value="Kue &#34;lapis&#34; &lt;legit&gt;"' in html
    assert f'value="{values["customer_email"]}"' in html
    assert f'value="{values["amount"]}"' in html


# --- 404s, modes, CSRF, sessions --------------------------------------------------------------


def test_another_merchant_s_and_the_other_mode_s_invoices_are_404(
    client: TestClient, db: Database, merchant: NewMerchant, other_merchant: NewMerchant, csrf: str
) -> None:
    theirs = create(client, other_merchant.test_api_key)["invoice_id"]
    live = create(client, merchant.live_api_key)["invoice_id"]
    ours = create(client, merchant.test_api_key, description="uji")["invoice_id"]
    for invoice in (theirs, live, "PAY-nope-1-ABCDEF"):
        assert client.get(f"{LIST}/{invoice}").status_code == 404, invoice
        with writes_nothing(db):
            assert client.post(f"{LIST}/{invoice}/cancel", data={"csrf_token": csrf}).status_code == 404
    for html in (client.get(LIST).text, client.get(f"{LIST}.csv").text):
        assert ours in html
        assert theirs not in html
        assert live not in html

    assert client.post("/dashboard/mode", data={"csrf_token": csrf, "mode": "live"}).status_code == 200
    assert client.get(f"{LIST}/{live}").status_code == 200
    assert client.get(f"{LIST}/{ours}").status_code == 404
    assert invoices_on(client.get(LIST).text) == [live]
    made = client.post(f"{LIST}/new", data={**FORM, "csrf_token": csrf}, follow_redirects=False)
    invoice = made.headers["location"].removeprefix(f"{LIST}/").removesuffix("?done=created")
    assert (
        client.get(f"/v1/payments/{invoice}", headers=auth(merchant.live_api_key)).json()["payment"]["mode"] == "live"
    )
    assert client.get(f"/v1/payments/{invoice}", headers=auth(merchant.test_api_key)).status_code == 404


@pytest.mark.parametrize("token", [None, "", "0" * 64])
def test_without_this_session_s_csrf_token_nothing_changes(
    client: TestClient, db: Database, merchant: NewMerchant, csrf: str, token: str | None
) -> None:
    invoice = create(client, merchant.test_api_key)["invoice_id"]
    extra = {} if token is None else {"csrf_token": token}
    with writes_nothing(db):
        assert client.post(f"{LIST}/{invoice}/cancel", data=extra).status_code == 403
        assert client.post(f"{LIST}/new", data={**FORM, **extra}).status_code == 403


def test_without_a_session_pages_redirect_and_posts_are_refused(
    client: TestClient, db: Database, merchant: NewMerchant
) -> None:
    invoice = create(client, merchant.test_api_key)["invoice_id"]
    for path in (LIST, f"{LIST}.csv", f"{LIST}/new", f"{LIST}/{invoice}"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/dashboard/login?next="), path
    with writes_nothing(db):
        assert client.post(f"{LIST}/{invoice}/cancel").status_code == 403
        assert client.post(f"{LIST}/new", data=FORM).status_code == 403


def test_the_pages_speak_english_too(client: TestClient, merchant: NewMerchant, csrf: str) -> None:
    invoice = create(client, merchant.test_api_key)["invoice_id"]
    assert "<h1>Payments</h1>" in client.get(LIST, params={"lang": "en"}).text
    html = client.get(f"{LIST}/{invoice}").text  # the language is remembered
    assert "Timeline" in html
    assert "Cancel the payment…" in html
    assert "Create a payment" in client.get(f"{LIST}/new").text
