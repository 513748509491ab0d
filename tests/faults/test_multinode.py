"""More than one machine: two ``kasir serve --no-worker`` API nodes and two ``kasir worker`` nodes,
separate processes on distinct ports, on one PostgreSQL database (migrated by whichever node
starts first; they all start at once). The load is spread over both API nodes:

- payments of one amount created at the same time through both nodes get distinct final
  amounts (the unique code is unique across nodes, not per process);
- every credit is reported to both nodes at the same moment (a bank notification delivered
  twice, to two machines): each payment is paid once, one answer says ``duplicate``, and one
  ``payment.paid`` is emitted;
- a WA Store order created on one node is paid through the other, and shows paid on both;
- every event reaches the receiver, and both workers sent a share of them.

Throughput as workers are added is measured by ``make bench`` (1, 2 and 4 worker processes on
PostgreSQL), not asserted here.
"""

from __future__ import annotations

import collections
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.faults.harness import (
    FULL,
    WORKER_READY,
    FaultReceiver,
    add_endpoint,
    assert_no_loss,
    kasir_env,
    open_shop,
    processes,
    record,
    rows,
    run_id,
    scalar,
    serve,
    settle,
    tally,
    wait_delivered,
    worker,
)

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.timeout(600 if FULL else 240)]

AMOUNT = 25_000  # one amount for every payment: only the unique code can tell them apart


def test_two_api_nodes_and_two_workers_on_one_database_stay_correct(pg_database: str, tmp_path: Path) -> None:
    started = time.monotonic()
    payments = 150 if FULL else 40
    env = kasir_env(tmp_path / "home", pg_database)
    node_a, base_a = serve("api-a", env, tmp_path, worker=False)
    node_b, base_b = serve("api-b", env, tmp_path, worker=False)
    workers = [worker("worker-1", env, tmp_path), worker("worker-2", env, tmp_path)]
    nodes = [base_a, base_b]

    with FaultReceiver() as receiver, processes(node_a, node_b, *workers):
        # All four at once, on an empty database: the migrations take an advisory lock, so one
        # node migrates and the others wait for it.
        for proc in (node_a, node_b, *workers):
            proc.start()
        node_a.wait_healthy(base_a)
        node_b.wait_healthy(base_b)
        for proc in workers:
            proc.wait_for_output(WORKER_READY)
        shop = open_shop(env, nodes, run_id())
        add_endpoint(shop, receiver, ("payment.*", "order.*"))

        # One amount, created concurrently, alternating nodes.
        def create(i: int) -> dict[str, Any]:
            answer = shop.call(
                "/api/create-payment.php",
                {"amount": AMOUNT, "description": f"multinode {i}"},
                prefer=i,
                headers={"Idempotency-Key": shop.idempotency_key(i)},
            )
            assert answer is not None, f"payment {i} refused: {shop.refused[-1:]}"
            payment: dict[str, Any] = answer["payment"]
            with shop._lock:
                shop.invoices[i] = payment["invoice_id"]
                shop.final_amounts[i] = payment["final_amount"]
                shop.accepted.add((payment["invoice_id"], "payment.created"))
            return payment

        with ThreadPoolExecutor(max_workers=8) as pool:
            created = list(pool.map(create, range(payments)))
        finals = [p["final_amount"] for p in created]
        assert len(set(finals)) == payments, "two pending payments share a final amount"
        assert all(final != AMOUNT or p["unique_code"] == 0 for final, p in zip(finals, created, strict=True))

        # Each credit to both nodes at the same moment.
        def report(i: int, node: int, gate: threading.Barrier) -> dict[str, Any]:
            gate.wait(timeout=30)
            answer = shop.call(
                "/v1/mutations",
                {"channel": "qris", "amount": shop.final_amounts[i], "reference": f"ref-{shop.idempotency_key(i)}"},
                prefer=node,
            )
            assert answer is not None, f"credit {i} refused on node {node}: {shop.refused[-1:]}"
            [mutation] = answer["mutations"]
            return dict(mutation)

        def pay_twice(i: int) -> list[dict[str, Any]]:
            gate = threading.Barrier(2)
            with ThreadPoolExecutor(max_workers=2) as both:
                answers = list(both.map(lambda node: report(i, node, gate), (0, 1)))
            for mutation in answers:
                assert mutation["status"] == "matched", mutation
                assert mutation["invoice_id"] == shop.invoices[i], mutation
            with shop._lock:
                shop.paid.add(i)
                shop.accepted.add((shop.invoices[i], "payment.paid"))
            return answers

        with ThreadPoolExecutor(max_workers=4) as pool:
            reported = list(pool.map(pay_twice, range(payments)))
        first_reports = collections.Counter(sum(not m["duplicate"] for m in answers) for answers in reported)
        assert first_reports == {1: payments}, f"answers per credit that were not duplicates: {first_reports}"

        # A WA Store order made on node A, paid through node B.
        order = create_order(base_a, shop.api_key)
        invoice = order["invoice_id"]
        answer = shop.call(
            "/v1/mutations",
            {"channel": "qris", "amount": order["final_amount"], "reference": f"ref-{shop.run}-order"},
            prefer=1,
        )
        assert answer is not None, shop.refused[-1:]
        assert answer["mutations"][0]["invoice_id"] == invoice, answer
        with shop._lock:
            shop.accepted |= {(invoice, kind) for kind in ("payment.created", "order.created", "payment.paid")}
            shop.accepted.add((invoice, "order.paid"))
        for base in nodes:
            seen = requests.get(
                f"{base}/api/wa-store-orders.php",
                params={"order_number": order["order_number"]},
                headers={"X-API-Key": shop.api_key},
                timeout=15,
            )
            assert seen.status_code == 200, seen.text
            assert seen.json()["data"]["status"] == "paid"

        wait_delivered(shop, receiver, timeout=90)
        unsettled = settle(pg_database, timeout=60)
        counted = tally(shop, receiver)
        alive = [proc.name for proc in workers if proc.alive]

    # After every process stopped (gracefully): each worker logs what it sent when it stops.
    shares = {proc.name: succeeded_by(proc.output()) for proc in workers}
    record(
        "multinode",
        counted,
        started,
        backend="postgresql",
        fault="none: 2 API nodes and 2 workers on one database, every credit reported to both nodes",
        payments=payments,
        unsettled_deliveries=unsettled,
        api_server_errors=shop.server_error_codes(),
        sent_by_worker=shares,
    )
    assert_no_loss(shop, counted)
    assert not shop.server_errors, shop.server_errors[:3]
    assert unsettled == 0
    assert alive == ["worker-1", "worker-2"], "a worker died"
    assert all(shares.values()), f"a worker sent nothing: {shares}"
    assert sum(shares.values()) >= counted.delivered

    # Kasir's books.
    assert scalar(pg_database, "SELECT count(*) FROM payments WHERE status = 'paid'") == payments + 1
    assert scalar(pg_database, "SELECT count(*) FROM mutations") == payments + 1
    assert rows(pg_database, "SELECT payment_id FROM mutations GROUP BY payment_id HAVING count(*) > 1") == []
    paid_events = rows(
        pg_database,
        "SELECT payment_id, count(*) FROM events WHERE type = 'payment.paid' GROUP BY payment_id HAVING count(*) > 1",
    )
    assert paid_events == [], f"payment.paid emitted twice: {paid_events}"


def succeeded_by(log: str) -> int:
    found = re.search(r"delivery worker stopped after \d+ attempts: (\d+) succeeded", log)
    assert found, f"the worker did not log its summary when stopped:\n{log[-2000:]}"
    return int(found.group(1))


def create_order(base: str, api_key: str) -> dict[str, Any]:
    response = requests.post(
        f"{base}/v1/store/orders",
        json={
            "customer_name": "Budi Multinode",
            "customer_phone": "081234567890",
            "items": [{"name": "Kopi susu", "quantity": 2, "price": 18_000}],
        },
        headers={"X-API-Key": api_key},
        timeout=15,
    )
    assert response.status_code == 201, response.text
    order: dict[str, Any] = response.json()["order"]
    assert order["status"] == "waiting_payment"
    return order
