"""Headers every answer carries (issue 15): ``X-Content-Type-Options: nosniff`` everywhere,
``Cache-Control: no-store`` on every API answer (success or error) unless the route chose its own
caching, and HSTS when the public URL is https."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from kasir.app import create_app
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.merchants.service import NewMerchant
from tests.conftest import VALID_QRIS, auth
from tests.payment_helpers import create


def assert_private(response: httpx.Response) -> None:
    assert response.headers.get("cache-control") == "no-store", (response.request.url, response.headers)
    assert response.headers.get("x-content-type-options") == "nosniff", (response.request.url, response.headers)


def test_answers_that_carry_a_secret_once_are_never_cached(client: TestClient, merchant: NewMerchant) -> None:
    key = auth(merchant.test_api_key)
    rotated = client.post("/v1/webhook-settings/rotate-secret", headers=key)
    forwarder = client.post("/v1/forwarder", headers=key)
    endpoint = client.post("/v1/endpoints", headers=key, json={"url": "http://127.0.0.1:9/hook"})
    for response in (rotated, forwarder, endpoint):
        assert response.status_code in (200, 201), response.text
        assert_private(response)
    assert "secret" in endpoint.text  # the answer is one that holds a secret


def test_every_api_answer_is_no_store_and_nosniff(
    client: TestClient, db: Database, settings: Settings, merchant: NewMerchant
) -> None:
    key = auth(merchant.test_api_key)
    invoice = create(db, settings, merchant.test_api_key)["invoice_id"]
    answers = [
        client.post("/api/create-payment.php", headers=key, json={"amount": 50000}),
        client.get("/api/check-payment.php", headers=key, params={"invoice": invoice}),
        client.get("/api/list-payments.php", headers=key),
        client.get("/v1/webhook-settings", headers=key),
        client.get("/pay/status", params={"invoice": invoice}),
        client.get("/health"),
        client.get("/metrics"),
        client.get("/openapi.json"),
        # Errors too: 400, 401, 404 (route and resource), 405, 413, 415.
        client.post("/api/create-payment.php", headers=key, json={"amount": "lots"}),
        client.get("/api/list-payments.php"),
        client.get("/no/such/route"),
        client.get("/api/check-payment.php", headers=key, params={"invoice": "PAY-x-1-AAAAAA"}),
        client.delete("/api/create-payment.php", headers=key),
        client.post("/api/create-payment.php", headers=key, content=b"x" * 70_000),
        client.post("/api/create-payment.php", headers={**key, "Content-Type": "text/plain"}, content=b"amount"),
    ]
    statuses = [answer.status_code for answer in answers]
    assert statuses == [200, 200, 200, 200, 200, 200, 200, 200, 400, 401, 404, 404, 405, 413, 415]
    for answer in answers:
        assert_private(answer)
    assert "strict-transport-security" not in answers[0].headers  # http:// public URL


def test_a_throttled_answer_carries_the_headers_too(settings: Settings, db: Database) -> None:
    with TestClient(
        create_app(settings.model_copy(update={"public_rate_limit": 1}), database=db, background=False)
    ) as c:
        c.get("/pay/status", params={"invoice": "x"})
        refused = c.get("/pay/status", params={"invoice": "x"})
    assert refused.status_code == 429
    assert_private(refused)


def test_routes_with_their_own_caching_keep_it_and_are_nosniff(client: TestClient) -> None:
    """QR images are a pure function of their query, static assets revalidate by ETag: neither
    is forced to no-store, but both are nosniff."""
    qr = client.get("/qr.png", params={"data": VALID_QRIS})
    css = client.get("/static/pay.css")
    assert qr.status_code == 200
    assert css.status_code == 200, css.text
    assert qr.headers["cache-control"].startswith("public")
    assert "no-store" not in css.headers.get("cache-control", "")
    assert "etag" in css.headers
    for response in (qr, css):
        assert response.headers["x-content-type-options"] == "nosniff"


def test_the_pay_page_keeps_its_own_headers(
    client: TestClient, db: Database, settings: Settings, merchant: NewMerchant
) -> None:
    invoice = create(db, settings, merchant.test_api_key)["invoice_id"]
    page = client.get("/pay", params={"invoice": invoice})
    assert page.status_code == 200
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert_private(page)
    # Set once, not twice (the page sets it itself, the middleware must not add a second).
    assert page.headers.get_list("x-content-type-options") == ["nosniff"]


@pytest.fixture
def https_client(settings: Settings, db: Database) -> Iterator[TestClient]:
    secure = settings.model_copy(update={"public_url": "https://pay.example.id"})
    with TestClient(create_app(secure, database=db, background=False)) as client:
        yield client


def test_hsts_when_the_public_url_is_https(https_client: TestClient, merchant: NewMerchant) -> None:
    for response in (
        https_client.get("/health"),
        https_client.get("/api/list-payments.php", headers=auth(merchant.test_api_key)),
        https_client.get("/api/list-payments.php"),
        https_client.get("/pay", params={"invoice": "nope"}),
    ):
        assert response.headers["strict-transport-security"] == "max-age=31536000", response.headers
