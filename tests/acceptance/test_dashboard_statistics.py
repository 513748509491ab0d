"""The dashboard's statistics over HTTP: counts and money by payment method for each WIB period
of ``get-statistics``, with a pygal chart served as an image.

Covered: the page's figures are the API's ``get-statistics`` for every period (payments made and
paid over the API, one paid last year, so that the periods differ); the default period; an
unknown period is 400; the chart is an SVG image under its own CSP, and the page only points at
it (img-src 'self'); the other mode's payments are not counted; a developer may see it, a
cashier gets 403. Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from kasir.clock import utcnow
from kasir.db.engine import Database
from kasir.db.tables import payments
from kasir.merchants.service import NewMerchant
from kasir.money import rupiah
from kasir.payments.stats import PERIODS
from kasir.team import users
from tests.conftest import auth
from tests.dashboard_helpers import PASSWORD, csrf_of

STATISTICS = "/dashboard/statistics"


def sign_in(client: TestClient, db: Database, merchant: NewMerchant, role: str = "owner") -> str:
    email = f"{role}@toko.test"
    db.write_sync(
        lambda conn: users.create_user(conn, merchant.username, email, utcnow(), role=role, password=PASSWORD)
    )
    response = client.post("/dashboard/login", data={"email": email, "password": PASSWORD}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/dashboard").text)


def pay(client: TestClient, key: str, amount: int, method: str) -> str:
    created = client.post(
        "/api/create-payment.php", headers=auth(key), json={"amount": amount, "payment_method": method}
    )
    assert created.status_code == 200, created.text
    invoice = str(created.json()["payment"]["invoice_id"])
    paid = client.post(f"/v1/sandbox/payments/{invoice}/pay", headers=auth(key))
    assert paid.status_code == 200, paid.text
    return invoice


def figure(html: str, name: str) -> str:
    found = re.search(rf'data-figure="{name}">([^<]+)<', html)
    assert found, name
    return found.group(1)


def method_row(html: str, method: str) -> tuple[str, str]:
    found = re.search(rf'data-method="{method}">.*?data-count>([^<]+)<.*?data-amount>([^<]+)<', html, re.DOTALL)
    assert found, method
    return found.group(1), found.group(2)


def test_figures_by_method_and_period_are_the_apis(
    client: TestClient, db: Database, subscribed_merchant: NewMerchant
) -> None:
    merchant = subscribed_merchant
    key = merchant.test_api_key
    pay(client, key, 25_000, "qris")
    pay(client, key, 40_000, "qris")
    old = pay(client, key, 85_000, "gopay_qris")
    pay(client, key, 12_000, "ovo")
    client.post("/api/create-payment.php", headers=auth(key), json={"amount": 30_000, "payment_method": "qris"})
    # A live payment, paid (the sandbox pays test ones only): not in the test mode's figures.
    live = client.post(
        "/api/create-payment.php",
        headers=auth(merchant.live_api_key),
        json={"amount": 99_000, "payment_method": "qris"},
    ).json()["payment"]["invoice_id"]
    db.write_sync(
        lambda conn: conn.execute(
            sa.update(payments)
            .where(payments.c.invoice_id == live)
            .values(status="paid", paid_at=utcnow(), paid_amount=99_000)
        )
    )
    # One paid (and made) over a year ago, so that "all" differs from "year".
    long_ago = utcnow() - timedelta(days=400)
    db.write_sync(
        lambda conn: conn.execute(
            sa.update(payments).where(payments.c.invoice_id == old).values(created_at=long_ago, paid_at=long_ago)
        )
    )
    sign_in(client, db, merchant)
    for period in PERIODS:
        expected: dict[str, Any] = client.get(
            "/api/get-statistics.php", headers=auth(key), params={"period": period}
        ).json()
        page = client.get(STATISTICS, params={"period": period})
        assert page.status_code == 200, page.text
        assert f'data-period="{period}" aria-current="page"' in page.text
        assert figure(page.text, "paid") == str(expected["total_paid"])
        assert figure(page.text, "created") == str(expected["total_transactions"])
        assert figure(page.text, "pending") == str(expected["total_pending"])
        assert figure(page.text, "received") == f"Rp {rupiah(expected['total_received'])}"
        assert figure(page.text, "amount") == rupiah(expected["total_amount"])
        for method, count in expected["breakdown"].items():
            amount = expected["breakdown_amount"][method]
            assert method_row(page.text, method) == (str(count), f"Rp {rupiah(amount)}"), (period, method)
        assert method_row(page.text, "total") == (str(expected["total_paid"]), f"Rp {rupiah(expected['total_amount'])}")
        assert f'src="/dashboard/statistics/chart.svg?period={period}&amp;lang=id"' in page.text
    everything = client.get(STATISTICS, params={"period": "all"}).text
    assert method_row(everything, "qris") == ("2", "Rp 65.000")
    assert method_row(everything, "gopay_qris") == ("1", "Rp 85.000")
    assert method_row(everything, "ovo") == ("1", "Rp 12.000")
    assert figure(everything, "pending") == "1"
    this_year = client.get(STATISTICS, params={"period": "year"}).text
    assert method_row(this_year, "gopay_qris") == ("0", "Rp 0")
    # The default period is this month.
    assert 'data-period="month" aria-current="page"' in client.get(STATISTICS).text


def test_the_chart_is_an_svg_image(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    pay(client, merchant.test_api_key, 25_000, "qris")
    sign_in(client, db, merchant)
    page = client.get(STATISTICS, params={"period": "today"})
    assert "img-src 'self'" in page.headers["content-security-policy"]
    assert "style-src 'self';" in page.headers["content-security-policy"]
    chart = client.get(f"{STATISTICS}/chart.svg", params={"period": "today", "lang": "en"})
    assert chart.status_code == 200
    assert chart.headers["content-type"] == "image/svg+xml"
    assert chart.headers["content-security-policy"] == "default-src 'none'; style-src 'unsafe-inline'"
    assert chart.text.lstrip().startswith("<?xml")
    assert "<svg" in chart.text
    # pygal's inline config script stays inert: an <img> runs no script, and the CSP allows none.
    assert "script-src" not in chart.headers["content-security-policy"]
    assert 'href="http' not in chart.text  # nothing fetched from elsewhere
    assert "Amount paid by method · Today" in chart.text
    assert "QRIS (1×)" in chart.text
    assert "Rp 25.000" in chart.text


def test_an_unknown_period_is_refused(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    sign_in(client, db, merchant)
    for path in (STATISTICS, f"{STATISTICS}/chart.svg"):
        refused = client.get(path, params={"period": "decade"})
        assert refused.status_code == 400
        assert "period must be one of all, today, week, month, year" in refused.text


def test_who_may_see_the_statistics(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    sign_in(client, db, merchant, "developer")
    assert client.get(STATISTICS).status_code == 200
    client.cookies.clear()
    sign_in(client, db, merchant, "cashier")
    assert 'href="/dashboard/statistics"' not in client.get("/dashboard").text
    assert client.get(STATISTICS).status_code == 403
    assert client.get(f"{STATISTICS}/chart.svg").status_code == 403
