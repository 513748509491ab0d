"""The dashboard's WA Store orders over HTTP: the list with wa-store-orders' filters (status,
search) and WIB days, paged; an order's page (items, buyer, payment, story, audit lines) with the
steps its state allows for the visitor's role; each step and each refusal.

Covered: a cashier marks a paid order processing then completed (buyer messages, events, audit
lines), sees the buyer's number masked and no cancel or billing button, and a cashier's POST to
cancel or to bill is 403 and changes nothing; the owner and a developer cancel (the pending
payment with it) and issue a payment later; a refused step (not paid, completed, a payment still
pending) comes back on the order's page with the service's reason and changes nothing; another
merchant's and the other mode's orders are 404; no CSRF token, no change. Every test runs on
SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from kasir.clock import utcnow
from kasir.db.engine import Database
from kasir.db.tables import audit_log, deliveries, events, payments, store_orders
from kasir.merchants.service import NewMerchant
from kasir.team import users
from tests.conftest import auth, writes_nothing
from tests.dashboard_helpers import EMAIL, PASSWORD, csrf_of

ORDERS = "/dashboard/orders"
CASHIER = "kasir@toko.test"
DEVELOPER = "dev@toko.test"
ITEMS = [{"name": "Kopi Susu Gula Aren 1 L", "quantity": 2, "price": 37500}]
# Written here, not imported from kasir: the tests must not share the code under test.
WIB = timezone(timedelta(hours=7))


@pytest.fixture
def owner(db: Database, merchant: NewMerchant) -> users.NewUser:
    return db.write_sync(lambda conn: users.create_user(conn, merchant.username, EMAIL, utcnow(), password=PASSWORD))


@pytest.fixture
def cashier(db: Database, merchant: NewMerchant) -> users.NewUser:
    return db.write_sync(
        lambda conn: users.create_user(conn, merchant.username, CASHIER, utcnow(), role="cashier", password=PASSWORD)
    )


@pytest.fixture
def developer(db: Database, merchant: NewMerchant) -> users.NewUser:
    return db.write_sync(
        lambda conn: users.create_user(
            conn, merchant.username, DEVELOPER, utcnow(), role="developer", password=PASSWORD
        )
    )


def sign_in(client: TestClient, email: str) -> str:
    response = client.post("/dashboard/login", data={"email": email, "password": PASSWORD}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return csrf_of(client.get(ORDERS).text)


def new_order(client: TestClient, key: str, **fields: Any) -> dict[str, Any]:
    body = {"customer_name": "Rahim", "customer_phone": "0812-3456-7890", "items": ITEMS, **fields}
    response = client.post("/v1/store/orders", headers=auth(key), json=body)
    assert response.status_code == 201, response.text
    return dict(response.json()["order"])


def pay(client: TestClient, key: str, invoice: str) -> None:
    response = client.post(f"/v1/sandbox/payments/{invoice}/pay", headers=auth(key))
    assert response.status_code == 200, response.text


def paid_order(client: TestClient, key: str, **fields: Any) -> dict[str, Any]:
    made = new_order(client, key, **fields)
    pay(client, key, made["invoice_id"])
    return made


def api_order(client: TestClient, key: str, number: str) -> dict[str, Any]:
    response = client.get("/api/wa-store-orders.php", headers=auth(key), params={"order_number": number})
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


def step(client: TestClient, csrf: str, number: str, name: str, **fields: str) -> Any:
    return client.post(f"{ORDERS}/{number}/{name}", data={"csrf_token": csrf, "notify": "1", **fields})


def listed(html: str) -> list[str]:
    return re.findall(r'<tr data-order="([^"]+)"', html)


def audit_lines(db: Database) -> list[dict[str, Any]]:
    def read(conn: sa.Connection) -> list[dict[str, Any]]:
        return [dict(row) for row in conn.execute(sa.select(audit_log).order_by(audit_log.c.id)).mappings()]

    return db.read_sync(read)


def order_events(db: Database, number: str) -> list[str]:
    def read(conn: sa.Connection) -> list[str]:
        rows = conn.execute(sa.select(events.c.type, events.c.payload).order_by(events.c.id)).all()
        return [t for t, payload in rows if json.loads(payload).get("order_number") == number]

    return db.read_sync(read)


def buyer_messages(db: Database) -> list[str]:
    """The event type of every buyer-message delivery, in order."""

    def read(conn: sa.Connection) -> list[str]:
        rows = conn.execute(
            sa.select(events.c.type)
            .join(events, events.c.id == deliveries.c.event_id)
            .where(deliveries.c.dialect == "notifier")
            .order_by(deliveries.c.id)
        ).all()
        return [t for (t,) in rows]

    return db.read_sync(read)


def action_forms(html: str) -> set[str]:
    """The steps the page offers: the forms' and their buttons' targets."""
    return set(re.findall(r'(?:form)?action="/dashboard/orders/[^/"]+/(process|complete|cancel|payment)"', html))


# --- the list ------------------------------------------------------------------------------------


def test_the_list_filters_by_status_search_and_wib_days(
    client: TestClient, db: Database, merchant: NewMerchant, owner: users.NewUser
) -> None:
    key = merchant.test_api_key
    rahim = paid_order(client, key)
    sari = new_order(client, key, customer_name="Sari Dewi", customer_phone="+62 813 1111 2222")
    budi = new_order(client, key, customer_name="Budi", customer_phone="081299998888", create_payment=False)
    # Budi's order was taken ten days ago (the clock is not ours to move: the row is).
    long_ago = datetime.now(UTC) - timedelta(days=10)
    db.write_sync(
        lambda conn: conn.execute(
            sa.update(store_orders)
            .where(store_orders.c.order_number == budi["order_number"])
            .values(created_at=long_ago)
        )
    )
    sign_in(client, EMAIL)
    everything = client.get(ORDERS)
    assert everything.status_code == 200
    assert listed(everything.text) == [sari["order_number"], rahim["order_number"], budi["order_number"]]
    assert "3 pesanan" in everything.text

    def numbers(**query: str) -> list[str]:
        response = client.get(ORDERS, params=query)
        assert response.status_code == 200, response.text
        return listed(response.text)

    assert numbers(status="paid") == [rahim["order_number"]]
    assert numbers(status="pending") == [budi["order_number"]]
    assert numbers(status="completed") == []
    assert numbers(search="sari") == [sari["order_number"]]
    assert numbers(search="0813-1111-2222") == [sari["order_number"]]  # as typed, stored as 62813…
    assert numbers(search=rahim["invoice_id"]) == [rahim["order_number"]]
    assert numbers(search=budi["order_number"].lower()) == [budi["order_number"]]
    today = datetime.now(WIB).date()
    ten_days_ago = long_ago.astimezone(WIB).date()
    assert numbers(start_date=today.isoformat()) == [sari["order_number"], rahim["order_number"]]
    assert numbers(end_date=(today - timedelta(days=1)).isoformat()) == [budi["order_number"]]
    assert numbers(start_date=ten_days_ago.isoformat(), end_date=ten_days_ago.isoformat()) == [budi["order_number"]]
    assert numbers(start_date=(today + timedelta(days=1)).isoformat()) == []
    assert numbers(status="waiting_payment", search="dewi", start_date=today.isoformat()) == [sari["order_number"]]
    # The filters stay in the form.
    kept = client.get(ORDERS, params={"search": "dewi", "status": "paid"}).text
    assert 'value="dewi"' in kept
    assert '<option value="paid" selected>' in kept


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ({"status": "shipped"}, "status must be one of"),
        ({"start_date": "17-08-2026"}, "start_date must be a date as YYYY-MM-DD"),
        ({"start_date": "2026-08-17", "end_date": "2026-08-01"}, "start_date is after end_date"),
        ({"page": "0"}, "page must be a whole number"),
    ],
)
def test_a_wrong_filter_is_refused_with_the_api_s_reason(
    client: TestClient, merchant: NewMerchant, owner: users.NewUser, query: dict[str, str], said: str
) -> None:
    sign_in(client, EMAIL)
    response = client.get(ORDERS, params=query)
    assert response.status_code == 400
    assert said in response.text
    assert 'data-testid="orders"' not in response.text


def test_paging_walks_through_every_order(client: TestClient, merchant: NewMerchant, cashier: users.NewUser) -> None:
    made = [
        new_order(client, merchant.test_api_key, customer_name=f"Pembeli {n}", create_payment=False)["order_number"]
        for n in range(21)
    ]
    sign_in(client, CASHIER)
    first = client.get(ORDERS, params={"status": "pending"})
    assert "Halaman 1 dari 2" in first.text
    on_first = listed(first.text)
    assert len(on_first) == 20
    found = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert found, "no next page link"
    second = client.get(found.group(1).replace("&amp;", "&"))
    assert "Halaman 2 dari 2" in second.text
    assert 'rel="prev"' in second.text
    assert 'rel="next"' not in second.text
    assert sorted(on_first + listed(second.text)) == sorted(made)
    assert listed(client.get(ORDERS, params={"page": "3"}).text) == []


# --- the order's page and the cashier's steps ------------------------------------------------------


def test_a_cashier_marks_a_paid_order_processing_then_completed(
    client: TestClient, db: Database, merchant: NewMerchant, cashier: users.NewUser
) -> None:
    key = merchant.test_api_key
    made = paid_order(client, key, notes="tanpa gula")
    number = made["order_number"]
    csrf = sign_in(client, CASHIER)
    assert number in listed(client.get(ORDERS).text)
    page = client.get(f"{ORDERS}/{number}")
    assert page.status_code == 200
    html = page.text
    assert 'data-testid="status" data-status="paid"' in html
    assert "Kopi Susu Gula Aren 1 L" in html
    assert "Rp 75.000" in html
    assert "Rahim" in html
    assert "tanpa gula" in html
    # Enough of the number to hand over to the right buyer, not the number itself.
    assert "6281234567890" not in html
    assert "6281******890" in html
    assert made["invoice_id"] in html
    assert action_forms(html) == {"process", "complete"}
    assert 'data-testid="cancel-form"' not in html

    processed = client.post(
        f"{ORDERS}/{number}/process", data={"csrf_token": csrf, "notify": "1"}, follow_redirects=False
    )
    assert processed.status_code == 303
    assert processed.headers["location"] == f"{ORDERS}/{number}?done=process"
    after = client.get(processed.headers["location"]).text
    assert 'data-testid="status" data-status="processing"' in after
    assert "Pesanan ditandai diproses." in after
    assert action_forms(after) == {"complete"}
    assert api_order(client, key, number)["status"] == "processing"

    completed = step(client, csrf, number, "complete")
    assert completed.status_code == 200
    assert 'data-testid="status" data-status="completed"' in completed.text
    assert 'data-testid="no-actions"' in completed.text
    assert action_forms(completed.text) == set()
    assert api_order(client, key, number)["status"] == "completed"
    story = re.findall(r'<li data-step="([a-z]+)">', completed.text)
    assert story == ["created", "paid", "processing", "completed"]

    assert order_events(db, number) == [
        "order.created",
        "order.paid",
        "order.processing",
        "order.completed",
    ]
    assert buyer_messages(db) == ["order.created", "order.paid", "order.processing", "order.completed"]
    lines = audit_lines(db)
    assert [(a["action"], a["subject"], a["actor"]) for a in lines] == [
        ("order.process", number, CASHIER),
        ("order.complete", number, CASHIER),
    ]
    assert json.loads(lines[1]["details"]) == {"from": "processing", "to": "completed", "notify": True}
    assert 'data-action="order.complete"' in completed.text


def test_unticking_the_message_sends_the_buyer_none(
    client: TestClient, db: Database, merchant: NewMerchant, cashier: users.NewUser
) -> None:
    number = paid_order(client, merchant.test_api_key)["order_number"]
    csrf = sign_in(client, CASHIER)
    assert client.post(f"{ORDERS}/{number}/complete", data={"csrf_token": csrf}).status_code == 200
    assert buyer_messages(db) == ["order.created", "order.paid"]
    assert order_events(db, number)[-1] == "order.completed"
    [line] = audit_lines(db)
    assert json.loads(line["details"])["notify"] is False


def test_a_refused_step_shows_the_service_s_reason_and_changes_nothing(
    client: TestClient, db: Database, merchant: NewMerchant, owner: users.NewUser
) -> None:
    key = merchant.test_api_key
    waiting = new_order(client, key)["order_number"]
    paid = paid_order(client, key)["order_number"]
    done = paid_order(client, key)["order_number"]
    csrf = sign_in(client, EMAIL)
    assert action_forms(client.get(f"{ORDERS}/{waiting}").text) == {"cancel"}
    assert step(client, csrf, done, "complete").status_code == 200

    cases = [
        (waiting, "complete", "order_not_paid", "it can be completed only once it is paid"),
        (waiting, "process", "order_not_paid", "only once it is paid"),
        (waiting, "payment", "payment_pending", "already has a pending payment"),
        (done, "cancel", "order_completed", "a completed order cannot be cancelled"),
        (done, "process", "order_completed", "cannot be changed"),
        (done, "complete", "order_already_completed", "is already completed"),
        (done, "payment", "order_completed", "cannot be changed"),
        (paid, "payment", "order_already_paid", "it needs no payment"),
    ]
    for number, name, code, said in cases:
        with writes_nothing(db):
            response = step(client, csrf, number, name)
        assert response.status_code == 409, (number, name)
        assert f'data-testid="refused" data-code="{code}"' in response.text, (number, name)
        assert said in response.text, (number, name)
        assert f"Pesanan {number}" in response.text  # the order's page, with the reason on it


def test_the_owner_cancels_an_order_and_its_pending_payment(
    client: TestClient, db: Database, merchant: NewMerchant, owner: users.NewUser
) -> None:
    key = merchant.test_api_key
    made = new_order(client, key)
    number = made["order_number"]
    csrf = sign_in(client, EMAIL)
    page = client.get(f"{ORDERS}/{number}").text
    assert 'data-testid="cancel-form"' in page
    assert "6281234567890" in page  # the owner sees the whole number
    cancelled = step(client, csrf, number, "cancel")
    assert cancelled.status_code == 200
    assert 'data-testid="status" data-status="cancelled"' in cancelled.text
    assert 'data-field="payment_status" data-status="cancelled"' in cancelled.text
    view = api_order(client, key, number)
    assert (view["status"], view["payment_status"]) == ("cancelled", "cancelled")
    assert order_events(db, number)[-1] == "order.cancelled"
    [line] = audit_lines(db)
    assert (line["action"], line["actor"]) == ("order.cancel", EMAIL)
    payment_id = db.read_sync(
        lambda conn: conn.execute(sa.select(payments.c.id).where(payments.c.invoice_id == made["invoice_id"])).scalar()
    )
    assert line["payment_id"] == payment_id  # so the payment's page shows who cancelled it


def test_a_developer_issues_a_payment_later_and_again_once_it_expired(
    client: TestClient, db: Database, merchant: NewMerchant, developer: users.NewUser
) -> None:
    key = merchant.test_api_key
    number = new_order(client, key, create_payment=False)["order_number"]
    csrf = sign_in(client, DEVELOPER)
    page = client.get(f"{ORDERS}/{number}").text
    assert 'data-testid="no-payment"' in page
    assert action_forms(page) == {"payment", "cancel"}
    issued = step(client, csrf, number, "payment", payment_method="qris")
    assert issued.status_code == 200
    view = api_order(client, key, number)
    assert (view["status"], view["payment_status"]) == ("waiting_payment", "pending")
    assert view["invoice_id"] in issued.text
    assert view["payment_url"] in issued.text
    assert action_forms(issued.text) == {"cancel"}
    [line] = audit_lines(db)
    assert line["action"] == "order.payment"
    assert json.loads(line["details"])["invoice_id"] == view["invoice_id"]

    # The payment expires: the page offers a new one, and the new one replaces it.
    past = datetime.now(UTC) - timedelta(seconds=1)
    db.write_sync(
        lambda conn: conn.execute(
            sa.update(payments).where(payments.c.invoice_id == view["invoice_id"]).values(expires_at=past)
        )
    )
    expired = client.get(f"{ORDERS}/{number}").text
    assert 'data-field="payment_status" data-status="expired"' in expired
    assert action_forms(expired) == {"payment", "cancel"}
    assert step(client, csrf, number, "payment").status_code == 200
    again = api_order(client, key, number)
    assert again["invoice_id"] != view["invoice_id"]
    assert again["payment_status"] == "pending"


def test_an_unknown_payment_method_is_refused_with_its_reason(
    client: TestClient, db: Database, merchant: NewMerchant, owner: users.NewUser
) -> None:
    number = new_order(client, merchant.test_api_key, create_payment=False)["order_number"]
    csrf = sign_in(client, EMAIL)
    with writes_nothing(db):
        response = step(client, csrf, number, "payment", payment_method="bitcoin")
    assert response.status_code == 400
    assert 'data-testid="refused"' in response.text
    assert "bitcoin" in response.text or "payment_method" in response.text


# --- who may, and what is refused ------------------------------------------------------------------


def test_a_cashier_may_neither_cancel_nor_bill(
    client: TestClient, db: Database, merchant: NewMerchant, cashier: users.NewUser
) -> None:
    key = merchant.test_api_key
    waiting = new_order(client, key)["order_number"]
    pending = new_order(client, key, create_payment=False)["order_number"]
    paid = paid_order(client, key)["order_number"]
    csrf = sign_in(client, CASHIER)
    for number in (waiting, pending, paid):
        page = client.get(f"{ORDERS}/{number}").text
        assert "cancel" not in action_forms(page)
        assert "payment" not in action_forms(page)
    with writes_nothing(db):
        for number, name in ((waiting, "cancel"), (paid, "cancel"), (pending, "payment"), (waiting, "payment")):
            response = step(client, csrf, number, name)
            assert response.status_code == 403, (number, name)
            assert "Peran Anda tidak boleh" in response.text
    assert api_order(client, key, paid)["status"] == "paid"


def test_another_merchant_s_and_the_other_mode_s_orders_are_404(
    client: TestClient, db: Database, merchant: NewMerchant, other_merchant: NewMerchant, owner: users.NewUser
) -> None:
    theirs = paid_order(client, other_merchant.test_api_key)["order_number"]
    ours = paid_order(client, merchant.test_api_key)["order_number"]
    csrf = sign_in(client, EMAIL)
    assert theirs not in listed(client.get(ORDERS).text)
    assert client.get(f"{ORDERS}/{theirs}").status_code == 404
    with writes_nothing(db):
        for name in ("process", "complete", "cancel", "payment"):
            assert step(client, csrf, theirs, name).status_code == 404, name
        assert step(client, csrf, "WA000000-ZZZZ", "complete").status_code == 404
    # The test order, seen in live mode.
    assert client.post("/dashboard/mode", data={"csrf_token": csrf, "mode": "live"}).status_code == 200
    assert listed(client.get(ORDERS).text) == []
    assert client.get(f"{ORDERS}/{ours}").status_code == 404
    with writes_nothing(db):
        assert step(client, csrf, ours, "complete").status_code == 404
    assert api_order(client, merchant.test_api_key, ours)["status"] == "paid"


@pytest.mark.parametrize("token", [None, "", "not-the-token"])
def test_without_this_session_s_csrf_token_nothing_changes(
    client: TestClient, db: Database, merchant: NewMerchant, owner: users.NewUser, token: str | None
) -> None:
    number = paid_order(client, merchant.test_api_key)["order_number"]
    sign_in(client, EMAIL)
    data = {"notify": "1"} if token is None else {"csrf_token": token, "notify": "1"}
    with writes_nothing(db):
        for name in ("process", "complete", "cancel"):
            response = client.post(f"{ORDERS}/{number}/{name}", data=data)
            assert response.status_code == 403, name


def test_without_a_session_pages_redirect_and_posts_are_refused(
    client: TestClient, db: Database, merchant: NewMerchant
) -> None:
    number = paid_order(client, merchant.test_api_key)["order_number"]
    page = client.get(f"{ORDERS}/{number}", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/dashboard/login?next=")
    with writes_nothing(db):
        assert client.post(f"{ORDERS}/{number}/complete", data={"notify": "1"}).status_code == 403


def test_the_pages_speak_english_too(client: TestClient, merchant: NewMerchant, cashier: users.NewUser) -> None:
    number = paid_order(client, merchant.test_api_key)["order_number"]
    sign_in(client, CASHIER)
    listing = client.get(ORDERS, params={"lang": "en"}).text
    assert "WA Store orders" in listing
    assert "1 orders" in listing
    page = client.get(f"{ORDERS}/{number}").text
    assert "Mark as completed" in page
    assert "masked for cashiers" in page
