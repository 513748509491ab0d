"""An API node killed with SIGKILL while clients are sending: two `kasir serve --no-worker` nodes
and one `kasir worker` share a PostgreSQL database; the shop spreads its requests over both
nodes, and a request that dies with its node is sent again, with the same Idempotency-Key (the
credit with the same reference), to the other node. The killed node is started again, and the
other one is killed in its turn (the full form does this more times).

Every payment the API acknowledged is paid and its events delivered; no Idempotency-Key ever
made two payments; no credit paid two payments.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.faults.harness import (
    FULL,
    PG_LEASE,
    WORKER_READY,
    FaultReceiver,
    KasirProcess,
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

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.timeout(900 if FULL else 240)]


def kill_mid_request(node: KasirProcess, base: str, inflight: dict[str, int], timeout: float = 10) -> bool:
    """SIGKILL the node at a moment a client is waiting for its answer (or, failing that
    within ``timeout``, anyway). True when a request was in flight."""
    deadline = time.monotonic() + timeout
    while inflight.get(base, 0) == 0 and time.monotonic() < deadline:
        time.sleep(0.001)
    caught = inflight.get(base, 0) > 0
    node.kill()
    return caught


def test_api_node_killed_mid_request_loses_nothing_and_pays_once(pg_database: str, tmp_path: Path) -> None:
    started = time.monotonic()
    kills = 2 * (3 if FULL else 1)
    gap = 3.0 if FULL else 1.0  # seconds of normal work around each kill
    env = kasir_env(tmp_path / "home", pg_database)
    node_a, base_a = serve("api-a", env, tmp_path, worker=False)
    node_b, base_b = serve("api-b", env, tmp_path, worker=False)
    deliverer = worker("worker", env, tmp_path)
    nodes = [(node_a, base_a), (node_b, base_b)]

    with FaultReceiver() as receiver, processes(node_a, node_b, deliverer):
        for node, base in nodes:
            node.start()
            node.wait_healthy(base)
        deliverer.start()
        deliverer.wait_for_output(WORKER_READY)
        shop = open_shop(env, [base_a, base_b], run_id())
        add_endpoint(shop, receiver)
        stop = threading.Event()
        load = shop.load_in_background(100_000, rate=15, threads=6, stop=stop)
        caught = 0
        for number in range(kills):
            time.sleep(gap)
            node, base = nodes[number % 2]
            caught += kill_mid_request(node, base, shop.inflight)
            node.start()  # back in the pool; clients meet it again when it answers
            node.wait_healthy(base)
        time.sleep(gap)
        stop.set()
        load.join()
        wait_delivered(shop, receiver, timeout=60)
        unsettled = settle(pg_database, timeout=PG_LEASE + 30)
        counted = tally(shop, receiver)
        record(
            "api-node-sigkill",
            counted,
            started,
            faults=node_a.kills + node_b.kills,
            backend="postgresql",
            fault=f"one of two API nodes killed with SIGKILL {kills} times ({caught} with a request in flight)",
            payments=len(shop.invoices),
            unsettled_deliveries=unsettled,
            client_transport_errors=shop.transport_errors,
            api_server_errors=shop.server_error_codes(),
        )
        assert_no_loss(shop, counted)
        payments = shop.check_all_paid()
        assert counted.accepted == 2 * payments
        assert unsettled == 0, "deliveries still not recorded as succeeded"

        # Kasir's books: one payment per Idempotency-Key, each acknowledged payment paid, each
        # credit matched to one payment.
        twice = rows(
            pg_database,
            "SELECT description, count(*) FROM payments GROUP BY description HAVING count(*) > 1",
        )
        assert twice == [], f"an Idempotency-Key made more than one payment: {twice}"
        assert scalar(pg_database, "SELECT count(*) FROM payments") == payments
        assert scalar(pg_database, "SELECT count(*) FROM payments WHERE status = 'paid'") == payments
        assert scalar(pg_database, "SELECT count(*) FROM mutations") == payments
        assert scalar(pg_database, "SELECT count(DISTINCT reference) FROM mutations") == payments
    assert caught >= 1, "no kill found a request in flight"
    assert shop.transport_errors >= 1, "no client request died with a node"
