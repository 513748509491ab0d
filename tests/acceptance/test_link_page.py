"""The public payment link page ``/l/{slug}`` over HTTP (docs/links.md, "The page").

Covered: a fixed-price link shows its shop, title, price and a form; sending it makes the buyer's
payment and answers 303 to its pay page (relative, so the buyer stays on the host they are on),
which shows it; an open amount is taken as Indonesians write it and refused out of its range, with
the form shown again as typed; a missing or bad name or phone, a control character: 400, nothing
written; a form without this browser's cookie and token (another site's, another browser's) makes
nothing; the same form sent twice is one payment; a single-use link once used, a deactivated one,
an expired one show a clear page (409, 410) and make nothing, also to a POST; an unknown slug is a
404 page; a GET writes nothing; the headers (CSP posting only to itself, no-store, no referrer) and
the cookie's flags; the throttle of the public pages; English on request; the merchant's text
escaped. Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, cast

import httpx
import sqlalchemy as sa
from fastapi.testclient import TestClient

from kasir.app import create_app
from kasir.clock import utcnow
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.db.tables import payment_links, payments
from kasir.merchants.service import NewMerchant
from tests.conftest import auth, writes_nothing

LINKS = "/v1/links"


def make_link(client: TestClient, key: str, **fields: Any) -> dict[str, Any]:
    response = client.post(LINKS, headers=auth(key), json={"title": "Kopi Gayo 250 g", "amount": 85000, **fields})
    assert response.status_code == 200, response.text
    link = dict(response.json()["link"])
    link["path"] = "/l/" + link["url"].rsplit("/", 1)[1]
    return link


def token_of(html: str) -> str:
    found = re.search(r'name="form_token" value="([^"]+)"', html)
    assert found, "no form on the page"
    return found.group(1)


def open_form(client: TestClient, link: dict[str, Any]) -> str:
    page = client.get(link["path"])
    assert page.status_code == 200, page.text
    return token_of(page.text)


def send(client: TestClient, link: dict[str, Any], token: str | None = None, **fields: str) -> httpx.Response:
    data = {"form_token": token or open_form(client, link), "name": "Budi Santoso", **fields}
    # starlette types TestClient over httpx2, which is not installed (it runs on httpx): its answers are Any to mypy
    return cast(httpx.Response, client.post(link["path"], data=data, follow_redirects=False))


def link_payments(db: Database, link: dict[str, Any]) -> list[dict[str, Any]]:
    rows = db.read_sync(
        lambda conn: conn.execute(
            sa.select(payments).where(payments.c.link_id == link["id"]).order_by(payments.c.id)
        ).mappings()
    )
    return [dict(row) for row in rows]


def error_of(response: httpx.Response) -> str:
    found = re.search(r'data-testid="form-error"[^>]*>([^<]+)<', response.text)
    assert found, "no error on the page"
    return found.group(1)


def test_a_fixed_price_link_makes_the_buyers_payment(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    link = make_link(client, merchant.test_api_key, description="Arabika Gayo, sangrai medium.\nDikirim besok.")
    with writes_nothing(db):
        page = client.get(link["path"])
    assert page.status_code == 200
    html = page.text
    for shown in ("Toko Satu", "Kopi Gayo 250 g", "Rp 85.000", "Arabika Gayo, sangrai medium.", "MODE UJI"):
        assert shown in html
    assert 'name="amount"' not in html  # the price is fixed
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "form-action 'self'" in page.headers["content-security-policy"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    cookie = next(value for name, value in page.headers.multi_items() if value.startswith("kasir_link_form="))
    assert "HttpOnly" in cookie
    assert "Path=/l/" in cookie
    assert "SameSite=lax" in cookie

    answer = send(client, link, token_of(html), phone="0812-3456-7890")
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.startswith("/pay?invoice=PAY-toko_satu-")
    [made] = link_payments(db, link)
    assert (made["amount"], made["status"], made["description"]) == (85000, "pending", "Kopi Gayo 250 g")
    assert (made["customer_name"], made["customer_phone"]) == ("Budi Santoso", "6281234567890")
    pay_page = client.get(location)
    assert pay_page.status_code == 200
    assert made["invoice_id"] in pay_page.text
    assert "Kopi Gayo 250 g" in pay_page.text


def test_an_open_amount_is_the_buyers_within_its_range(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    link = make_link(client, merchant.test_api_key, title="Donasi", amount=None, amount_min=10000, amount_max=500000)
    page = client.get(link["path"]).text
    assert 'name="amount"' in page
    assert "Antara Rp 10.000 dan Rp 500.000." in page
    for typed, expected in (("50.000", 50000), ("Rp 125.000", 125000), ("10000", 10000)):
        assert send(client, link, amount=typed).status_code == 303
        assert link_payments(db, link)[-1]["amount"] == expected

    with writes_nothing(db):
        for typed, words in (
            ("9999", "Jumlah harus antara Rp 10.000 dan Rp 500.000."),
            ("500001", "Jumlah harus antara Rp 10.000 dan Rp 500.000."),
            ("50,5", "Tulis jumlah dalam rupiah tanpa desimal"),
            ("5.00", "Tulis jumlah dalam rupiah tanpa desimal"),
            ("-5000", "Tulis jumlah dalam rupiah tanpa desimal"),
            ("", "Tulis jumlah yang ingin dibayar."),
        ):
            refused = send(client, link, amount=typed, phone="0812 1111 2222")
            assert refused.status_code == 400, typed
            assert error_of(refused).startswith(words), typed
            assert 'data-field="amount"' in refused.text
            # The form again, as typed, with a fresh token.
            assert f'value="{typed}"' in refused.text
            assert 'value="Budi Santoso"' in refused.text
            assert 'value="0812 1111 2222"' in refused.text
            token_of(refused.text)


def test_bad_names_phones_and_text_make_nothing(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    link = make_link(client, merchant.test_api_key)
    with writes_nothing(db):
        for fields, words in (
            ({"name": "  "}, "Tulis nama Anda."),
            ({"name": "B" * 101}, "Nama paling panjang 100 karakter."),
            ({"name": "Budi\nSantoso"}, "Nama harus satu baris teks biasa."),
            ({"phone": "nomor saya"}, "Nomor HP tidak valid"),
            ({"phone": "0812"}, "Nomor HP tidak valid"),
        ):
            refused = send(client, link, **fields)
            assert refused.status_code == 400, fields
            assert error_of(refused).startswith(words), fields
        for evil in ("Budi\x1b[2J", "Budi\x00"):
            refused = send(client, link, name=evil)
            assert refused.status_code == 400
            assert "Isian tidak dapat dibaca" in error_of(refused)
            assert "control character" in error_of(refused)


def test_a_form_without_this_browsers_cookie_and_token_makes_nothing(
    client: TestClient, settings: Settings, db: Database, merchant: NewMerchant
) -> None:
    link = make_link(client, merchant.test_api_key)
    another_link = make_link(client, merchant.test_api_key, title="Teh")
    token = open_form(client, link)
    with writes_nothing(db):
        # Another site's form: the browser sends no cookie with a cross-site POST.
        with TestClient(create_app(settings, database=db, background=False)) as elsewhere:
            refused = elsewhere.post(link["path"], data={"form_token": token, "name": "Budi"}, follow_redirects=False)
            assert refused.status_code == 403
            assert "Formulir ini sudah kedaluwarsa" in error_of(refused)
            token_of(refused.text)  # and this page's own form, one tap away
            # Another browser's token with this browser's cookie.
            other_token = open_form(elsewhere, link)
        for forged in (other_token, "", token + "0", token.split(".")[0] + ".00"):
            refused = client.post(link["path"], data={"form_token": forged, "name": "Budi"}, follow_redirects=False)
            assert refused.status_code == 403, forged
            assert 'value="Budi"' in refused.text
        # A token is for its own link.
        refused = client.post(another_link["path"], data={"form_token": token, "name": "Budi"}, follow_redirects=False)
        assert refused.status_code == 403


def test_the_same_form_sent_twice_is_one_payment(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    link = make_link(client, merchant.test_api_key, reusable=False)
    token = open_form(client, link)
    first = send(client, link, token)
    second = send(client, link, token)
    assert (first.status_code, second.status_code) == (303, 303)
    assert first.headers["location"] == second.headers["location"]
    assert len(link_payments(db, link)) == 1
    # A second buyer (a new form) finds it used up.
    assert client.get(link["path"]).status_code == 409


def test_a_used_up_link_says_so_and_frees_a_cancelled_use(
    client: TestClient, db: Database, merchant: NewMerchant
) -> None:
    key = merchant.test_api_key
    link = make_link(client, key, reusable=False)
    token = open_form(client, link)  # a second buyer opened the page before the first paid
    invoice = send(client, link, name="Ani").headers["location"].split("=", 1)[1]
    paid = client.post(f"/v1/sandbox/payments/{invoice}/pay", headers=auth(key))
    assert paid.status_code == 200
    with writes_nothing(db):
        page = client.get(link["path"])
        assert page.status_code == 409
        assert "Link pembayaran sudah habis" in page.text
        assert "Link ini untuk satu pembayaran saja, dan sudah dipakai." in page.text
        assert 'name="form_token"' not in page.text
        late = send(client, link, token)
        assert late.status_code == 409
        assert "Link pembayaran sudah habis" in late.text

    capped = make_link(client, key, title="Kopi edisi terbatas", max_paid_uses=1)
    taken = send(client, capped).headers["location"].split("=", 1)[1]
    assert client.get(capped["path"]).status_code == 409
    assert "Semua kuota link ini sudah dipakai" in client.get(capped["path"]).text
    assert client.post(f"/v1/payments/{taken}/cancel", headers=auth(key)).status_code == 200
    assert client.get(capped["path"]).status_code == 200  # the cancelled payment freed its use
    assert send(client, capped).status_code == 303


def test_deactivated_and_expired_links_show_a_clear_page(
    client: TestClient, db: Database, merchant: NewMerchant
) -> None:
    key = merchant.test_api_key
    inactive = make_link(client, key)
    token = open_form(client, inactive)
    client.delete(f"{LINKS}/{inactive['id']}", headers=auth(key))
    expired = make_link(client, key, expires_at=(utcnow() + timedelta(hours=1)).isoformat())
    expired_token = open_form(client, expired)
    # An hour later (set, not waited for): the link's expiry is in the past.
    db.write_sync(
        lambda conn: conn.execute(
            sa.update(payment_links)
            .where(payment_links.c.public_id == expired["id"])
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
    )
    with writes_nothing(db):
        page = client.get(inactive["path"])
        assert page.status_code == 410
        assert "Link pembayaran tidak aktif" in page.text
        assert send(client, inactive, token).status_code == 410
        page = client.get(expired["path"])
        assert page.status_code == 410
        assert "Link pembayaran sudah kedaluwarsa" in page.text
        assert "WIB" in page.text
        assert send(client, expired, expired_token).status_code == 410
        for path in ("/l/AAAAAAAAAAAAAAAA", "/l/short", "/l/" + "a" * 300):
            missing = client.get(path)
            assert missing.status_code == 404, path
            assert "Link pembayaran tidak ditemukan" in missing.text
        assert client.post("/l/AAAAAAAAAAAAAAAA", data={"name": "x"}).status_code == 404


def test_a_link_that_cannot_take_payments_now_says_to_ask_the_seller(
    client: TestClient, db: Database, merchant: NewMerchant
) -> None:
    key = merchant.test_api_key
    made = client.post("/v1/contents", headers=auth(key), json={"title": "Resep", "type": "text", "content": "..."})
    content_id = made.json()["content"]["id"]
    link = make_link(client, key, content_id=content_id)
    token = open_form(client, link)
    assert client.post(f"/v1/contents/{content_id}/deactivate", headers=auth(key)).status_code == 200
    with writes_nothing(db):
        refused = send(client, link, token)
        assert refused.status_code == 409
        assert "Pembayaran belum dapat dibuat" in refused.text


def test_english_and_escaping(client: TestClient, merchant: NewMerchant) -> None:
    link = make_link(client, merchant.test_api_key, title="<script>alert(1)</script>", description="<b>tebal</b>")
    page = client.get(link["path"], params={"lang": "en"})
    assert "Payment to" in page.text
    assert "Continue to payment" in page.text
    assert "TEST MODE" in page.text
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<b>tebal</b>" not in page.text
    # The choice is remembered, as on the pay page.
    assert "Continue to payment" in client.get(link["path"]).text


def test_the_link_page_is_throttled_like_the_pay_page(settings: Settings, db: Database, merchant: NewMerchant) -> None:
    limited = settings.model_copy(update={"public_rate_limit": 3})
    with TestClient(create_app(limited, database=db, background=False)) as client:
        link = make_link(client, merchant.test_api_key)
        answers = [client.get(link["path"]).status_code for _ in range(4)]
        assert answers == [200, 200, 200, 429]
        refused = client.get(link["path"])
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
