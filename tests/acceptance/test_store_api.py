"""WA Store orders over real HTTP (a live server on a socket): seed 004's wa-store-orders and
wa-store-complete, Kasir's /v1/store calls, every allowed transition and every refused one.

Each refusal is checked to change nothing at all (every row of every table as it was)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from kasir.config import Settings
from kasir.db.engine import Database
from kasir.db.tables import deliveries, events, payments, store_orders
from kasir.merchants.service import NewMerchant
from tests.conftest import LiveServer, assert_error, auth, writes_nothing

ORDERS = "/api/wa-store-orders.php"
COMPLETE = "/api/wa-store-complete.php"
CREATE = "/v1/store/orders"
# Written here, not imported from kasir: the tests must not share the code under test.
WIB = timezone(timedelta(hours=7))
ORDER_NUMBER_RE = re.compile(r"^WA(\d{6})-[A-Z0-9]{4}$")

ITEMS = [{"name": "Kopi Susu Gula Aren 1 L", "quantity": 2, "price": 37500}]


@pytest.fixture
def http(live_server: LiveServer, merchant: NewMerchant) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, headers=auth(merchant.test_api_key), timeout=10) as client:
        yield client


def new_order(http: httpx.Client, **fields: Any) -> dict[str, Any]:
    body = {"customer_name": "Rahim", "customer_phone": "0812-3456-7890", "items": ITEMS, **fields}
    response = http.post(CREATE, json=body)
    assert response.status_code == 201, response.text
    assert response.json()["success"] is True
    return dict(response.json()["order"])


def order(http: httpx.Client, number: str) -> dict[str, Any]:
    response = http.get(ORDERS, params={"order_number": number})
    assert response.status_code == 200, response.text
    return dict(response.json()["data"])


def pay(http: httpx.Client, invoice: str) -> None:
    response = http.post(f"/v1/sandbox/payments/{invoice}/pay")
    assert response.status_code == 200, response.text


def step(http: httpx.Client, number: str, name: str, **body: Any) -> httpx.Response:
    return http.post(f"/v1/store/orders/{number}/{name}", json=body)


def finish(http: httpx.Client, number: str, **body: Any) -> httpx.Response:
    return http.post(COMPLETE, json={"order_number": number, **body})


def event_types(db: Database, number: str) -> list[str]:
    """The order's events in the order they were written."""

    def read(conn: sa.Connection) -> list[str]:
        rows = conn.execute(sa.select(events.c.type, events.c.payload).order_by(events.c.id)).all()
        return [t for t, payload in rows if json.loads(payload).get("order_number") == number]

    return db.read_sync(read)


def buyer_messages(db: Database) -> list[tuple[str, str]]:
    """(event type, recipient) of every buyer-message delivery, in order."""

    def read(conn: sa.Connection) -> list[tuple[str, str]]:
        rows = conn.execute(
            sa.select(events.c.type, deliveries.c.url)
            .join(events, events.c.id == deliveries.c.event_id)
            .where(deliveries.c.dialect == "notifier")
            .order_by(deliveries.c.id)
        ).all()
        return [(t, u) for t, u in rows]

    return db.read_sync(read)


def payment_row(db: Database, invoice: str) -> dict[str, Any]:
    return dict(
        db.read_sync(
            lambda conn: conn.execute(sa.select(payments).where(payments.c.invoice_id == invoice)).mappings().one()
        )
    )


def expire_payment(db: Database, invoice: str) -> None:
    """Move the payment's expiry into the past (the clock is not ours to move)."""
    past = datetime.now(UTC) - timedelta(seconds=1)
    db.write_sync(
        lambda conn: conn.execute(sa.update(payments).where(payments.c.invoice_id == invoice).values(expires_at=past))
    )


# --- creating an order ------------------------------------------------------------------------


def test_create_answers_the_order_with_its_payment(http: httpx.Client, db: Database) -> None:
    before = datetime.now(WIB)
    created = new_order(http, notes="tanpa gula")
    match = ORDER_NUMBER_RE.fullmatch(created["order_number"])
    assert match is not None, created["order_number"]
    assert match.group(1) in {before.strftime("%y%m%d"), datetime.now(WIB).strftime("%y%m%d")}
    assert created["status"] == "waiting_payment"
    assert created["customer_name"] == "Rahim"
    assert created["customer_phone"] == "6281234567890"
    assert created["total"] == 75000
    assert created["items"] == [{**ITEMS[0], "subtotal": 75000}]
    assert created["notes"] == "tanpa gula"
    assert created["invoice_id"].startswith("PAY-toko_satu-")
    assert created["payment_url"] == f"http://kasir.test/pay?invoice={created['invoice_id']}"
    assert created["payment_status"] == "pending"
    # The payment is a real one: the order's total plus a unique code.
    payment = payment_row(db, created["invoice_id"])
    assert payment["amount"] == 75000
    assert payment["final_amount"] == created["final_amount"] == 75000 + created["unique_code"]
    assert payment["customer_phone"] == "6281234567890"
    assert created["order_number"] in payment["description"]
    assert event_types(db, created["order_number"]) == ["order.created"]
    assert buyer_messages(db) == [("order.created", "whatsapp:6281234567890")]


def test_create_without_payment_leaves_the_order_pending(http: httpx.Client, db: Database) -> None:
    created = new_order(http, create_payment=False)
    assert created["status"] == "pending"
    assert created["invoice_id"] is None
    assert created["payment_url"] is None
    assert db.read_sync(lambda conn: conn.execute(sa.select(sa.func.count()).select_from(payments)).scalar()) == 0


def test_create_with_the_same_idempotency_key_answers_the_first_order(http: httpx.Client, db: Database) -> None:
    body = {"customer_name": "Rahim", "customer_phone": "081234567890", "items": ITEMS}
    first = http.post(CREATE, json=body, headers={"Idempotency-Key": "order-1"})
    again = http.post(CREATE, json=body, headers={"Idempotency-Key": "order-1"})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    other = http.post(CREATE, json={**body, "notes": "lain"}, headers={"Idempotency-Key": "order-1"})
    assert other.status_code == 409
    assert db.read_sync(lambda conn: conn.execute(sa.select(sa.func.count()).select_from(store_orders)).scalar()) == 1


def test_form_encoded_order_with_items_as_json(http: httpx.Client) -> None:
    response = http.post(
        CREATE,
        data={"customer_name": "Sari", "customer_phone": "+62 857 1111 2222", "items": json.dumps(ITEMS)},
    )
    assert response.status_code == 201, response.text
    assert response.json()["order"]["customer_phone"] == "6285711112222"


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"customer_name": None}, 400, "invalid_parameter", "customer_name"),
        ({"customer_name": ""}, 400, "invalid_parameter", "customer_name"),
        ({"customer_phone": "12345"}, 400, "invalid_phone", "customer_phone"),
        ({"customer_phone": "+1 415 555 0100"}, 400, "invalid_phone", "customer_phone"),
        ({"customer_phone": "08abc"}, 400, "invalid_phone", "customer_phone"),
        ({"items": []}, 400, "invalid_parameter", "items"),
        ({"items": "not json"}, 400, "invalid_parameter", "items"),
        ({"items": [{"name": "Kopi", "quantity": 0, "price": 1000}]}, 400, "invalid_parameter", "items.0.quantity"),
        ({"items": [{"name": "Kopi", "quantity": "1.5", "price": 1000}]}, 400, "invalid_parameter", "items.0.quantity"),
        ({"items": [{"name": "Kopi", "quantity": True, "price": 1000}]}, 400, "invalid_parameter", "items.0.quantity"),
        ({"items": [{"name": "Kopi", "quantity": 1, "price": "1.000"}]}, 400, "invalid_parameter", "items.0.price"),
        ({"items": [{"name": "Kopi", "quantity": 1, "price": -5}]}, 400, "invalid_parameter", "items.0.price"),
        ({"items": [{"name": "", "quantity": 1, "price": 5000}]}, 400, "invalid_parameter", "items.0.name"),
        ({"items": [{"name": "Kopi", "quantity": 1, "price": 5000, "x": 1}]}, 400, "invalid_parameter", "items.0.x"),
        ({"items": [{"name": "Gratis", "quantity": 1, "price": 0}]}, 400, "invalid_total", "items"),
        ({"items": [{"name": "Kopi", "quantity": 1, "price": 5000}] * 101}, 400, "invalid_parameter", "items"),
        # Over the qris ceiling (Rp 500,000): no payment can be made, so no order either.
        ({"items": [{"name": "Laptop", "quantity": 1, "price": 600000}]}, 400, "amount_out_of_range", "amount"),
        ({"items": [{"name": "Kopi", "quantity": 1, "price": 500}]}, 400, "amount_out_of_range", "amount"),
        ({"payment_method": "bitcoin"}, 400, "invalid_payment_method", "payment_method"),
        ({"notes": "x" * 1001}, 400, "invalid_parameter", "notes"),
        ({"unexpected": 1}, 400, "invalid_parameter", "unexpected"),
    ],
)
def test_bad_orders_are_refused_and_write_nothing(
    http: httpx.Client, db: Database, body: dict[str, Any], status: int, code: str, field: str
) -> None:
    full = {"customer_name": "Rahim", "customer_phone": "081234567890", "items": ITEMS, **body}
    with writes_nothing(db):
        assert_error(http.post(CREATE, json=full), status, code, field)


def test_an_unavailable_method_refuses_the_order(http: httpx.Client, db: Database) -> None:
    with writes_nothing(db):
        response = http.post(
            CREATE,
            json={"customer_name": "Rahim", "customer_phone": "081234567890", "items": ITEMS, "payment_method": "ovo"},
        )
    assert response.status_code in (400, 403)
    assert response.json()["code"] in ("payment_method_unavailable", "subscription_inactive")


def test_create_needs_a_key(live_server: LiveServer) -> None:
    response = httpx.post(live_server.url + CREATE, json={"customer_name": "R", "items": ITEMS})
    assert_error(response, 401, response.json()["code"])


# --- every allowed transition ---------------------------------------------------------------


def test_paid_processing_completed(http: httpx.Client, db: Database) -> None:
    created = new_order(http)
    number = created["order_number"]
    pay(http, created["invoice_id"])
    paid = order(http, number)
    assert paid["status"] == "paid"
    assert paid["payment_status"] == "paid"
    assert paid["paid_at"]
    processing = step(http, number, "process")
    assert processing.status_code == 200, processing.text
    assert processing.json()["order"]["status"] == "processing"
    done = finish(http, number)
    assert done.status_code == 200, done.text
    assert done.json() == {
        "success": True,
        "message": "Order completed successfully",
        "order": {**done.json()["order"], "order_number": number, "status": "completed"},
    }
    assert event_types(db, number) == ["order.created", "order.paid", "order.processing", "order.completed"]
    assert [t for t, _ in buyer_messages(db)] == event_types(db, number)


def test_paid_straight_to_completed(http: httpx.Client) -> None:
    created = new_order(http)
    pay(http, created["invoice_id"])
    response = finish(http, created["order_number"], status="completed", notify=True)
    assert response.status_code == 200
    assert response.json()["order"]["status"] == "completed"


def test_a_credit_reported_over_the_api_pays_the_order(http: httpx.Client, db: Database) -> None:
    created = new_order(http)
    credit = {"channel": "qris", "amount": created["final_amount"], "reference": "RRN-1", "occurred_at": None}
    response = http.post("/v1/mutations", json={k: v for k, v in credit.items() if v is not None})
    assert response.status_code in (200, 201), response.text
    assert order(http, created["order_number"])["status"] == "paid"
    assert payment_row(db, created["invoice_id"])["status"] == "paid"


def test_cancel_while_waiting_cancels_the_payment_too(http: httpx.Client, db: Database) -> None:
    created = new_order(http)
    response = finish(http, created["order_number"], status="cancelled")
    assert response.status_code == 200, response.text
    assert response.json()["message"] == "Order cancelled successfully"
    assert response.json()["order"]["status"] == "cancelled"
    assert response.json()["order"]["payment_status"] == "cancelled"
    assert payment_row(db, created["invoice_id"])["status"] == "cancelled"
    # A cancelled payment can no longer be paid.
    assert http.post(f"/v1/sandbox/payments/{created['invoice_id']}/pay").status_code >= 400
    assert order(http, created["order_number"])["status"] == "cancelled"


@pytest.mark.parametrize("then", ["paid", "processing"])
def test_cancel_after_payment_keeps_the_payment_paid(http: httpx.Client, db: Database, then: str) -> None:
    created = new_order(http)
    pay(http, created["invoice_id"])
    if then == "processing":
        assert step(http, created["order_number"], "process").status_code == 200
    response = step(http, created["order_number"], "cancel")
    assert response.status_code == 200, response.text
    assert response.json()["order"]["status"] == "cancelled"
    assert payment_row(db, created["invoice_id"])["status"] == "paid"


def test_pending_order_gets_its_payment_then_is_paid(http: httpx.Client, db: Database) -> None:
    created = new_order(http, create_payment=False)
    response = step(http, created["order_number"], "payment")
    assert response.status_code == 200, response.text
    issued = response.json()["order"]
    assert issued["status"] == "waiting_payment"
    assert issued["payment_status"] == "pending"
    pay(http, issued["invoice_id"])
    assert order(http, created["order_number"])["status"] == "paid"
    assert event_types(db, created["order_number"]) == ["order.created", "order.waiting_payment", "order.paid"]


def test_pending_order_can_be_cancelled(http: httpx.Client) -> None:
    created = new_order(http, create_payment=False)
    response = finish(http, created["order_number"], status="cancelled")
    assert response.status_code == 200
    assert response.json()["order"]["status"] == "cancelled"


def test_an_expired_payment_can_be_replaced(http: httpx.Client, db: Database) -> None:
    created = new_order(http)
    expire_payment(db, created["invoice_id"])
    seen = order(http, created["order_number"])
    assert seen["status"] == "waiting_payment"
    assert seen["payment_status"] == "expired"
    response = step(http, created["order_number"], "payment")
    assert response.status_code == 200, response.text
    replaced = response.json()["order"]
    assert replaced["invoice_id"] != created["invoice_id"]
    assert replaced["payment_status"] == "pending"
    pay(http, replaced["invoice_id"])
    assert order(http, created["order_number"])["status"] == "paid"


def test_notify_false_sends_no_message_for_that_step(http: httpx.Client, db: Database) -> None:
    created = new_order(http, notify=False)
    pay(http, created["invoice_id"])  # the payment's step always tells the buyer
    assert finish(http, created["order_number"], notify=False).status_code == 200
    assert [t for t, _ in buyer_messages(db)] == ["order.paid"]
    assert event_types(db, created["order_number"]) == ["order.created", "order.paid", "order.completed"]


def test_notify_as_a_form_string(http: httpx.Client, db: Database) -> None:
    created = new_order(http, notify=False)
    pay(http, created["invoice_id"])
    response = http.post(COMPLETE, data={"order_number": created["order_number"], "notify": "false"})
    assert response.status_code == 200, response.text
    assert [t for t, _ in buyer_messages(db)] == ["order.paid"]


# --- every refused transition ----------------------------------------------------------------


def _waiting(http: httpx.Client) -> dict[str, Any]:
    return new_order(http)


def _pending(http: httpx.Client) -> dict[str, Any]:
    return new_order(http, create_payment=False)


def _paid(http: httpx.Client) -> dict[str, Any]:
    created = new_order(http)
    pay(http, created["invoice_id"])
    return created


def _processing(http: httpx.Client) -> dict[str, Any]:
    created = _paid(http)
    assert step(http, created["order_number"], "process").status_code == 200
    return created


def _completed(http: httpx.Client) -> dict[str, Any]:
    created = _paid(http)
    assert finish(http, created["order_number"]).status_code == 200
    return created


def _cancelled(http: httpx.Client) -> dict[str, Any]:
    created = new_order(http)
    assert finish(http, created["order_number"], status="cancelled").status_code == 200
    return created


STATES = {
    "pending": _pending,
    "waiting_payment": _waiting,
    "paid": _paid,
    "processing": _processing,
    "completed": _completed,
    "cancelled": _cancelled,
}


REFUSED = [
    ("pending", "complete", "order_not_paid"),
    ("waiting_payment", "complete", "order_not_paid"),
    ("completed", "complete", "order_already_completed"),
    ("cancelled", "complete", "order_cancelled"),
    ("completed", "cancel", "order_completed"),
    ("cancelled", "cancel", "order_already_cancelled"),
    ("pending", "process", "order_not_paid"),
    ("waiting_payment", "process", "order_not_paid"),
    ("processing", "process", "order_already_processing"),
    ("completed", "process", "order_completed"),
    ("cancelled", "process", "order_cancelled"),
    ("waiting_payment", "payment", "payment_pending"),
    ("paid", "payment", "order_already_paid"),
    ("processing", "payment", "order_already_paid"),
    ("completed", "payment", "order_completed"),
    ("cancelled", "payment", "order_cancelled"),
]


@pytest.mark.parametrize(
    ("state", "action", "code", "via"),
    [(*case, "v1") for case in REFUSED] + [(*case, "seed") for case in REFUSED if case[1] in ("complete", "cancel")],
)
def test_refused_transitions_are_409_and_change_nothing(
    http: httpx.Client, db: Database, state: str, action: str, code: str, via: str
) -> None:
    created = STATES[state](http)
    number = created["order_number"]
    assert order(http, number)["status"] == state
    with writes_nothing(db):
        if via == "seed":
            response = finish(http, number, status="completed" if action == "complete" else "cancelled")
        else:
            response = step(http, number, action)
        body = assert_error(response, 409, code)
    assert number in body["error"]
    assert order(http, number)["status"] == state


def test_the_seed_rule_message_names_what_is_allowed(http: httpx.Client) -> None:
    created = new_order(http)
    body = assert_error(finish(http, created["order_number"]), 409, "order_not_paid")
    assert "paid or processing" in body["error"]


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({}, "missing_parameter", "order_number"),
        ({"order_number": ""}, "missing_parameter", "order_number"),
        ({"order_number": 12}, "missing_parameter", "order_number"),
        ({"order_number": "WA260329-A1B2", "status": "paid"}, "invalid_parameter", "status"),
        ({"order_number": "WA260329-A1B2", "notify": "maybe"}, "invalid_parameter", "notify"),
    ],
)
def test_complete_refuses_bad_input(
    http: httpx.Client, db: Database, body: dict[str, Any], code: str, field: str
) -> None:
    with writes_nothing(db):
        assert_error(http.post(COMPLETE, json=body), 400, code, field)


def test_unknown_and_foreign_orders_are_404(
    http: httpx.Client, db: Database, live_server: LiveServer, other_merchant: NewMerchant, merchant: NewMerchant
) -> None:
    created = new_order(http)
    number = created["order_number"]
    with writes_nothing(db):
        assert_error(finish(http, "WA260329-ZZZZ"), 404, "order_not_found")
        assert_error(http.get(ORDERS, params={"order_number": "WA260329-ZZZZ"}), 404, "order_not_found")
        with httpx.Client(base_url=live_server.url, timeout=10) as stranger:
            for key in (other_merchant.test_api_key, merchant.live_api_key):
                assert_error(
                    stranger.post(COMPLETE, json={"order_number": number}, headers=auth(key)), 404, "order_not_found"
                )
                assert_error(stranger.get(f"/v1/store/orders/{number}", headers=auth(key)), 404, "order_not_found")
                listed = stranger.get(ORDERS, headers=auth(key)).json()
                assert listed == {"success": True, "data": [], "total": 0}


def test_step_with_an_unknown_field_is_refused(http: httpx.Client, db: Database) -> None:
    created = _paid(http)
    with writes_nothing(db):
        assert_error(step(http, created["order_number"], "process", status="completed"), 400, "invalid_parameter")
        assert_error(
            step(http, created["order_number"], "process", payment_method="qris"),
            400,
            "invalid_parameter",
            "payment_method",
        )


# --- listing (seed 004's wa-store-orders) -------------------------------------------------------


@pytest.fixture
def five_orders(http: httpx.Client) -> list[dict[str, Any]]:
    made = [
        new_order(http, customer_name="Rahim", customer_phone="081111111111"),
        new_order(http, customer_name="Sari Dewi", customer_phone="082222222222"),
        new_order(http, customer_name="Budi", customer_phone="083333333333"),
        new_order(http, customer_name="Rahmat", customer_phone="084444444444"),
        new_order(http, customer_name="Wati", customer_phone="085555555555", create_payment=False),
    ]
    pay(http, made[0]["invoice_id"])
    pay(http, made[1]["invoice_id"])
    return made


def listing(http: httpx.Client, **params: Any) -> dict[str, Any]:
    response = http.get(ORDERS, params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def numbers(result: dict[str, Any]) -> list[str]:
    return [o["order_number"] for o in result["data"]]


def test_list_has_the_seed_shape_newest_first(http: httpx.Client, five_orders: list[dict[str, Any]]) -> None:
    result = listing(http)
    assert set(result) == {"success", "data", "total"}
    assert result["total"] == 5
    assert numbers(result) == [o["order_number"] for o in reversed(five_orders)]
    first = result["data"][0]
    assert list(first)[:4] == ["order_number", "customer_name", "status", "total"]
    assert isinstance(first["total"], int)


def test_list_filters_by_status(http: httpx.Client, five_orders: list[dict[str, Any]]) -> None:
    paid = listing(http, status="paid", limit=10)
    assert sorted(numbers(paid)) == sorted(o["order_number"] for o in five_orders[:2])
    assert paid["total"] == 2
    assert listing(http, status="pending")["total"] == 1
    assert listing(http, status="completed") == {"success": True, "data": [], "total": 0}


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("rah", [0, 3]),  # customer name, case-insensitive
        ("Sari Dewi", [1]),
        ("6283333", [2]),  # the stored phone
        ("0844-4444-4444", [3]),  # the phone as the buyer types it
    ],
)
def test_list_searches(http: httpx.Client, five_orders: list[dict[str, Any]], term: str, expected: list[int]) -> None:
    assert sorted(numbers(listing(http, search=term))) == sorted(five_orders[i]["order_number"] for i in expected)


def test_list_searches_order_number_and_invoice(http: httpx.Client, five_orders: list[dict[str, Any]]) -> None:
    target = five_orders[2]
    assert numbers(listing(http, search=target["order_number"].lower())) == [target["order_number"]]
    assert numbers(listing(http, search=target["invoice_id"])) == [target["order_number"]]
    assert listing(http, search="%")["total"] == 0  # LIKE wildcards are text here


def test_list_pages(http: httpx.Client, five_orders: list[dict[str, Any]]) -> None:
    everything = numbers(listing(http))
    assert numbers(listing(http, limit=2)) == everything[:2]
    page = listing(http, limit=2, offset=2)
    assert numbers(page) == everything[2:4]
    assert page["total"] == 5
    assert numbers(listing(http, limit=2, offset=10)) == []
    assert len(listing(http, limit=1000)["data"]) == 5  # above 100 serves 100


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "shipped"}, "status"),
        ({"limit": "0"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"offset": "1.5"}, "offset"),
    ],
)
def test_list_refuses_bad_parameters(http: httpx.Client, params: dict[str, str], field: str) -> None:
    assert_error(http.get(ORDERS, params=params), 400, "invalid_parameter", field)


def test_default_limit_is_50(http: httpx.Client, settings: Settings) -> None:
    body = {"customer_name": "R", "customer_phone": "081234567890", "items": ITEMS, "create_payment": False}
    for _ in range(55):
        assert http.post(CREATE, json=body).status_code == 201
    result = listing(http)
    assert len(result["data"]) == 50
    assert result["total"] == 55


def test_list_shows_an_overdue_payment_as_expired(http: httpx.Client, db: Database) -> None:
    created = new_order(http)
    expire_payment(db, created["invoice_id"])
    [item] = listing(http)["data"]
    assert item["payment_status"] == "expired"
    assert payment_row(db, created["invoice_id"])["status"] == "expired"


def test_v1_get_order(http: httpx.Client) -> None:
    created = new_order(http)
    response = http.get(f"/v1/store/orders/{created['order_number']}")
    assert response.status_code == 200
    assert response.json() == {"success": True, "order": created}
