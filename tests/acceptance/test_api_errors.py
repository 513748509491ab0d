"""Every error path of the HTTP API.

Each test sends one bad request and checks three things: the HTTP status, the error body
``{"success": false, "error": <message>, "code": <machine code>}`` (with ``field`` when the error
is about one field), and that nothing was written to any table.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from kasir.app import create_app
from kasir.clock import utcnow
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.db.tables import payments
from kasir.merchants.keys import new_api_key
from kasir.merchants.service import NewMerchant, authenticate, configure_merchant, rotate_key
from kasir.payments.service import NewPayment, create_payment
from tests.conftest import VALID_QRIS, auth, free_port, row_counts

CREATE = "/api/create-payment.php"
CHECK = "/api/check-payment.php"
LIST = "/api/list-payments.php"
STATS = "/api/get-statistics.php"


def assert_error(response: httpx.Response, status: int, code: str, field: str | None = None) -> dict[str, Any]:
    """The response is Kasir's JSON error with this status and code (and field, if given)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert body["success"] is False, body
    assert isinstance(body["error"], str), body
    assert body["error"].strip(), body
    assert body["code"] == code, body
    if field is not None:
        assert body.get("field") == field, body
    assert "Traceback" not in response.text
    return dict(body)


@contextmanager
def writes_nothing(db: Database) -> Iterator[None]:
    """The block must leave every table with exactly the rows it had."""
    before = row_counts(db)
    yield
    assert row_counts(db) == before


def create_via_http(client: TestClient, key: str, **fields: Any) -> dict[str, Any]:
    response = client.post(CREATE, headers=auth(key), json={"amount": 50000, **fields})
    assert response.status_code == 200, response.text
    return dict(response.json()["payment"])


def fill_every_code(db: Database, settings: Settings, key: str, amount: int) -> None:
    """Create the 999 pending payments that take every final amount for ``amount`` (qris)."""

    def fill(conn: sa.Connection) -> None:
        caller = authenticate(conn, key)
        now = utcnow()
        for _ in range(999):
            create_payment(conn, caller, NewPayment(amount=amount), settings, now)

    db.write_sync(fill)


# --- 401: who is calling --------------------------------------------------------------------


def test_missing_api_key_is_401(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """A request without X-API-Key or ?apiKey= answers 401 missing_api_key."""
    with writes_nothing(db):
        response = client.post(CREATE, json={"amount": 50000})
    assert_error(response, 401, "missing_api_key")


def test_empty_api_key_is_401_missing(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """An empty X-API-Key header counts as no key."""
    with writes_nothing(db):
        response = client.get(LIST, headers={"X-API-Key": ""})
    assert_error(response, 401, "missing_api_key")


def test_unknown_api_key_is_401(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """A well-formed key that was never issued answers 401 invalid_api_key."""
    with writes_nothing(db):
        response = client.post(CREATE, headers=auth("ksr_test_" + "x" * 43), json={"amount": 50000})
    assert_error(response, 401, "invalid_api_key")


@pytest.mark.parametrize(
    "key",
    ["not-a-key", "sk_live_abcdef", "KSR_TEST_abc", "ksr_prod_" + "a" * 43],
)
def test_key_of_the_wrong_format_is_401(client: TestClient, db: Database, merchant: NewMerchant, key: str) -> None:
    """A key that does not look like ksr_test_…/ksr_live_… answers 401 invalid_api_key."""
    with writes_nothing(db):
        response = client.post(CREATE, headers=auth(key), json={"amount": 50000})
    assert_error(response, 401, "invalid_api_key")


def test_live_key_given_with_test_prefix_is_401(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """A live key's secret part with the test prefix is a key that does not exist."""
    forged = "ksr_test_" + merchant.live_api_key.removeprefix("ksr_live_")
    with writes_nothing(db):
        response = client.get(LIST, headers=auth(forged))
    assert_error(response, 401, "invalid_api_key")


def test_revoked_key_after_rotation_is_401(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """After rotate_key the old key answers 401 invalid_api_key and the new one works."""
    new_key = db.write_sync(lambda conn: rotate_key(conn, merchant.username, "test"))
    with writes_nothing(db):
        response = client.post(CREATE, headers=auth(merchant.test_api_key), json={"amount": 50000})
        via_query = client.get(LIST, params={"apiKey": merchant.test_api_key})
    assert_error(response, 401, "invalid_api_key")
    assert_error(via_query, 401, "invalid_api_key")
    assert client.get(LIST, headers=auth(new_key)).status_code == 200
    # Rotating the test key leaves the live key alone.
    assert client.get(LIST, headers=auth(merchant.live_api_key)).status_code == 200


def test_key_in_query_parameter_works(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """?apiKey=<key> authenticates as the X-API-Key header does."""
    response = client.post(CREATE, params={"apiKey": merchant.test_api_key}, json={"amount": 50000})
    assert response.status_code == 200, response.text
    assert response.json()["success"] is True
    listed = client.get(LIST, params={"apiKey": merchant.test_api_key}).json()
    assert listed["pagination"]["total"] == 1


def test_key_in_header_works(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """X-API-Key: <key> authenticates."""
    response = client.get(LIST, headers=auth(merchant.live_api_key))
    assert response.status_code == 200, response.text
    assert response.json()["success"] is True


def test_invalid_header_key_is_not_rescued_by_query_key(
    client: TestClient, db: Database, merchant: NewMerchant
) -> None:
    """A wrong header key with a right query key is still refused: the header wins."""
    with writes_nothing(db):
        response = client.post(
            CREATE, headers=auth("ksr_test_wrong"), params={"apiKey": merchant.test_api_key}, json={"amount": 50000}
        )
    assert_error(response, 401, "invalid_api_key")


# --- 400: create-payment's parameters ------------------------------------------------------


def test_missing_amount_is_400(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """A create without amount answers 400 missing_parameter naming amount."""
    with writes_nothing(db):
        response = client.post(CREATE, headers=auth(merchant.test_api_key), json={"description": "no amount"})
    assert_error(response, 400, "missing_parameter", "amount")


def test_empty_body_is_400_missing_amount(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """A create with no body at all is a create without amount."""
    with writes_nothing(db):
        response = client.post(CREATE, headers=auth(merchant.test_api_key))
    assert_error(response, 400, "missing_parameter", "amount")


@pytest.mark.parametrize(
    "raw_amount",
    [
        pytest.param("50000.5", id="float"),
        pytest.param("50000.0", id="float-whole"),
        pytest.param("5e4", id="exponent"),
        pytest.param('"50.000"', id="thousands-separator"),
        pytest.param('"50,000"', id="comma"),
        pytest.param('"Rp 50000"', id="currency"),
        pytest.param("true", id="true"),
        pytest.param("false", id="false"),
        pytest.param("null", id="null"),
        pytest.param("[50000]", id="list"),
        pytest.param('{"value": 50000}', id="object"),
        pytest.param("NaN", id="nan"),
        pytest.param("-Infinity", id="minus-infinity"),
    ],
)
def test_amount_that_is_not_whole_rupiah_is_400(
    client: TestClient, db: Database, merchant: NewMerchant, raw_amount: str
) -> None:
    """Money is integer rupiah: fractions, separators, booleans and the like answer 400 on amount."""
    body = '{"amount": ' + raw_amount + "}"
    with writes_nothing(db):
        response = client.post(
            CREATE,
            headers={**auth(merchant.test_api_key), "Content-Type": "application/json"},
            content=body,
        )
    assert_error(response, 400, "invalid_parameter", "amount")


@pytest.mark.parametrize("amount", [-50000, -1, 0, 1, 999, 500_001, 10_000_000])
def test_qris_amount_out_of_range_is_400(client: TestClient, db: Database, merchant: NewMerchant, amount: int) -> None:
    """qris takes 1,000 ≤ amount ≤ 500,000; anything else answers 400 amount_out_of_range."""
    with writes_nothing(db):
        response = client.post(CREATE, headers=auth(merchant.test_api_key), json={"amount": amount})
    assert_error(response, 400, "amount_out_of_range", "amount")


def test_qris_amount_bounds_are_inclusive(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """1,000 and 500,000 themselves are accepted for qris (the counterpart of the range errors)."""
    for amount in (1000, 500_000):
        response = client.post(CREATE, headers=auth(merchant.test_api_key), json={"amount": amount})
        assert response.status_code == 200, response.text


def test_own_channel_amount_above_cap_is_400(
    client: TestClient, db: Database, subscribed_merchant: NewMerchant
) -> None:
    """Own channels are capped at Rp 10,000,000 by default: above it is amount_out_of_range."""
    with writes_nothing(db):
        response = client.post(
            CREATE,
            headers=auth(subscribed_merchant.test_api_key),
            json={"amount": 10_000_001, "payment_method": "gopay_qris"},
        )
    assert_error(response, 400, "amount_out_of_range", "amount")


@pytest.mark.parametrize("method", ["bca_va", "QRIS", "dana", "qris_bri"])
def test_unknown_payment_method_is_400(client: TestClient, db: Database, merchant: NewMerchant, method: Any) -> None:
    """A payment_method that is not qris/qris_user/gopay_qris/ovo answers 400 invalid_payment_method."""
    with writes_nothing(db):
        response = client.post(
            CREATE, headers=auth(merchant.test_api_key), json={"amount": 50000, "payment_method": method}
        )
    assert_error(response, 400, "invalid_payment_method", "payment_method")


@pytest.mark.parametrize("method", ["qris_user", "gopay_qris", "ovo"])
def test_own_channel_without_subscription_is_403(
    client: TestClient, db: Database, merchant: NewMerchant, method: str
) -> None:
    """An own-account method without an active subscription answers 403 subscription_inactive."""
    # Channels configured, subscription off: the subscription is what is missing.
    db.write_sync(
        lambda conn: configure_merchant(
            conn, merchant.username, qris_bri=VALID_QRIS, qris_gopay=VALID_QRIS, ovo_number="081234567890"
        )
    )
    with writes_nothing(db):
        response = client.post(
            CREATE, headers=auth(merchant.test_api_key), json={"amount": 50000, "payment_method": method}
        )
    assert_error(response, 403, "subscription_inactive", "payment_method")


@pytest.mark.parametrize("method", ["qris_user", "gopay_qris", "ovo"])
def test_own_channel_not_configured_is_400(
    client: TestClient, db: Database, merchant: NewMerchant, method: str
) -> None:
    """Subscribed, but the method's account is not connected: 400 payment_method_unavailable."""
    db.write_sync(lambda conn: configure_merchant(conn, merchant.username, subscription_active=True))
    with writes_nothing(db):
        response = client.post(
            CREATE, headers=auth(merchant.test_api_key), json={"amount": 50000, "payment_method": method}
        )
    assert_error(response, 400, "payment_method_unavailable", "payment_method")


@pytest.mark.parametrize(
    ("field", "code"),
    [
        ("file_id", "file_not_found"),
        ("content_id", "content_not_found"),
        ("product_image_id", "product_image_not_found"),
    ],
)
def test_unknown_digital_goods_ids_are_400(
    client: TestClient, db: Database, merchant: NewMerchant, field: str, code: str
) -> None:
    """file_id/content_id/product_image_id that name nothing of the merchant answer 400 <thing>_not_found."""
    with writes_nothing(db):
        response = client.post(CREATE, headers=auth(merchant.test_api_key), json={"amount": 50000, field: 7})
    assert_error(response, 400, code, field)


@pytest.mark.parametrize("value", [0, -3, "abc", True, 1.5])
def test_malformed_digital_goods_id_is_400(client: TestClient, db: Database, merchant: NewMerchant, value: Any) -> None:
    """A file_id that is not a positive integer is invalid_parameter on file_id."""
    with writes_nothing(db):
        response = client.post(CREATE, headers=auth(merchant.test_api_key), json={"amount": 50000, "file_id": value})
    assert_error(response, 400, "invalid_parameter", "file_id")


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "two@@example.com", "sp ace@example.com"])
def test_bad_customer_email_is_400(client: TestClient, db: Database, merchant: NewMerchant, email: str) -> None:
    """A customer_email that is not an address answers 400 invalid_parameter on customer_email."""
    with writes_nothing(db):
        response = client.post(
            CREATE, headers=auth(merchant.test_api_key), json={"amount": 50000, "customer_email": email}
        )
    assert_error(response, 400, "invalid_parameter", "customer_email")


def test_bad_customer_phone_is_400(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """A customer_phone with letters answers 400 invalid_parameter on customer_phone."""
    with writes_nothing(db):
        response = client.post(
            CREATE, headers=auth(merchant.test_api_key), json={"amount": 50000, "customer_phone": "call me"}
        )
    assert_error(response, 400, "invalid_parameter", "customer_phone")


@pytest.mark.parametrize("field", ["callback_url", "redirect_url"])
@pytest.mark.parametrize(
    "url", ["ftp://example.com/hook", "javascript:alert(1)", "example.com/hook", "http://", "file:///etc/passwd"]
)
def test_bad_urls_are_400(client: TestClient, db: Database, merchant: NewMerchant, field: str, url: str) -> None:
    """callback_url and redirect_url must be http(s) URLs with a host."""
    with writes_nothing(db):
        response = client.post(CREATE, headers=auth(merchant.test_api_key), json={"amount": 50000, field: url})
    assert_error(response, 400, "invalid_parameter", field)


def test_non_string_description_is_400(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """A description that is an object, not text, answers 400 invalid_parameter on description."""
    with writes_nothing(db):
        response = client.post(
            CREATE, headers=auth(merchant.test_api_key), json={"amount": 50000, "description": {"a": 1}}
        )
    assert_error(response, 400, "invalid_parameter", "description")


def test_description_over_1000_chars_is_400(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """A description longer than 1000 characters answers 400 on description."""
    with writes_nothing(db):
        response = client.post(
            CREATE, headers=auth(merchant.test_api_key), json={"amount": 50000, "description": "x" * 1001}
        )
    assert_error(response, 400, "invalid_parameter", "description")


@pytest.mark.parametrize(
    "body",
    [b'{"amount": 50000', b"{amount: 50000}", b"{'amount': 50000}", b'{"amount": 50000}}', b"\xff\xfe\xfd"],
)
def test_invalid_json_is_400(client: TestClient, db: Database, merchant: NewMerchant, body: bytes) -> None:
    """A body declared JSON that does not parse answers 400 invalid_json."""
    with writes_nothing(db):
        response = client.post(
            CREATE,
            headers={**auth(merchant.test_api_key), "Content-Type": "application/json"},
            content=body,
        )
    assert_error(response, 400, "invalid_json")


@pytest.mark.parametrize("body", ["[]", '[{"amount": 50000}]', '"50000"', "50000", "null", "true"])
def test_json_that_is_not_an_object_is_400(client: TestClient, db: Database, merchant: NewMerchant, body: str) -> None:
    """A JSON array (or any non-object) body answers 400 invalid_json."""
    with writes_nothing(db):
        response = client.post(
            CREATE,
            headers={**auth(merchant.test_api_key), "Content-Type": "application/json"},
            content=body,
        )
    assert_error(response, 400, "invalid_json")


def test_file_upload_in_multipart_is_400(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """A multipart body with an uploaded file is refused with 400 naming the file's field."""
    with writes_nothing(db):
        response = client.post(
            CREATE,
            headers=auth(merchant.test_api_key),
            data={"amount": "50000"},
            files={"attachment": ("a.txt", b"hello", "text/plain")},
        )
    assert_error(response, 400, "invalid_parameter", "attachment")


def test_invalid_idempotency_key_is_400(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """An Idempotency-Key longer than 255 characters answers 400 invalid_idempotency_key."""
    with writes_nothing(db):
        response = client.post(
            CREATE,
            headers={**auth(merchant.test_api_key), "Idempotency-Key": "k" * 256},
            json={"amount": 50000},
        )
    assert_error(response, 400, "invalid_idempotency_key", "Idempotency-Key")


# --- 415 and 413: the body itself -----------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "application/octet-stream"])
def test_unsupported_content_type_is_415(
    client: TestClient, db: Database, merchant: NewMerchant, content_type: str
) -> None:
    """A body that is neither JSON nor a form answers 415 unsupported_media_type."""
    with writes_nothing(db):
        response = client.post(
            CREATE,
            headers={**auth(merchant.test_api_key), "Content-Type": content_type},
            content=b"amount=50000",
        )
    assert_error(response, 415, "unsupported_media_type")


def test_body_over_64_kib_with_content_length_is_413(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """A declared Content-Length over 64 KiB answers 413 payload_too_large."""
    body = json.dumps({"amount": 50000, "description": "x" * (64 * 1024)}).encode()
    with writes_nothing(db):
        response = client.post(
            CREATE, headers={**auth(merchant.test_api_key), "Content-Type": "application/json"}, content=body
        )
    assert int(response.request.headers["content-length"]) > 64 * 1024
    assert_error(response, 413, "payload_too_large")


def test_body_over_64_kib_chunked_is_413(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """A chunked body (no Content-Length) is cut off at 64 KiB with 413 payload_too_large."""

    def chunks() -> Iterator[bytes]:
        yield b'{"amount": 50000, "description": "'
        for _ in range(80):
            yield b"x" * 1024
        yield b'"}'

    with writes_nothing(db):
        response = client.post(
            CREATE, headers={**auth(merchant.test_api_key), "Content-Type": "application/json"}, content=chunks()
        )
    assert "content-length" not in response.request.headers
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert_error(response, 413, "payload_too_large")


def test_body_over_64_kib_is_413_even_without_a_key(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """The size cap applies before anything reads the body, authenticated or not."""
    with writes_nothing(db):
        response = client.post(
            CREATE, headers={"Content-Type": "application/json"}, content=b"{" + b" " * (65 * 1024) + b"}"
        )
    assert_error(response, 413, "payload_too_large")


def test_chunked_body_under_the_cap_is_accepted(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """A chunked body under 64 KiB goes through (the counterpart of the chunked 413)."""

    def chunks() -> Iterator[bytes]:
        yield b'{"amount": 50000, '
        yield b'"description": "chunked"}'

    response = client.post(
        CREATE, headers={**auth(merchant.test_api_key), "Content-Type": "application/json"}, content=chunks()
    )
    assert response.status_code == 200, response.text
    assert response.json()["payment"]["description"] == "chunked"


# --- 404 ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/nope.php", "/nope", "/v1/payments", "/api/create-payment.phpx"])
def test_unknown_path_is_404_json(client: TestClient, db: Database, merchant: NewMerchant, path: str) -> None:
    """An unknown path answers 404 not_found as JSON, never an HTML page."""
    with writes_nothing(db):
        response = client.get(path, headers=auth(merchant.test_api_key))
    assert_error(response, 404, "not_found")


def test_unknown_invoice_is_404(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """check-payment for an invoice that does not exist answers 404 payment_not_found."""
    with writes_nothing(db):
        response = client.get(CHECK, headers=auth(merchant.test_api_key), params={"invoice": "PAY-toko_satu-1-AAAAAA"})
    assert_error(response, 404, "payment_not_found")


def test_check_payment_without_invoice_is_400(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """check-payment without invoice answers 400 missing_parameter naming invoice."""
    with writes_nothing(db):
        response = client.get(CHECK, headers=auth(merchant.test_api_key))
    assert_error(response, 400, "missing_parameter", "invoice")


def test_another_merchants_invoice_is_404_on_check(
    client: TestClient, db: Database, merchant: NewMerchant, other_merchant: NewMerchant
) -> None:
    """A merchant asking for another merchant's invoice gets 404, never 403 nor the payment."""
    invoice = create_via_http(client, other_merchant.test_api_key)["invoice_id"]
    with writes_nothing(db):
        response = client.get(CHECK, headers=auth(merchant.test_api_key), params={"invoice": invoice})
        v1 = client.get(f"/v1/payments/{invoice}", headers=auth(merchant.test_api_key))
    assert_error(response, 404, "payment_not_found")
    assert_error(v1, 404, "payment_not_found")
    # Answered exactly as an invoice that never existed: nothing tells it apart.
    assert set(response.json()) == {"success", "error", "code"}


def test_another_merchants_invoice_is_404_on_cancel(
    client: TestClient, db: Database, merchant: NewMerchant, other_merchant: NewMerchant
) -> None:
    """Cancelling another merchant's invoice answers 404 and leaves it pending."""
    invoice = create_via_http(client, other_merchant.test_api_key)["invoice_id"]
    with writes_nothing(db):
        response = client.post(f"/v1/payments/{invoice}/cancel", headers=auth(merchant.test_api_key))
    assert_error(response, 404, "payment_not_found")
    still = client.get(CHECK, headers=auth(other_merchant.test_api_key), params={"invoice": invoice}).json()
    assert still["status"] == "pending"


def test_test_mode_invoice_with_live_key_is_404(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """A test-mode invoice asked with the same merchant's live key answers 404 (modes never mix)."""
    invoice = create_via_http(client, merchant.test_api_key)["invoice_id"]
    with writes_nothing(db):
        check = client.get(CHECK, headers=auth(merchant.live_api_key), params={"invoice": invoice})
        cancel = client.post(f"/v1/payments/{invoice}/cancel", headers=auth(merchant.live_api_key))
    assert_error(check, 404, "payment_not_found")
    assert_error(cancel, 404, "payment_not_found")


# --- 405 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/create-payment.php"),
        ("GET", "/api/create-payment"),
        ("PUT", "/api/create-payment.php"),
        ("DELETE", "/api/check-payment.php"),
        ("POST", "/api/check-payment.php"),
        ("POST", "/api/list-payments.php"),
        ("PATCH", "/api/get-statistics.php"),
        ("GET", "/v1/payments/PAY-toko_satu-1-AAAAAA/cancel"),
    ],
)
def test_wrong_method_is_405_json(
    client: TestClient, db: Database, merchant: NewMerchant, method: str, path: str
) -> None:
    """A known path with the wrong HTTP method answers 405 method_not_allowed as JSON."""
    with writes_nothing(db):
        response = client.request(method, path, headers=auth(merchant.test_api_key), json={"amount": 50000})
    assert_error(response, 405, "method_not_allowed")
    assert "allow" in response.headers


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        # One resource, three routes: Starlette named only the first one's methods.
        ("PUT", "/v1/endpoints/ep_x", {"GET", "PATCH", "DELETE"}),
        ("POST", "/v1/endpoints/ep_x", {"GET", "PATCH", "DELETE"}),
        ("DELETE", "/v1/webhook-settings", {"GET", "PUT"}),
        ("GET", "/api/create-payment.php", {"POST"}),
    ],
)
def test_allow_lists_every_method_of_the_path(
    client: TestClient, merchant: NewMerchant, method: str, path: str, allowed: set[str]
) -> None:
    """RFC 9110: a 405's Allow lists the methods the target resource supports, all of them."""
    response = client.request(method, path, headers=auth(merchant.test_api_key))
    assert_error(response, 405, "method_not_allowed")
    assert set(response.headers["allow"].split(", ")) == allowed


# --- 409 ------------------------------------------------------------------------------------


def test_cancelling_a_cancelled_payment_is_409(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """A second cancel answers 409 payment_not_pending and writes no second event."""
    invoice = create_via_http(client, merchant.test_api_key)["invoice_id"]
    first = client.post(f"/v1/payments/{invoice}/cancel", headers=auth(merchant.test_api_key))
    assert first.status_code == 200, first.text
    with writes_nothing(db):
        again = client.post(f"/v1/payments/{invoice}/cancel", headers=auth(merchant.test_api_key))
    assert_error(again, 409, "payment_not_pending")


def test_cancelling_a_paid_payment_is_409(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """A paid payment cannot be cancelled: 409 payment_not_pending, and it stays paid."""
    invoice = create_via_http(client, merchant.test_api_key)["invoice_id"]
    db.write_sync(
        lambda conn: conn.execute(
            sa.update(payments)
            .where(payments.c.invoice_id == invoice)
            .values(status="paid", paid_at=utcnow(), paid_amount=payments.c.final_amount, paid_reff_num="R1")
        )
    )
    with writes_nothing(db):
        response = client.post(f"/v1/payments/{invoice}/cancel", headers=auth(merchant.test_api_key))
    assert_error(response, 409, "payment_not_pending")
    status = client.get(CHECK, headers=auth(merchant.test_api_key), params={"invoice": invoice}).json()["status"]
    assert status == "paid"


def test_cancelling_an_overdue_payment_is_409_after_it_expires(
    client: TestClient, db: Database, merchant: NewMerchant
) -> None:
    """A pending payment past its expiry is expired, not cancelled: 409, and its expiry is recorded."""
    invoice = create_via_http(client, merchant.test_api_key)["invoice_id"]
    db.write_sync(
        lambda conn: conn.execute(
            sa.update(payments)
            .where(payments.c.invoice_id == invoice)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    )
    response = client.post(f"/v1/payments/{invoice}/cancel", headers=auth(merchant.test_api_key))
    assert_error(response, 409, "payment_not_pending")
    check = client.get(CHECK, headers=auth(merchant.test_api_key), params={"invoice": invoice}).json()
    assert check["status"] == "expired"


def test_idempotency_key_reused_with_other_body_is_409(client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """The same Idempotency-Key with a different body answers 409 idempotency_key_reused."""
    headers = {**auth(merchant.test_api_key), "Idempotency-Key": "order-42"}
    first = client.post(CREATE, headers=headers, json={"amount": 50000})
    assert first.status_code == 200, first.text
    with writes_nothing(db):
        response = client.post(CREATE, headers=headers, json={"amount": 60000})
    assert_error(response, 409, "idempotency_key_reused")


def test_unique_codes_exhausted_is_409(
    client: TestClient, db: Database, settings: Settings, merchant: NewMerchant
) -> None:
    """When 999 pending payments hold every final amount, create answers 409 unique_code_exhausted."""
    fill_every_code(db, settings, merchant.test_api_key, 50000)
    with writes_nothing(db):
        response = client.post(CREATE, headers=auth(merchant.test_api_key), json={"amount": 50000})
    assert_error(response, 409, "unique_code_exhausted")
    # Another amount, or the other mode, still has codes.
    assert client.post(CREATE, headers=auth(merchant.test_api_key), json={"amount": 51000}).status_code == 200
    assert client.post(CREATE, headers=auth(merchant.live_api_key), json={"amount": 50000}).status_code == 200


# --- 429 ------------------------------------------------------------------------------------


@pytest.fixture
def limited_client(settings: Settings, db: Database) -> Iterator[TestClient]:
    """An app that allows 3 requests per minute per key."""
    app = create_app(settings.model_copy(update={"rate_limit": 3}), database=db, background=False)
    with TestClient(app) as test_client:
        yield test_client


def test_rate_limit_is_429_with_retry_after(limited_client: TestClient, db: Database, merchant: NewMerchant) -> None:
    """Past the per-key limit, requests answer 429 rate_limited with a Retry-After in seconds."""
    headers = auth(merchant.test_api_key)
    for _ in range(3):
        assert limited_client.post(CREATE, headers=headers, json={"amount": 50000}).status_code == 200
    with writes_nothing(db):
        response = limited_client.post(CREATE, headers=headers, json={"amount": 50000})
    assert_error(response, 429, "rate_limited")
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    # The limit is per key: the live key of the same merchant still has its allowance.
    assert limited_client.get(LIST, headers=auth(merchant.live_api_key)).status_code == 200


# --- 400: list-payments and get-statistics --------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "unknown"}, "status"),
        ({"status": "PAID"}, "status"),
        ({"payment_method": "bca"}, "payment_method"),
        ({"paid_via": "cash"}, "paid_via"),
        ({"page": "0"}, "page"),
        ({"page": "-1"}, "page"),
        ({"page": "1.5"}, "page"),
        ({"limit": "abc"}, "limit"),
        ({"limit": "0"}, "limit"),
        ({"start_date": "2026-13-01"}, "start_date"),
        ({"start_date": "2026-02-30"}, "start_date"),
        ({"start_date": "16-04-2026"}, "start_date"),
        ({"end_date": "2026-04-16T00:00:00"}, "end_date"),
        ({"start_date": "2026-04-17", "end_date": "2026-04-16"}, "start_date"),
    ],
)
def test_list_payments_bad_params_are_400(
    client: TestClient, db: Database, merchant: NewMerchant, params: dict[str, str], field: str
) -> None:
    """list-payments refuses a wrong filter or page parameter with 400 naming it."""
    with writes_nothing(db):
        response = client.get(LIST, headers=auth(merchant.test_api_key), params=params)
    assert_error(response, 400, "invalid_parameter", field)


@pytest.fixture
def lenient_client(settings: Settings, db: Database) -> Iterator[TestClient]:
    """A client that shows a 500 as the response the user would get, instead of raising."""
    app = create_app(settings, database=db, background=False)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("params", "field"),
    [
        # str.isdigit() is true for superscripts, but int() refuses them.
        pytest.param({"limit": "²"}, "limit", id="superscript-limit"),
        pytest.param({"page": "³"}, "page", id="superscript-page"),
        # An offset beyond 64 bits overflows the database's integer.
        pytest.param({"page": str(10**20)}, "page", id="page-beyond-int64"),
    ],
)
def test_list_payments_odd_numbers_are_400_not_500(
    lenient_client: TestClient, db: Database, merchant: NewMerchant, params: dict[str, str], field: str
) -> None:
    """page/limit values that only look like numbers answer 400 on the field, never a 500."""
    with writes_nothing(db):
        response = lenient_client.get(LIST, headers=auth(merchant.test_api_key), params=params)
    assert_error(response, 400, "invalid_parameter", field)


@pytest.mark.parametrize("period", ["decade", "ALL", "yesterday"])
def test_statistics_bad_period_is_400(client: TestClient, db: Database, merchant: NewMerchant, period: str) -> None:
    """get-statistics with a period other than all/today/week/month/year answers 400 on period."""
    with writes_nothing(db):
        response = client.get(STATS, headers=auth(merchant.test_api_key), params={"period": period})
    assert_error(response, 400, "invalid_parameter", "period")


# --- 500 ------------------------------------------------------------------------------------


def test_unexpected_exception_is_500_json_without_traceback(settings: Settings, db: Database) -> None:
    """A route that raises answers 500 internal_error as JSON, with no traceback or exception text."""
    app = create_app(settings, database=db, background=False)

    async def boom() -> None:
        raise RuntimeError("secret internals: ksr_live_do_not_leak")

    app.add_api_route("/boom", boom, methods=["GET"])
    with TestClient(app, raise_server_exceptions=False) as test_client, writes_nothing(db):
        response = test_client.get("/boom")
    assert_error(response, 500, "internal_error")
    assert "ksr_live_do_not_leak" not in response.text
    assert "RuntimeError" not in response.text


def test_a_database_out_of_reach_is_503_database_unavailable(settings: Settings) -> None:
    """PostgreSQL down (nothing listens at its port): an outage the client can wait out, said
    as one: 503 database_unavailable with Retry-After, not a 500 that blames the request."""
    gone = settings.model_copy(update={"database_url": f"postgresql://postgres@127.0.0.1:{free_port()}/kasir"})
    app = create_app(gone, background=False)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        check = test_client.get(CHECK, headers=auth(new_api_key("test")), params={"invoice": "PAY-x-1-ABC"})
        create = test_client.post(CREATE, headers=auth(new_api_key("live")), json={"amount": 15000})
    for response in (check, create):
        assert_error(response, 503, "database_unavailable")
        assert response.headers["Retry-After"] == "5"
        assert "retry later" in response.json()["error"]
