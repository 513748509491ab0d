"""The payments API as a merchant uses it: seed 004's shapes, filters, statistics, modes,
cancellation, expiry, unique codes, idempotency and the outbox events each change writes."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from kasir.config import Settings
from kasir.db.engine import Database
from kasir.db.tables import events, idempotency_keys, payments
from kasir.merchants.service import NewMerchant, authenticate
from kasir.payments.service import NewPayment, create_payment
from tests.conftest import auth, row_counts

CREATE = "/api/create-payment.php"
CHECK = "/api/check-payment.php"
LIST = "/api/list-payments.php"
STATS = "/api/get-statistics.php"
METHODS_PATH = "/api/get-payment-methods.php"
ACCOUNT = "/api/get-account-status.php"

# Written here, not imported from kasir.clock: the tests must not share the code under test.
WIB = timezone(timedelta(hours=7))
WIRE_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
INVOICE_RE = re.compile(r"^PAY-toko_satu-(\d+)-[A-Z0-9]{6}$")


# --- helpers --------------------------------------------------------------------------------


def create(client: TestClient, key: str, amount: int = 50000, **fields: Any) -> dict[str, Any]:
    """POST create-payment as JSON; returns the ``payment`` object of a 200 answer."""
    response = client.post(CREATE, headers=auth(key), json={"amount": amount, **fields})
    assert response.status_code == 200, response.text
    return dict(response.json()["payment"])


def check(client: TestClient, key: str, invoice: str) -> dict[str, Any]:
    response = client.get(CHECK, headers=auth(key), params={"invoice": invoice})
    assert response.status_code == 200, response.text
    return dict(response.json())


def listed(client: TestClient, key: str, **params: Any) -> dict[str, Any]:
    response = client.get(LIST, headers=auth(key), params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def invoices(listing: dict[str, Any]) -> list[str]:
    return [item["invoice_id"] for item in listing["data"]]


def stats(client: TestClient, key: str, period: str | None = None) -> dict[str, Any]:
    params = {"period": period} if period is not None else {}
    response = client.get(STATS, headers=auth(key), params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def update_payment(db: Database, invoice: str, **values: Any) -> None:
    """Set columns of one payment directly in SQL (times as aware datetimes)."""
    db.write_sync(
        lambda conn: conn.execute(sa.update(payments).where(payments.c.invoice_id == invoice).values(**values))
    )


def mark_paid(db: Database, invoice: str, paid_at: datetime | None = None, reff: str = "TRX123456789") -> None:
    """What a matched mutation does, done by hand: status paid with its amount and reference."""
    update_payment(
        db,
        invoice,
        status="paid",
        paid_at=paid_at or datetime.now(UTC),
        paid_amount=payments.c.final_amount,
        paid_reff_num=reff,
        closed_at=paid_at or datetime.now(UTC),
    )


def events_of(db: Database, invoice: str) -> list[tuple[str, dict[str, Any]]]:
    """(type, payload) of the payment's events, oldest first."""

    def read(conn: sa.Connection) -> list[tuple[str, dict[str, Any]]]:
        rows = conn.execute(
            sa.select(events.c.type, events.c.payload)
            .join(payments, payments.c.id == events.c.payment_id)
            .where(payments.c.invoice_id == invoice)
            .order_by(events.c.id)
        ).all()
        return [(row.type, json.loads(row.payload)) for row in rows]

    return db.read_sync(read)


def event_types(db: Database, invoice: str) -> list[str]:
    return [kind for kind, _ in events_of(db, invoice)]


def parse_wire(value: str) -> datetime:
    """A seed-004 timestamp (WIB wall time) as an aware datetime."""
    assert WIRE_RE.fullmatch(value), value
    return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=WIB)


def wib_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=WIB).astimezone(UTC)


def fill_every_code(db: Database, settings: Settings, key: str, amount: int) -> list[str]:
    """999 pending qris payments holding every final amount for ``amount``; their invoices."""

    def fill(conn: sa.Connection) -> list[str]:
        caller = authenticate(conn, key)
        now = datetime.now(UTC)
        return [
            str(create_payment(conn, caller, NewPayment(amount=amount), settings, now)["invoice_id"])
            for _ in range(999)
        ]

    return db.write_sync(fill)


def multipart(fields: dict[str, str], boundary: str = "kasirboundary7MA4YWxk") -> tuple[bytes, str]:
    """A multipart/form-data body of plain fields, as curl -F sends them."""
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ]
    body = "".join(parts) + f"--{boundary}--\r\n"
    return body.encode(), f"multipart/form-data; boundary={boundary}"


# --- create-payment -------------------------------------------------------------------------


def test_create_answers_seed_004_shape(client: TestClient, settings: Settings, merchant: NewMerchant) -> None:
    """create-payment answers {success, payment{invoice_id, amount, unique_code, final_amount,
    payment_method, status, expires_at}, payment_url} with seed 004's formats."""
    before = datetime.now(UTC)
    response = client.post(
        CREATE,
        headers=auth(merchant.test_api_key),
        json={"amount": 50000, "description": "Pembayaran Produk A"},
    )
    after = datetime.now(UTC)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    payment = body["payment"]

    match = INVOICE_RE.fullmatch(payment["invoice_id"])
    assert match, payment["invoice_id"]
    assert int(before.timestamp()) - 1 <= int(match.group(1)) <= int(after.timestamp()) + 1
    assert payment["amount"] == 50000
    assert isinstance(payment["unique_code"], int)
    assert 1 <= payment["unique_code"] <= 999
    assert payment["final_amount"] == 50000 + payment["unique_code"]
    assert payment["payment_method"] == "qris"
    assert payment["status"] == "pending"

    expires_at = parse_wire(payment["expires_at"])
    created_at = parse_wire(payment["created_at"])
    assert expires_at - created_at == timedelta(seconds=900)
    # The wall time is Jakarta's, not UTC: created_at is "now" read on a WIB clock.
    assert before - timedelta(seconds=1) <= created_at <= after + timedelta(seconds=1)
    assert body["payment_url"] == f"{settings.public_url}/pay?invoice={payment['invoice_id']}"
    assert body["payment_url"] == "http://kasir.test/pay?invoice=" + payment["invoice_id"]


def test_each_create_gets_its_own_invoice(client: TestClient, merchant: NewMerchant) -> None:
    """Two creates with the same body are two payments with different invoices and final amounts."""
    first = create(client, merchant.test_api_key)
    second = create(client, merchant.test_api_key)
    assert first["invoice_id"] != second["invoice_id"]
    assert first["final_amount"] != second["final_amount"]


@pytest.mark.parametrize("suffix", [".php", ""])
def test_bayargg_paths_with_and_without_php(client: TestClient, merchant: NewMerchant, suffix: str) -> None:
    """create/check/list/statistics/methods/account answer the same on /api/x.php and /api/x."""
    key = merchant.test_api_key
    created = client.post(f"/api/create-payment{suffix}", headers=auth(key), json={"amount": 20000})
    assert created.status_code == 200, created.text
    invoice = created.json()["payment"]["invoice_id"]

    checked = client.get(f"/api/check-payment{suffix}", headers=auth(key), params={"invoice": invoice})
    assert checked.status_code == 200
    assert checked.json()["invoice_id"] == invoice
    listing = client.get(f"/api/list-payments{suffix}", headers=auth(key))
    assert invoices(listing.json()) == [invoice]
    statistics = client.get(f"/api/get-statistics{suffix}", headers=auth(key))
    assert statistics.json()["total_transactions"] == 1
    for name in ("get-payment-methods", "get-account-status"):
        answer = client.get(f"/api/{name}{suffix}", headers=auth(key))
        assert answer.status_code == 200
        assert answer.json()["success"] is True


def test_form_encoded_body_creates_a_payment(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """application/x-www-form-urlencoded (PHP, jQuery) works, with amount as the string "50000"."""
    response = client.post(
        CREATE,
        headers=auth(merchant.test_api_key),
        data={"amount": "50000", "description": "Form order", "customer_email": "form@example.com"},
    )
    assert response.status_code == 200, response.text
    assert response.request.headers["content-type"] == "application/x-www-form-urlencoded"
    payment = response.json()["payment"]
    assert payment["amount"] == 50000
    assert payment["final_amount"] == 50000 + payment["unique_code"]
    stored = check(client, merchant.test_api_key, payment["invoice_id"])
    assert stored["description"] == "Form order"
    assert stored["customer_email"] == "form@example.com"


def test_multipart_body_creates_a_payment(client: TestClient, merchant: NewMerchant) -> None:
    """multipart/form-data (curl -F) works, with amount as the string "50000"."""
    body, content_type = multipart({"amount": "50000", "description": "Multipart order", "payment_method": "qris"})
    response = client.post(CREATE, headers={**auth(merchant.test_api_key), "Content-Type": content_type}, content=body)
    assert response.status_code == 200, response.text
    payment = response.json()["payment"]
    assert payment["amount"] == 50000
    assert check(client, merchant.test_api_key, payment["invoice_id"])["description"] == "Multipart order"


@pytest.mark.parametrize("method", ["qris_user", "gopay_qris", "ovo"])
def test_own_channel_methods_create_for_a_subscribed_merchant(
    client: TestClient, subscribed_merchant: NewMerchant, method: str
) -> None:
    """A subscribed merchant with its channels connected can create with each own method, above 500,000."""
    payment = create(client, subscribed_merchant.test_api_key, amount=2_000_000, payment_method=method)
    assert payment["payment_method"] == method
    assert payment["amount"] == 2_000_000
    assert 2_000_001 <= payment["final_amount"] <= 2_000_999


def test_each_create_writes_one_payment_created_event(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """Every create writes exactly one payment.created event whose payload is the payment (seed 004 fields)."""
    payment = create(client, merchant.test_api_key, description="Kaos", customer_name="Budi")
    other = create(client, merchant.test_api_key, amount=30000)

    for made in (payment, other):
        found = events_of(db, made["invoice_id"])
        assert [kind for kind, _ in found] == ["payment.created"]
    payload = events_of(db, payment["invoice_id"])[0][1]
    for field in (
        "event",
        "invoice_id",
        "status",
        "amount",
        "final_amount",
        "unique_code",
        "timestamp",
        "has_file",
        "has_content",
    ):
        assert field in payload, field
    assert payload["event"] == "payment.created"
    assert payload["invoice_id"] == payment["invoice_id"]
    assert payload["status"] == "pending"
    assert payload["amount"] == 50000
    assert payload["final_amount"] == payment["final_amount"]
    assert payload["unique_code"] == payment["unique_code"]
    assert payload["has_file"] is False
    assert payload["has_content"] is False
    assert isinstance(payload["timestamp"], int)
    assert abs(payload["timestamp"] - datetime.now(UTC).timestamp()) < 60
    assert payload["description"] == "Kaos"
    assert payload["customer_name"] == "Budi"
    assert row_counts(db)["events"] == 2


# --- check-payment --------------------------------------------------------------------------


def test_check_payment_fields_while_pending(client: TestClient, merchant: NewMerchant) -> None:
    """check-payment answers seed 004's fields; a pending payment has no paid_at/paid_reff_num."""
    payment = create(
        client,
        merchant.test_api_key,
        description="Pembayaran Produk A",
        customer_name="John Doe",
        customer_email="john@example.com",
        customer_phone="08123456789",
        redirect_url="https://shop.example/thanks",
    )
    body = check(client, merchant.test_api_key, payment["invoice_id"])
    assert body["success"] is True
    assert body["invoice_id"] == payment["invoice_id"]
    assert body["status"] == "pending"
    assert body["amount"] == 50000
    assert body["final_amount"] == payment["final_amount"]
    assert body["payment_method"] == "qris"
    assert body["paid_at"] is None
    assert body["paid_reff_num"] is None
    assert body["expires_at"] == payment["expires_at"]
    assert body["customer_name"] == "John Doe"
    assert body["customer_email"] == "john@example.com"
    assert body["customer_phone"] == "08123456789"
    assert body["redirect_url"] == "https://shop.example/thanks"


def test_check_payment_shows_paid_at_in_wib(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """A paid payment shows paid_at as WIB wall time and its reference, as seed 004 prints."""
    payment = create(client, merchant.test_api_key)
    mark_paid(db, payment["invoice_id"], paid_at=datetime(2026, 4, 16, 5, 25, 30, tzinfo=UTC), reff="TRX987")
    body = check(client, merchant.test_api_key, payment["invoice_id"])
    assert body["status"] == "paid"
    assert body["paid_at"] == "2026-04-16 12:25:30"
    assert body["paid_reff_num"] == "TRX987"
    assert body["paid_amount"] == payment["final_amount"]


# --- list-payments --------------------------------------------------------------------------


def test_list_item_shape(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """Each list item has seed 004's fields: invoice_id, amount, final_amount, status,
    payment_method, paid_at, created_at; pagination has page, limit, total, total_pages."""
    payment = create(client, merchant.test_api_key)
    body = listed(client, merchant.test_api_key)
    assert body["success"] is True
    [item] = body["data"]
    assert item["invoice_id"] == payment["invoice_id"]
    assert item["amount"] == 50000
    assert item["final_amount"] == payment["final_amount"]
    assert item["status"] == "pending"
    assert item["payment_method"] == "qris"
    assert item["paid_at"] is None
    assert WIRE_RE.fullmatch(item["created_at"])
    assert body["pagination"] == {"page": 1, "limit": 20, "total": 1, "total_pages": 1}


def test_list_search(client: TestClient, merchant: NewMerchant) -> None:
    """search looks in invoice, description and customer name/email/phone, case-insensitively,
    and takes % and _ literally."""
    key = merchant.test_api_key
    kaos = create(
        client,
        key,
        description="Kaos Polos Hitam",
        customer_name="Budi Santoso",
        customer_email="budi@example.com",
        customer_phone="08111111111",
    )["invoice_id"]
    diskon = create(
        client,
        key,
        description="Diskon 100% asli",
        customer_name="Siti",
        customer_email="siti_ayu@example.com",
        customer_phone="08222222222",
    )["invoice_id"]
    mirip = create(
        client,
        key,
        description="Diskon 1000 asli",
        customer_name="Ayu Lestari",
        customer_email="sitixayu@example.com",
        customer_phone="08333333333",
    )["invoice_id"]

    def search(term: str) -> set[str]:
        return set(invoices(listed(client, key, search=term)))

    assert search("kaos POLOS") == {kaos}  # description, any case
    assert search("santoso") == {kaos}  # customer name
    assert search("BUDI@EXAMPLE") == {kaos}  # customer email
    assert search("0822222") == {diskon}  # customer phone
    assert search(mirip[-6:].lower()) == {mirip}  # invoice, any case
    assert search(diskon) == {diskon}  # the whole invoice
    assert search("diskon") == {diskon, mirip}
    assert search("100%") == {diskon}  # % is a character, not a wildcard
    assert search("%") == {diskon}
    assert search("siti_ayu") == {diskon}  # _ is a character, not a wildcard
    assert search("ayu") == {diskon, mirip}
    assert search("no such thing") == set()
    path = create(client, key, description="C:\\temp")["invoice_id"]
    assert search("\\") == {path}  # and so is the escape character itself
    assert listed(client, key, search="diskon")["pagination"]["total"] == 2


def test_list_search_ignores_case_beyond_ascii(client: TestClient, merchant: NewMerchant) -> None:
    """Case-insensitive search holds for non-ASCII letters too (É/é), on every backend."""
    key = merchant.test_api_key
    invoice = create(client, key, customer_name="ÉLODIE Ñúñez")["invoice_id"]
    assert invoices(listed(client, key, search="élodie")) == [invoice]
    assert invoices(listed(client, key, search="ÑÚÑEZ")) == [invoice]


def test_list_filters_by_status_method_and_paid_via(
    client: TestClient, db: Database, subscribed_merchant: NewMerchant
) -> None:
    """status, payment_method and paid_via (paid payments of one method) each filter the list."""
    key = subscribed_merchant.test_api_key
    qris_paid = create(client, key, payment_method="qris")["invoice_id"]
    gopay_paid = create(client, key, payment_method="gopay_qris")["invoice_id"]
    gopay_pending = create(client, key, payment_method="gopay_qris")["invoice_id"]
    ovo_cancelled = create(client, key, payment_method="ovo")["invoice_id"]
    mark_paid(db, qris_paid)
    mark_paid(db, gopay_paid)
    assert client.post(f"/v1/payments/{ovo_cancelled}/cancel", headers=auth(key)).status_code == 200

    def only(**params: str) -> set[str]:
        return set(invoices(listed(client, key, **params)))

    assert only(status="paid") == {qris_paid, gopay_paid}
    assert only(status="pending") == {gopay_pending}
    assert only(status="cancelled") == {ovo_cancelled}
    assert only(status="expired") == set()
    assert only(payment_method="gopay_qris") == {gopay_paid, gopay_pending}
    assert only(payment_method="ovo") == {ovo_cancelled}
    assert only(payment_method="qris_user") == set()
    assert only(paid_via="gopay_qris") == {gopay_paid}
    assert only(paid_via="qris") == {qris_paid}
    assert only(paid_via="ovo") == set()
    assert only(payment_method="gopay_qris", status="pending") == {gopay_pending}
    assert only() == {qris_paid, gopay_paid, gopay_pending, ovo_cancelled}


def test_list_dates_are_wib_days(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """start_date/end_date are Jakarta calendar days, both included: 2026-04-15 17:30 UTC is the 16th."""
    key = merchant.test_api_key
    moments = {
        "late_15th": datetime(2026, 4, 15, 16, 59, 59, tzinfo=UTC),  # 15th 23:59:59 WIB
        "start_16th": datetime(2026, 4, 15, 17, 0, 0, tzinfo=UTC),  # 16th 00:00:00 WIB
        "early_16th": datetime(2026, 4, 15, 17, 30, 0, tzinfo=UTC),  # 16th 00:30:00 WIB
        "late_16th": datetime(2026, 4, 16, 16, 59, 59, tzinfo=UTC),  # 16th 23:59:59 WIB
        "start_17th": datetime(2026, 4, 16, 17, 0, 0, tzinfo=UTC),  # 17th 00:00:00 WIB
    }
    by_name = {}
    for name, moment in moments.items():
        invoice = create(client, key)["invoice_id"]
        update_payment(db, invoice, created_at=moment)
        by_name[invoice] = name

    def names(**params: str) -> set[str]:
        return {by_name[i] for i in invoices(listed(client, key, **params))}

    assert names(start_date="2026-04-16", end_date="2026-04-16") == {"start_16th", "early_16th", "late_16th"}
    assert names(start_date="2026-04-15", end_date="2026-04-15") == {"late_15th"}
    assert names(start_date="2026-04-17") == {"start_17th"}
    assert names(end_date="2026-04-15") == {"late_15th"}
    assert names(start_date="2026-04-15", end_date="2026-04-17") == set(moments)
    assert names(start_date="2026-04-18") == set()
    early = next(item for item in listed(client, key)["data"] if by_name[item["invoice_id"]] == "early_16th")
    assert early["created_at"] == "2026-04-16 00:30:00"


def test_list_is_newest_first(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """list-payments orders by created_at, newest first, whatever the insertion order."""
    key = merchant.test_api_key
    now = datetime.now(UTC)
    first, second, third = (create(client, key)["invoice_id"] for _ in range(3))
    update_payment(db, first, created_at=now - timedelta(hours=1))
    update_payment(db, second, created_at=now - timedelta(hours=3))
    update_payment(db, third, created_at=now - timedelta(hours=2))
    assert invoices(listed(client, key)) == [first, third, second]


def test_list_pagination(client: TestClient, db: Database, settings: Settings, merchant: NewMerchant) -> None:
    """page and limit slice the newest-first list; limit defaults to 20 and is clamped to 100."""
    key = merchant.test_api_key

    def make(conn: sa.Connection) -> None:
        caller = authenticate(conn, key)
        start = datetime.now(UTC) - timedelta(minutes=30)
        for i in range(25):
            create_payment(conn, caller, NewPayment(amount=10000 + i * 1000), settings, start + timedelta(seconds=i))

    db.write_sync(make)
    everything = listed(client, key, limit=100)
    assert everything["pagination"] == {"page": 1, "limit": 100, "total": 25, "total_pages": 1}
    newest_first = invoices(everything)
    assert len(newest_first) == 25
    assert [item["amount"] for item in everything["data"]] == [10000 + i * 1000 for i in reversed(range(25))]

    page1 = listed(client, key)
    assert page1["pagination"] == {"page": 1, "limit": 20, "total": 25, "total_pages": 2}
    assert invoices(page1) == newest_first[:20]
    page2 = listed(client, key, page=2)
    assert page2["pagination"] == {"page": 2, "limit": 20, "total": 25, "total_pages": 2}
    assert invoices(page2) == newest_first[20:]

    by_ten = [listed(client, key, limit=10, page=page) for page in (1, 2, 3, 4)]
    assert [len(p["data"]) for p in by_ten] == [10, 10, 5, 0]
    assert all(p["pagination"]["total_pages"] == 3 for p in by_ten)
    assert [invoice for p in by_ten for invoice in invoices(p)] == newest_first

    clamped = listed(client, key, limit=1000)
    assert clamped["pagination"]["limit"] == 100
    assert len(clamped["data"]) == 25


def test_empty_list(client: TestClient, merchant: NewMerchant) -> None:
    """A merchant with no payments gets an empty page and zero pages."""
    body = listed(client, merchant.test_api_key)
    assert body["data"] == []
    assert body["pagination"] == {"page": 1, "limit": 20, "total": 0, "total_pages": 0}


# --- modes and merchants never mix ----------------------------------------------------------


def test_test_and_live_data_never_mix(client: TestClient, merchant: NewMerchant) -> None:
    """A test-mode payment is invisible to the live key in check, list and statistics, and back."""
    test_invoice = create(client, merchant.test_api_key)["invoice_id"]

    live_check = client.get(CHECK, headers=auth(merchant.live_api_key), params={"invoice": test_invoice})
    assert live_check.status_code == 404
    assert listed(client, merchant.live_api_key)["pagination"]["total"] == 0
    assert stats(client, merchant.live_api_key)["total_transactions"] == 0
    assert client.get(ACCOUNT, headers=auth(merchant.live_api_key)).json()["statistics"]["total_transactions"] == 0

    live_invoice = create(client, merchant.live_api_key)["invoice_id"]
    assert check(client, merchant.live_api_key, live_invoice)["mode"] == "live"
    assert check(client, merchant.test_api_key, test_invoice)["mode"] == "test"
    assert invoices(listed(client, merchant.test_api_key)) == [test_invoice]
    assert invoices(listed(client, merchant.live_api_key)) == [live_invoice]
    assert stats(client, merchant.test_api_key)["total_transactions"] == 1
    assert client.get(CHECK, headers=auth(merchant.test_api_key), params={"invoice": live_invoice}).status_code == 404


def test_another_merchants_payments_are_invisible(
    client: TestClient, db: Database, merchant: NewMerchant, other_merchant: NewMerchant
) -> None:
    """One merchant never sees another's payments: not by invoice, list, search or statistics."""
    theirs = create(client, other_merchant.test_api_key, description="rahasia")["invoice_id"]
    mark_paid(db, theirs)
    mine = create(client, merchant.test_api_key)["invoice_id"]

    assert client.get(CHECK, headers=auth(merchant.test_api_key), params={"invoice": theirs}).status_code == 404
    assert invoices(listed(client, merchant.test_api_key)) == [mine]
    assert invoices(listed(client, merchant.test_api_key, search="rahasia")) == []
    assert invoices(listed(client, merchant.test_api_key, search=theirs)) == []
    mine_stats = stats(client, merchant.test_api_key)
    assert mine_stats["total_transactions"] == 1
    assert mine_stats["total_paid"] == 0
    assert stats(client, other_merchant.test_api_key)["total_paid"] == 1


# --- get-statistics -------------------------------------------------------------------------


def period_starts(now: datetime) -> dict[str, datetime]:
    """When each WIB period began, computed here independently: weeks start on Monday."""
    today = now.astimezone(WIB).date()
    return {
        "today": wib_midnight(today),
        "week": wib_midnight(today - timedelta(days=today.weekday())),
        "month": wib_midnight(today.replace(day=1)),
        "year": wib_midnight(today.replace(month=1, day=1)),
    }


def test_statistics_shape_matches_seed_004(client: TestClient, merchant: NewMerchant) -> None:
    """get-statistics answers success, period, total_transactions, total_amount, total_paid, breakdown."""
    body = stats(client, merchant.test_api_key)
    assert body["success"] is True
    assert body["period"] == "all"  # the default
    for field in ("total_transactions", "total_amount", "total_paid"):
        assert body[field] == 0
    assert isinstance(body["breakdown"], dict)
    assert stats(client, merchant.test_api_key, "month")["period"] == "month"


def test_statistics_periods_follow_wib_boundaries(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """Each period counts payments from its WIB start (included); one second earlier is outside."""
    key = merchant.test_api_key
    starts = period_starts(datetime.now(UTC))
    moments: list[datetime] = []
    for start in starts.values():
        moments += [start, start - timedelta(seconds=1)]
    moments.append(datetime(2020, 1, 1, tzinfo=UTC))  # only in "all"
    for i, moment in enumerate(moments):
        invoice = create(client, key, amount=10000 + i * 1000)["invoice_id"]
        mark_paid(db, invoice, paid_at=moment)
        update_payment(db, invoice, created_at=moment)
    amounts = [10000 + i * 1000 for i in range(len(moments))]

    for period in ("all", "today", "week", "month", "year"):
        inside = [
            amount
            for amount, moment in zip(amounts, moments, strict=True)
            if period == "all" or moment >= starts[period]
        ]
        body = stats(client, key, period)
        assert body["period"] == period
        assert body["total_transactions"] == len(inside), period
        assert body["total_paid"] == len(inside), period
        assert body["total_amount"] == sum(inside), period
        assert body["breakdown"]["qris"] == len(inside), period


def test_statistics_paid_figures_follow_paid_at(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """A payment created before today's WIB midnight and paid after it is today's revenue, not a
    transaction created today."""
    key = merchant.test_api_key
    midnight = period_starts(datetime.now(UTC))["today"]
    invoice = create(client, key)["invoice_id"]
    mark_paid(db, invoice, paid_at=midnight)
    update_payment(db, invoice, created_at=midnight - timedelta(minutes=5))
    today = stats(client, key, "today")
    assert today["total_transactions"] == 0
    assert today["total_paid"] == 1
    assert today["total_amount"] == 50000


def test_statistics_breakdown_counts_paid_payments_per_method(
    client: TestClient, db: Database, subscribed_merchant: NewMerchant
) -> None:
    """breakdown counts paid payments per method; pending and cancelled ones are only transactions."""
    key = subscribed_merchant.test_api_key
    paid = [
        create(client, key, amount=10000, payment_method="qris"),
        create(client, key, amount=20000, payment_method="qris"),
        create(client, key, amount=30000, payment_method="gopay_qris"),
        create(client, key, amount=40000, payment_method="ovo"),
    ]
    for payment in paid:
        mark_paid(db, payment["invoice_id"])
    create(client, key, amount=50000, payment_method="gopay_qris")  # pending
    cancelled = create(client, key, amount=60000, payment_method="qris_user")["invoice_id"]
    assert client.post(f"/v1/payments/{cancelled}/cancel", headers=auth(key)).status_code == 200

    for period in ("all", "today"):
        body = stats(client, key, period)
        assert body["total_transactions"] == 6
        assert body["total_paid"] == 4
        assert body["total_amount"] == 100000
        nonzero = {method: count for method, count in body["breakdown"].items() if count}
        assert nonzero == {"qris": 2, "gopay_qris": 1, "ovo": 1}


# --- get-payment-methods and get-account-status ---------------------------------------------


@pytest.mark.parametrize("subscribed", [False, True], ids=["unsubscribed", "subscribed"])
def test_payment_methods(client: TestClient, request: pytest.FixtureRequest, subscribed: bool) -> None:
    """get-payment-methods lists every method with id/name/available and user_status, as seed 004."""
    who: NewMerchant = request.getfixturevalue("subscribed_merchant" if subscribed else "merchant")
    response = client.get(METHODS_PATH, headers=auth(who.test_api_key))
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["user_status"] == {"has_active_subscription": subscribed}
    methods = {m["id"]: m for m in body["methods"]}
    assert set(methods) == {"qris", "qris_user", "gopay_qris", "ovo"}
    for method in methods.values():
        assert isinstance(method["name"], str)
        assert method["name"]
        assert isinstance(method["available"], bool)
    assert methods["qris"]["name"] == "QRIS"
    assert methods["gopay_qris"]["name"] == "GoPay QRIS"
    assert methods["qris"]["available"] is True
    for own in ("qris_user", "gopay_qris", "ovo"):
        assert methods[own]["available"] is subscribed, own


@pytest.mark.parametrize("subscribed", [False, True], ids=["unsubscribed", "subscribed"])
def test_account_status(client: TestClient, request: pytest.FixtureRequest, subscribed: bool) -> None:
    """get-account-status answers account{username, email, is_verified} and integrations{gopay, bri, ovo}."""
    who: NewMerchant = request.getfixturevalue("subscribed_merchant" if subscribed else "merchant")
    response = client.get(ACCOUNT, headers=auth(who.live_api_key))
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["account"]["username"] == "toko_satu"
    assert "email" in body["account"]
    assert body["account"]["email"] is None  # the fixture merchant has none
    assert body["account"]["is_verified"] is True
    assert body["integrations"] == {"gopay": subscribed, "bri": subscribed, "ovo": subscribed}
    assert body["user_status"] == {"has_active_subscription": subscribed}


# --- cancel and expiry ----------------------------------------------------------------------


def test_cancel_moves_pending_to_cancelled_with_an_event(
    client: TestClient, db: Database, merchant: NewMerchant
) -> None:
    """POST /v1/payments/{invoice}/cancel: pending → cancelled, one payment.cancelled event."""
    invoice = create(client, merchant.test_api_key)["invoice_id"]
    response = client.post(f"/v1/payments/{invoice}/cancel", headers=auth(merchant.test_api_key))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    assert body["payment"]["invoice_id"] == invoice
    assert body["payment"]["status"] == "cancelled"
    assert check(client, merchant.test_api_key, invoice)["status"] == "cancelled"
    found = events_of(db, invoice)
    assert [kind for kind, _ in found] == ["payment.created", "payment.cancelled"]
    assert found[1][1]["status"] == "cancelled"
    assert found[1][1]["event"] == "payment.cancelled"


def test_expiry_on_read(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """A pending payment past expires_at reads as expired, with exactly one payment.expired event,
    however many times it is read afterwards."""
    key = merchant.test_api_key
    invoice = create(client, key)["invoice_id"]
    update_payment(db, invoice, expires_at=datetime.now(UTC) - timedelta(seconds=5))
    assert event_types(db, invoice) == ["payment.created"]

    assert check(client, key, invoice)["status"] == "expired"
    assert event_types(db, invoice) == ["payment.created", "payment.expired"]

    assert check(client, key, invoice)["status"] == "expired"
    assert listed(client, key)["data"][0]["status"] == "expired"
    assert stats(client, key)["total_transactions"] == 1
    assert event_types(db, invoice) == ["payment.created", "payment.expired"]
    payload = events_of(db, invoice)[1][1]
    assert payload["status"] == "expired"
    assert payload["invoice_id"] == invoice


def test_list_expires_overdue_payments(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """list-payments also expires overdue payments before it shows or filters them."""
    key = merchant.test_api_key
    invoice = create(client, key)["invoice_id"]
    update_payment(db, invoice, expires_at=datetime.now(UTC) - timedelta(seconds=5))
    assert invoices(listed(client, key, status="pending")) == []
    assert invoices(listed(client, key, status="expired")) == [invoice]
    assert event_types(db, invoice) == ["payment.created", "payment.expired"]


@pytest.mark.parametrize("how", ["cancelled", "expired"])
def test_a_closed_payment_frees_its_final_amount(
    client: TestClient, db: Database, settings: Settings, merchant: NewMerchant, how: str
) -> None:
    """With all 999 codes taken, cancelling or expiring one frees exactly its final_amount for the next create."""
    key = merchant.test_api_key
    taken = fill_every_code(db, settings, key, 40000)
    full = client.post(CREATE, headers=auth(key), json={"amount": 40000})
    assert full.status_code == 409
    freed_invoice = taken[417]
    freed_amount = check(client, key, freed_invoice)["final_amount"]

    if how == "cancelled":
        assert client.post(f"/v1/payments/{freed_invoice}/cancel", headers=auth(key)).status_code == 200
    else:
        update_payment(db, freed_invoice, expires_at=datetime.now(UTC) - timedelta(seconds=1))

    again = create(client, key, amount=40000)
    assert again["final_amount"] == freed_amount
    assert again["invoice_id"] != freed_invoice
    assert check(client, key, freed_invoice)["status"] == how
    assert event_types(db, freed_invoice).count(f"payment.{how}") == 1
    assert client.post(CREATE, headers=auth(key), json={"amount": 40000}).status_code == 409


# --- Idempotency-Key ------------------------------------------------------------------------


def test_idempotency_key_replays_the_first_response(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """The same Idempotency-Key and body twice: the identical response, one payment, one event."""
    headers = {**auth(merchant.test_api_key), "Idempotency-Key": "order-2026-0001"}
    body = {"amount": 75000, "description": "Order 1"}
    first = client.post(CREATE, headers=headers, json=body)
    second = client.post(CREATE, headers=headers, json=body)
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    counts = row_counts(db)
    assert counts[payments.name] == 1
    assert counts[events.name] == 1
    assert counts[idempotency_keys.name] == 1
    # The same body without the key, or with another key, is a new payment.
    other = client.post(CREATE, headers={**headers, "Idempotency-Key": "order-2026-0002"}, json=body)
    assert other.json()["payment"]["invoice_id"] != first.json()["payment"]["invoice_id"]
    assert row_counts(db)[payments.name] == 2


def test_idempotency_keys_are_per_mode(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """One Idempotency-Key used in test and in live mode names two different requests."""
    body = {"amount": 75000}
    test = client.post(CREATE, headers={**auth(merchant.test_api_key), "Idempotency-Key": "k1"}, json=body)
    live = client.post(CREATE, headers={**auth(merchant.live_api_key), "Idempotency-Key": "k1"}, json=body)
    assert test.status_code == live.status_code == 200
    assert test.json()["payment"]["invoice_id"] != live.json()["payment"]["invoice_id"]
    assert row_counts(db)[payments.name] == 2
