"""`kasir worker` killed with SIGKILL again and again while payments are made and paid over HTTP
(`kasir serve --no-worker` takes them), started again after each kill; at the end every event the
API accepted has reached the receiver, and Kasir's books say so too.

On SQLite the restarted worker takes back its dead predecessor's leases at once. On PostgreSQL
they run out after delivery_timeout + 30 s, so that run ends with a wait of that length: it is in
the full form only (``make faults``); in ``make test``, tests/integration/delivery/test_crash.py
kills PostgreSQL workers with SIGKILL already.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest

from tests.faults.harness import (
    FULL,
    PG_LEASE,
    WORKER_READY,
    FaultReceiver,
    add_endpoint,
    assert_no_loss,
    kasir_env,
    open_shop,
    processes,
    record,
    run_id,
    scaled,
    serve,
    settle,
    tally,
    wait_delivered,
    worker,
)

pytestmark = [pytest.mark.faults, pytest.mark.timeout(900 if FULL else 240)]

FULL_FORM_ONLY = pytest.mark.skipif(
    not FULL,
    reason="full form only (make faults): a killed worker's PostgreSQL leases take delivery_timeout + 30 s to "
    "run out; in make test, tests/integration/delivery/test_crash.py kills PostgreSQL workers",
)


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=[pytest.mark.postgres, FULL_FORM_ONLY])]
)
def test_worker_killed_with_sigkill_again_and_again_loses_nothing(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    started = time.monotonic()
    database_url = request.getfixturevalue("pg_database") if backend == "postgresql" else None
    env = kasir_env(tmp_path / "home", database_url)
    url = database_url or f"sqlite:///{tmp_path / 'home' / 'kasir.db'}"
    api, base = serve("api", env, tmp_path, worker=False)
    deliverer = worker("worker", env, tmp_path)
    kills_wanted = int(scaled(4))

    with FaultReceiver() as receiver, processes(api, deliverer):
        api.start()
        api.wait_healthy(base)
        shop = open_shop(env, [base], run_id())
        add_endpoint(shop, receiver)
        stop = threading.Event()
        load = shop.load_in_background(100_000, rate=15, stop=stop)
        # Each life of the worker: started, given 0.5–1 s of delivering, killed. The shop works
        # all along.
        while deliverer.kills < kills_wanted:
            deliverer.start()
            deliverer.wait_for_output(WORKER_READY)
            time.sleep(random.uniform(0.5, 1.0))
            deliverer.kill()
        stop.set()
        load.join()
        deliverer.start()
        wait_delivered(shop, receiver, timeout=(PG_LEASE if backend == "postgresql" else 0) + 60)
        unsettled = settle(url, timeout=PG_LEASE + 30)
        counted = tally(shop, receiver)
        record(
            f"worker-sigkill-{backend}",
            counted,
            started,
            faults=deliverer.kills,
            backend=backend,
            fault=f"kasir worker killed with SIGKILL {deliverer.kills} times, 0.5-1 s into each life",
            payments=len(shop.invoices),
            unsettled_deliveries=unsettled,
            api_server_errors=shop.server_error_codes(),
        )
        assert_no_loss(shop, counted)
        assert counted.accepted == 2 * shop.check_all_paid()
        assert unsettled == 0, "deliveries still not recorded as succeeded"
