"""Fixtures and helpers for buyer-message tests: the delivery worker of tests/integration/delivery,
WA Store orders made over the API, and the merchant's own view of the callback log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from kasir.config import Settings
from kasir.merchants.service import NewMerchant
from tests.conftest import auth

# The delivery tests' worker fixture, shared: buyer messages go through the same worker.
from tests.workers import RunningWorker

StartWorker = Callable[[Settings], RunningWorker]

# The order every test makes unless it says otherwise: 2 x 37.500 = Rp 75.000.
ITEMS = [{"name": "Kopi Susu Gula Aren 1 L", "quantity": 2, "price": 37500}]
BUYER = "6281234567890"  # "0812-3456-7890" as WhatsApp addresses it


def create_order(client: TestClient, merchant: NewMerchant, **fields: Any) -> dict[str, Any]:
    """POST /v1/store/orders with the merchant's test key; the order as the API answers it."""
    body = {"customer_name": "Rahim", "customer_phone": "0812-3456-7890", "items": ITEMS, **fields}
    response = client.post("/v1/store/orders", headers=auth(merchant.test_api_key), json=body)
    assert response.status_code == 201, response.text
    order: dict[str, Any] = response.json()["order"]
    return order


def messages(client: TestClient, merchant: NewMerchant) -> list[dict[str, Any]]:
    """The merchant's buyer-message deliveries (GET /v1/deliveries), oldest first."""
    response = client.get("/v1/deliveries", headers=auth(merchant.test_api_key), params={"limit": 100})
    assert response.status_code == 200, response.text
    return [d for d in reversed(response.json()["data"]) if d["dialect"] == "notifier"]


def attempt_log(client: TestClient, merchant: NewMerchant, delivery_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/v1/deliveries/{delivery_id}/attempts", headers=auth(merchant.test_api_key))
    assert response.status_code == 200, response.text
    attempts: list[dict[str, Any]] = response.json()["data"]
    return attempts


def finished(client: TestClient, merchant: NewMerchant, count: int) -> Callable[[], bool]:
    """``count`` buyer messages exist and none is pending any more."""

    def check() -> bool:
        found = messages(client, merchant)
        return len(found) == count and all(d["status"] != "pending" for d in found)

    return check
