"""get-payment-methods says how each method's payments get confirmed (issue 16, item 9):
``confirmation`` ``automatic`` with the ``sources`` that report its credits by themselves, or
``manual``, for the caller's mode. Seed 004's fields stay as they were."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from kasir.app import create_app
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.merchants.service import NewMerchant
from tests.conftest import auth
from tests.integration.payments.fake_pollers import HERE

METHODS_PATH = "/api/get-payment-methods.php"
ALL = {"qris", "qris_user", "gopay_qris", "ovo"}
SEED_FIELDS = {"id", "name", "available", "min_amount", "max_amount", "requires_subscription"}


def methods(client: TestClient, key: str) -> dict[str, dict[str, Any]]:
    response = client.get(METHODS_PATH, headers=auth(key))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    found = {method["id"]: method for method in body["methods"]}
    assert set(found) == ALL
    return found


def confirmations(client: TestClient, key: str) -> dict[str, tuple[str, list[str]]]:
    return {m: (entry["confirmation"], entry["sources"]) for m, entry in methods(client, key).items()}


@pytest.fixture
def configured_client(settings: Settings, db: Database) -> Iterator[Any]:
    """A client of an app started with other settings (autopay, pollers)."""
    opened: list[TestClient] = []

    def open_(**changes: Any) -> TestClient:
        client = TestClient(create_app(settings.model_copy(update=changes), database=db, background=False))
        opened.append(client.__enter__())
        return client

    yield open_
    for client in opened:
        client.__exit__(None, None, None)


def test_without_a_source_every_method_is_manual_and_seed_fields_stay(
    client: TestClient, subscribed_merchant: NewMerchant
) -> None:
    for key in (subscribed_merchant.test_api_key, subscribed_merchant.live_api_key):
        found = methods(client, key)
        for entry in found.values():
            assert set(entry) >= SEED_FIELDS | {"confirmation", "sources"}
            assert (entry["confirmation"], entry["sources"]) == ("manual", [])
        assert found["qris"]["available"] is True
        assert found["ovo"]["name"] == "OVO"


def test_a_forwarder_makes_every_method_automatic_in_its_mode_only(
    client: TestClient, merchant: NewMerchant, other_merchant: NewMerchant
) -> None:
    response = client.post("/v1/forwarder", headers=auth(merchant.test_api_key))
    assert response.status_code == 200, response.text
    assert confirmations(client, merchant.test_api_key) == {m: ("automatic", ["forwarder"]) for m in ALL}
    assert confirmations(client, merchant.live_api_key) == {m: ("manual", []) for m in ALL}
    assert confirmations(client, other_merchant.test_api_key) == {m: ("manual", []) for m in ALL}
    # Unavailable methods say it too: whoever connects OVO later knows what to expect.
    assert methods(client, merchant.test_api_key)["ovo"]["available"] is False


def test_sandbox_autopay_makes_test_mode_automatic(configured_client: Any, merchant: NewMerchant) -> None:
    client = configured_client(sandbox_autopay=10.0)
    assert confirmations(client, merchant.test_api_key) == {m: ("automatic", ["source:sandbox-autopay"]) for m in ALL}
    assert confirmations(client, merchant.live_api_key) == {m: ("manual", []) for m in ALL}


def test_a_poller_declaring_ovo_makes_ovo_alone_automatic(configured_client: Any, merchant: NewMerchant) -> None:
    client = configured_client(mutation_sources=[f"{HERE}:ovo_only"])
    found = confirmations(client, merchant.live_api_key)
    assert found.pop("ovo") == ("automatic", ["source:ovo-alice"])
    assert found == {m: ("manual", []) for m in ALL - {"ovo"}}


# --- the pay page words its promise; the status poll pays nothing for it ----------------------


def statements_during(db: Database, call: Any) -> list[str]:
    """The SQL the Core path runs while ``call()`` runs (the status poll's fast path is not
    Core: it reads with the driver's cursor, so this sees only what the page adds)."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        call()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    return seen


def test_the_page_reads_the_sources_and_the_status_poll_does_not(
    client: TestClient, db: Database, merchant: NewMerchant
) -> None:
    created = client.post("/api/create-payment.php", headers=auth(merchant.test_api_key), json={"amount": 50000})
    invoice = created.json()["payment"]["invoice_id"]

    def page() -> None:
        assert client.get("/pay", params={"invoice": invoice}).status_code == 200

    def poll() -> None:
        assert client.get("/pay/status", params={"invoice": invoice}).status_code == 200

    assert any("mutation_forwarders" in sql for sql in statements_during(db, page))
    assert statements_during(db, poll) == []
    assert "Penjual akan mengonfirmasi" in client.get("/pay", params={"invoice": invoice}).text
