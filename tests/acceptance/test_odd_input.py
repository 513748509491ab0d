"""Odd input (issue 15): JSON nested a thousand levels deep, and control characters in text.

Both used to answer 500 or worse: deep JSON overflowed the parser's recursion on every JSON
route, and a NUL in any free text was stored by SQLite and made PostgreSQL's driver raise. Each
is now a 400 with its code (``json_too_deep``, ``control_character`` naming the field), and
nothing is written, on both databases.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from kasir.api.body import MAX_JSON_DEPTH
from kasir.db.engine import Database
from kasir.merchants.service import NewMerchant
from tests.conftest import assert_error, auth, writes_nothing

CREATE = "/api/create-payment.php"
ORDERS = "/v1/store/orders"
MUTATIONS = "/v1/mutations"
ITEM = {"name": "Kopi Susu", "quantity": 2, "price": 18000}
ORDER = {"customer_name": "Rahim", "customer_phone": "0812-3456-7890", "items": [ITEM]}
CREDIT = {"channel": "qris", "amount": 51234, "reference": "BCA-0001"}


@pytest.fixture
def lenient(client: TestClient) -> TestClient:
    """The same app, but a crash answers 500 (as a client would see it) instead of raising."""
    return TestClient(client.app, raise_server_exceptions=False)


def post_json(client: TestClient, path: str, raw: str, key: str | None, method: str = "POST") -> httpx.Response:
    headers = {"Content-Type": "application/json", **(auth(key) if key else {})}
    response: httpx.Response = client.request(method, path, content=raw.encode(), headers=headers)
    return response


def deep_list(depth: int) -> str:
    return "[" * depth + "]" * depth


def deep_object(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


# --- deep JSON ----------------------------------------------------------------------------------

DEEP_BODIES = {
    "list-1000": deep_list(1000),  # a 2 KB body that overflowed the parser's recursion
    "object-1000": deep_object(1000),
    "list-200": deep_list(200),  # parses without overflowing, and is no body either
    "just-too-deep": deep_list(MAX_JSON_DEPTH + 1),
}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", CREATE),
        ("POST", MUTATIONS),
        ("POST", ORDERS),
        ("POST", "/v1/endpoints"),
        ("PUT", "/v1/webhook-settings"),
        ("POST", "/v1/contents"),
        ("POST", "/api/qris-convert.php"),
        ("POST", "/api/wa-store-complete.php"),
    ],
)
@pytest.mark.parametrize("shape", sorted(DEEP_BODIES))
def test_deep_json_is_400_json_too_deep_on_every_json_route(
    lenient: TestClient, db: Database, merchant: NewMerchant, method: str, path: str, shape: str
) -> None:
    with writes_nothing(db):
        response = post_json(lenient, path, DEEP_BODIES[shape], merchant.test_api_key, method)
    assert_error(response, 400, "json_too_deep")


def test_deep_json_inside_a_field_is_refused_too(lenient: TestClient, db: Database, merchant: NewMerchant) -> None:
    body = '{"amount": 50000, "description": ' + deep_list(1000) + "}"
    with writes_nothing(db):
        assert_error(post_json(lenient, CREATE, body, merchant.test_api_key), 400, "json_too_deep")


def test_deep_json_in_the_items_field_of_a_form_order_is_refused(
    lenient: TestClient, db: Database, merchant: NewMerchant
) -> None:
    """A form carries an order's items as one JSON field: parsed with the same limits."""
    form = {"customer_name": "Rahim", "customer_phone": "081234567890", "items": deep_list(1000)}
    with writes_nothing(db):
        response = lenient.post(ORDERS, headers=auth(merchant.test_api_key), data=form)
    assert_error(response, 400, "json_too_deep", "items")


def test_deep_json_to_the_signed_forwarder_is_refused(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    forwarder = client.post("/v1/forwarder", headers=auth(merchant.test_api_key)).json()["forwarder"]
    body = deep_list(1000).encode()
    signature = "sha256=" + hmac.new(forwarder["secret"].encode(), body, hashlib.sha256).hexdigest()
    with writes_nothing(db):
        response = client.post(
            f"/v1/forwarders/{forwarder['id']}/mutations",
            content=body,
            headers={"Content-Type": "application/json", "X-Kasir-Signature": signature},
        )
    assert_error(response, 400, "json_too_deep")


def test_a_body_as_deep_as_allowed_is_read(client: TestClient, merchant: NewMerchant) -> None:
    """The limit is far above any real body: 32 levels reach the route, which judges them."""
    body = '{"amount": 50000, "description": ' + deep_list(MAX_JSON_DEPTH - 1) + "}"
    response = post_json(client, CREATE, body, merchant.test_api_key)
    assert_error(response, 400, "invalid_parameter", "description")  # a list is no description


def test_a_batch_of_mutations_is_not_too_deep(client: TestClient, merchant: NewMerchant) -> None:
    response = client.post(MUTATIONS, headers=auth(merchant.test_api_key), json={"mutations": [CREDIT]})
    assert response.status_code == 200, response.text


# --- control characters in request bodies ---------------------------------------------------------

CREATE_TEXT = ["description", "customer_name", "customer_email", "customer_phone", "callback_url", "redirect_url"]


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\x07", "\x1f"])
@pytest.mark.parametrize("field", CREATE_TEXT)
def test_create_payment_refuses_a_control_character_in_any_text(
    lenient: TestClient, db: Database, merchant: NewMerchant, field: str, char: str
) -> None:
    body = {"amount": 50000, field: f"https://shop.example/a{char}b"}
    with writes_nothing(db):
        response = lenient.post(CREATE, headers=auth(merchant.test_api_key), json=body)
    assert_error(response, 400, "control_character", field)


@pytest.mark.parametrize("field", CREATE_TEXT)
def test_create_payment_refuses_a_nul_in_a_form_field(
    lenient: TestClient, db: Database, merchant: NewMerchant, field: str
) -> None:
    with writes_nothing(db):
        response = lenient.post(CREATE, headers=auth(merchant.test_api_key), data={"amount": "50000", field: "a\x00b"})
    assert_error(response, 400, "control_character", field)


def test_create_payment_refuses_a_nul_in_a_multipart_field(
    lenient: TestClient, db: Database, merchant: NewMerchant
) -> None:
    fields = {"amount": (None, "50000"), "description": (None, "Kopi\x00")}
    with writes_nothing(db):
        response = lenient.post(CREATE, headers=auth(merchant.test_api_key), files=fields)
    assert_error(response, 400, "control_character", "description")


def test_a_nul_in_a_field_the_route_ignores_or_in_a_key_is_refused(
    lenient: TestClient, db: Database, merchant: NewMerchant
) -> None:
    key = merchant.test_api_key
    with writes_nothing(db):
        assert_error(
            lenient.post(CREATE, headers=auth(key), json={"amount": 50000, "note": "\x00"}),
            400,
            "control_character",
            "note",
        )
        assert_error(
            lenient.post(CREATE, headers=auth(key), json={"amount": 50000, "a\x00": "x"}),
            400,
            "control_character",
            "body",
        )


def test_tab_line_feed_and_carriage_return_are_text(client: TestClient, merchant: NewMerchant) -> None:
    body = {"amount": 50000, "description": "Kopi Susu\tx2\r\nGula Aren"}
    response = client.post(CREATE, headers=auth(merchant.test_api_key), json=body)
    assert response.status_code == 200, response.text
    assert response.json()["payment"]["description"] == "Kopi Susu\tx2\r\nGula Aren"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**ORDER, "customer_name": "Rahim\x00"}, "customer_name"),
        ({**ORDER, "customer_phone": "0812\x003456\x007890"}, "customer_phone"),
        ({**ORDER, "notes": "pedas\x00"}, "notes"),
        ({**ORDER, "items": [ITEM, {**ITEM, "name": "Teh\x00"}]}, "items.1.name"),
        ({**ORDER, "payment_method": "qris\x00"}, "payment_method"),
    ],
)
def test_store_orders_refuse_a_nul_in_any_text(
    lenient: TestClient, db: Database, merchant: NewMerchant, body: dict[str, Any], field: str
) -> None:
    with writes_nothing(db):
        response = lenient.post(ORDERS, headers=auth(merchant.test_api_key), json=body)
    assert_error(response, 400, "control_character", field)


def test_a_form_order_with_a_nul_in_its_items_json_is_refused(
    lenient: TestClient, db: Database, merchant: NewMerchant
) -> None:
    """The NUL is a \\u0000 escape inside the items field's JSON: no raw control character in
    the form, and still refused, naming the item."""
    items = json.dumps([{**ITEM, "name": "Kopi\x00"}])
    form = {"customer_name": "Rahim", "customer_phone": "081234567890", "items": items}
    with writes_nothing(db):
        response = lenient.post(ORDERS, headers=auth(merchant.test_api_key), data=form)
    assert_error(response, 400, "control_character", "items.0.name")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**CREDIT, "reference": "BCA\x00"}, "reference"),
        ({**CREDIT, "description": "TRF\x00"}, "description"),
        ({**CREDIT, "channel": "qris\x00"}, "channel"),
        ([CREDIT, {**CREDIT, "reference": "BCA-0002", "description": "\x00"}], "1.description"),
        ({"mutations": [{**CREDIT, "occurred_at": "2026-01-01\x00"}]}, "mutations.0.occurred_at"),
    ],
)
def test_mutations_refuse_a_nul_in_any_text(
    lenient: TestClient, db: Database, merchant: NewMerchant, body: Any, field: str
) -> None:
    with writes_nothing(db):
        response = lenient.post(MUTATIONS, headers=auth(merchant.test_api_key), json=body)
    assert_error(response, 400, "control_character", field)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "Kode\x00", "content": "SECRET-1"}, "title"),
        ({"title": "Kode", "content": "SECRET\x00-1"}, "content"),
        ({"title": "Kode", "type": "link\x00", "content": "https://x.example"}, "type"),
    ],
)
def test_goods_contents_refuse_a_nul(
    lenient: TestClient, db: Database, merchant: NewMerchant, body: dict[str, Any], field: str
) -> None:
    with writes_nothing(db):
        response = lenient.post("/v1/contents", headers=auth(merchant.test_api_key), json=body)
    assert_error(response, 400, "control_character", field)


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/v1/endpoints", {"url": "https://hooks.example/k", "description": "\x00"}, "description"),
        ("POST", "/v1/endpoints", {"url": "https://hooks.example/k\x00"}, "url"),
        (
            "POST",
            "/v1/endpoints",
            {"url": "https://hooks.example/k", "headers": {"X-Token": "a\x00"}},
            "headers.X-Token",
        ),
        ("PUT", "/v1/webhook-settings", {"dialect": "standard\x00"}, "dialect"),
        ("POST", "/api/wa-store-complete.php", {"order_number": "WA260329-A1B2\x00"}, "order_number"),
        ("POST", "/callback_urls", {"url": "https://hooks.example/x\x00"}, "url"),
    ],
)
def test_other_bodies_refuse_a_nul(
    lenient: TestClient, db: Database, merchant: NewMerchant, method: str, path: str, body: Any, field: str
) -> None:
    with writes_nothing(db):
        response = lenient.request(method, path, headers=auth(merchant.test_api_key), json=body)
    assert_error(response, 400, "control_character", field)


# --- control characters in the URL ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/list-payments.php?search=%00", "search"),
        ("/api/list-payments.php?search=Kopi%1Bx", "search"),
        ("/api/wa-store-orders.php?search=%00", "search"),
        ("/api/wa-store-orders.php?order_number=WA%00", "order_number"),
        ("/api/check-payment.php?invoice=PAY-%00", "invoice"),
        ("/v1/events?since=%00", "since"),
        ("/v1/deliveries?endpoint_id=ep_%00", "endpoint_id"),
        ("/v1/payments/PAY-a%00b", "path"),
        ("/v1/store/orders/WA%00", "path"),
        ("/v1/endpoints/ep_%00", "path"),
        ("/v1/mutations/mut_%00", "path"),
    ],
)
def test_a_control_character_in_the_url_is_refused(
    lenient: TestClient, db: Database, merchant: NewMerchant, path: str, field: str
) -> None:
    """A query parameter (list-payments' search reached PostgreSQL) or a path parameter."""
    with writes_nothing(db):
        response = lenient.get(path, headers=auth(merchant.test_api_key))
    assert_error(response, 400, "control_character", field)


@pytest.mark.parametrize(
    "path",
    ["/v1/payments/PAY-a%00b/cancel", "/v1/sandbox/payments/PAY-a%00b/pay", "/v1/store/orders/WA%00/complete"],
)
def test_a_control_character_in_the_path_of_a_post_is_refused(
    lenient: TestClient, db: Database, merchant: NewMerchant, path: str
) -> None:
    with writes_nothing(db):
        response = lenient.post(path, headers=auth(merchant.test_api_key))
    assert_error(response, 400, "control_character", "path")


@pytest.mark.parametrize(
    "path", ["/pay?invoice=%00", "/pay/status?invoice=%00", "/download/%00", "/media/img_%00.webp"]
)
def test_the_public_pages_refuse_it_too(lenient: TestClient, db: Database, path: str) -> None:
    with writes_nothing(db):
        response = lenient.get(path)
    assert_error(response, 400, "control_character")


def test_a_percent_sign_and_escaped_text_are_not_control_characters(client: TestClient, merchant: NewMerchant) -> None:
    response = client.get("/api/list-payments.php?search=%2500%20caf%C3%A9%09", headers=auth(merchant.test_api_key))
    assert response.status_code == 200, response.text
