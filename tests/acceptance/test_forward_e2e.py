"""The phone forwarder end to end against a real ``kasir serve`` (started as the fault suite
starts it): a merchant creates a source over the API, the forwarder pairs with the URL Kasir
printed, and a GoPay Merchant notification in the (fake) Termux list pays the payment of that
amount, and the merchant's receiver gets ``payment.paid``. Then the server stops, more payments'
notifications appear while it is down, and once it is back each arrives once and each payment is
paid once: no notification lost, none counted twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import VALID_QRIS
from tests.faults.harness import FaultReceiver, Shop, add_endpoint, kasir_cli, kasir_env, serve, wait_until
from tests.forward_phone import GOPAY, FakePhone


def dotted(amount: int) -> str:
    return f"{amount:,}".replace(",", ".")


@pytest.fixture
def phone(tmp_path: Path) -> Iterator[FakePhone]:
    device = FakePhone(tmp_path, "phone")
    yield device
    device.stop()


def test_a_phone_notification_pays_once_even_across_a_server_outage(tmp_path: Path, phone: FakePhone) -> None:
    env = kasir_env(tmp_path / "home")
    kasir_cli("migrate", env=env)
    made = json.loads(kasir_cli("merchant", "create", "--name", "Toko Forward", "--json", env=env).stdout)
    kasir_cli(
        "merchant", "set", made["username"], "--subscription", "active", "--qris-gopay", VALID_QRIS, "--force", env=env
    )
    server, base = serve("api", env, tmp_path)
    env["KASIR_PUBLIC_URL"] = base  # the pairing URL Kasir prints is on its public URL
    key = made["test_api_key"]
    shop = Shop(nodes=[base], api_key=key, run="fwd")
    try:
        server.start()
        server.wait_healthy(base)
        with FaultReceiver() as receiver:
            add_endpoint(shop, receiver)
            created = requests.post(
                f"{base}/v1/sources",
                json={"name": "HP kasir", "apps": {GOPAY: "gopay_qris"}},
                headers={"X-API-Key": key},
                timeout=15,
            )
            assert created.status_code == 200, created.text
            pair_url = created.json()["source"]["pair_url"]
            paired = phone.cli("pair", pair_url)
            assert paired.returncode == 0, paired.stderr
            assert GOPAY in paired.stdout

            def pay(n: int) -> tuple[str, int]:
                answer = shop.call(
                    "/api/create-payment.php",
                    {"amount": 10_000 + 1_000 * n, "payment_method": "gopay_qris"},
                    prefer=0,
                    headers={"Idempotency-Key": f"fwd-{n}"},
                )
                assert answer is not None, shop.refused
                return answer["payment"]["invoice_id"], answer["payment"]["final_amount"]

            def status_of(invoice: str) -> str:
                response = requests.get(
                    f"{base}/api/check-payment.php",
                    params={"invoice": invoice},
                    headers={"X-API-Key": key},
                    timeout=15,
                )
                assert response.status_code == 200, response.text
                return str(response.json()["status"])

            first_invoice, first_amount = pay(0)
            phone.start(poll_interval=0.3)
            phone.notify(dotted(first_amount))
            wait_until(lambda: status_of(first_invoice) == "paid", "the first payment paid", 30)
            wait_until(lambda: (first_invoice, "payment.paid") in receiver.delivered_keys(), "the callback", 30)

            # Three more payments; the server goes down before their notifications appear.
            later = [pay(n) for n in (1, 2, 3)]
            server.stop()
            for _, amount in later:
                phone.notify(dotted(amount))
                time.sleep(0.4)
            wait_until(lambda: phone.status()["queued"] == 3, "three notifications queued while down", 20)
            time.sleep(3)  # retries meet a closed port
            server.start()
            server.wait_healthy(base)
            for invoice, _ in later:

                def paid(invoice: str = invoice) -> bool:
                    return status_of(invoice) == "paid"

                wait_until(paid, f"{invoice} paid", 40)
            wait_until(lambda: phone.status()["queued"] == 0, "the queue emptied", 20)
            invoices = [first_invoice, *(invoice for invoice, _ in later)]
            wait_until(
                lambda: {(i, "payment.paid") for i in invoices} <= receiver.delivered_keys(), "every callback", 40
            )
            time.sleep(2)
            assert receiver.double_events() == 0, "a payment paid twice"
            listed = requests.get(
                f"{base}/v1/sources/{created.json()['source']['id']}/notifications",
                headers={"X-API-Key": key},
                timeout=15,
            )
            assert listed.status_code == 200, listed.text
            stored = listed.json()["data"]
            assert len(stored) == 4, stored  # each notification stored once
            assert all(n["package"] == GOPAY for n in stored), stored
            log = phone.log()
            assert "failed" in log  # it did meet the outage
            assert pair_url.split("#token=")[1] not in log
    finally:
        phone.stop()
        server.stop()
