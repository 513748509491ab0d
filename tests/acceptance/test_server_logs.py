"""What `kasir serve` writes for a person to read (issue 16): it configures logging itself, so the
log notifier's buyer messages show under `make run`; one line per event, JSON lines with
``KASIR_LOG_FORMAT=json``, and no key or secret in any line."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx

from tests.faults.harness import KASIR, KasirProcess, kasir_cli, kasir_env, serve, wait_until
from tests.receivers import Receiver, Reply

ORDER = {
    "customer_name": "Rahim",
    "customer_phone": "0812-3456-7890",
    "items": [{"name": "Kopi", "quantity": 1, "price": 25000}],
}


def start(tmp_path: Path, **settings: str) -> tuple[KasirProcess, str, str]:
    env = kasir_env(tmp_path / "home", **settings)
    kasir_cli("migrate", env=env)
    kasir_cli("demo", env=env)
    key = json.loads((tmp_path / "home" / "demo-merchant.json").read_text())["test_api_key"]
    kasir, base = serve("serve", env, tmp_path)
    # The harness passes --log-level warning; this test reads the info lines a user sees.
    kasir.args = [arg for arg in kasir.args if arg not in ("--log-level", "warning")]
    kasir.start().wait_healthy(base)
    return kasir, base, key


def test_buyer_messages_of_the_log_notifier_appear_in_the_server_log(tmp_path: Path) -> None:
    kasir, base, key = start(tmp_path)
    try:
        with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=10) as http:
            created = http.post("/v1/store/orders", json=ORDER)
            assert created.status_code == 201, created.text
            wait_until(lambda: "not sent: KASIR_NOTIFIER=log" in kasir.output(), "the buyer message in the log", 20)
    finally:
        kasir.stop()
    output = kasir.output()
    assert created.json()["order"]["order_number"] in output  # the message text itself
    assert "6281234567890" not in output  # the phone is masked in the log
    assert f"kasir.serve: listening on {base}" in output


def test_json_lines_and_no_secret_in_them(tmp_path: Path) -> None:
    kasir, base, key = start(tmp_path, KASIR_LOG_FORMAT="json")
    kasir.args.append("--access-log")
    kasir.stop()
    kasir.start().wait_healthy(base)
    try:
        with httpx.Client(base_url=base, timeout=10) as http:
            assert http.get(f"/api/check-payment.php?invoice=PAY-demo-1-AAAAAA&apiKey={key}").status_code == 404
            http.post("/v1/store/orders", json=ORDER, headers={"X-API-Key": key})
            wait_until(lambda: "KASIR_NOTIFIER=log" in kasir.output(this_run=True), "the buyer message", 20)
    finally:
        kasir.stop()
    lines = [line for line in kasir.output(this_run=True).splitlines() if line.startswith("{")]
    records = [json.loads(line) for line in lines]
    assert {"uvicorn.error", "uvicorn.access", "kasir.notify"} <= {r["logger"] for r in records}, records
    assert all(set(r) >= {"time", "level", "logger", "message"} for r in records)
    assert key not in kasir.output()
    assert any("apiKey=***" in r["message"] for r in records if r["logger"] == "uvicorn.access")


def test_a_second_server_on_a_busy_port_says_so_in_one_line(tmp_path: Path) -> None:
    """A second `make run` (or `kasir serve`, `kasir listen`) on the port the first one holds:
    one line naming the port and how to choose another, exit 1, no banner, no traceback."""
    kasir, base, _key = start(tmp_path)
    port = base.rsplit(":", 1)[1]
    env = kasir_env(tmp_path / "home")
    try:
        second = subprocess.run(
            [*KASIR, "serve", "--port", port], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        listen = subprocess.run(
            [*KASIR, "listen", "--port", port], env=env, capture_output=True, text=True, timeout=60, check=False
        )
    finally:
        kasir.stop()
    for done, hint in ((second, "PORT=N make run"), (listen, "--port N")):
        assert done.returncode == 1
        assert done.stdout == ""  # no banner
        [line] = done.stderr.splitlines()
        assert f"port {port} on 127.0.0.1 is already in use" in line
        assert hint in line
        assert "Traceback" not in done.stderr


def test_the_worker_says_what_it_claimed_and_why_a_delivery_failed(tmp_path: Path) -> None:
    """A receiver answering 500 then 500: the log has the claim, each failed try with its reason
    and next time, and the delivery given up on after the (short) schedule: one line each."""
    with Receiver(lambda _n, _r: Reply(status=500, body=b"oops")) as receiver:
        kasir, base, key = start(tmp_path, KASIR_WEBHOOK_ALLOW_PRIVATE_NETWORKS="1", KASIR_DELIVERY_RETRY_SCHEDULE="1")
        try:
            with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=10) as http:
                endpoint = http.post("/v1/endpoints", json={"url": receiver.url, "event_types": ["payment.created"]})
                assert endpoint.status_code == 201, endpoint.text
                assert http.post("/api/create-payment.php", json={"amount": 50000}).status_code == 200
                wait_until(lambda: "failed after 2 attempt(s)" in kasir.output(), "the delivery to be given up", 30)
        finally:
            kasir.stop()
    output = kasir.output()
    assert "kasir.worker: claimed 1 delivery in the last" in output
    assert "attempt 1 failed, next try at" in output
    assert "receiver answered 500" in output
    assert len(receiver.requests) == 2
