"""PostgreSQL restarted under a running Kasir (`kasir serve --no-worker` and `kasir worker`) while
payments are made and paid over HTTP: in the short form once with a fast shutdown (sessions ended
cleanly); in the full form six times, every other one immediate (crash-like: recovery from the
WAL at start).

The cluster is a throwaway one (pg_createcluster), never the shared one. While the database is
away the API answers Kasir's JSON error and the shop retries with the same Idempotency-Key or
credit reference; neither Kasir process may die of it, and no accepted event may be lost.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tests.faults.conftest import Cluster, scratch_database
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
    scalar,
    serve,
    settle,
    tally,
    wait_delivered,
    worker,
)

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.timeout(900 if FULL else 240)]


def test_postgres_restarted_mid_run_loses_nothing(throwaway_cluster: Cluster, tmp_path: Path) -> None:
    started = time.monotonic()
    # The short form restarts once, cleanly. A crash-like restart can lose the worker's newest
    # bookkeeping commits (synchronous_commit=off, by design); deliveries they had recorded are
    # then sent again when their leases run out, delivery_timeout + 30 s later: too long a wait
    # for `make test`.
    restarts = ["fast", "immediate"] * 3 if FULL else ["fast"]
    gap = 3.0 if FULL else 1.0  # seconds of normal work around each restart

    with scratch_database(throwaway_cluster.admin_url) as url:
        env = kasir_env(tmp_path / "home", url)
        api, base = serve("api", env, tmp_path, worker=False)
        deliverer = worker("worker", env, tmp_path)
        with FaultReceiver() as receiver, processes(api, deliverer):
            api.start()
            api.wait_healthy(base)
            deliverer.start()
            deliverer.wait_for_output(WORKER_READY)
            shop = open_shop(env, [base], run_id())
            add_endpoint(shop, receiver)
            stop = threading.Event()
            load = shop.load_in_background(100_000, rate=15, stop=stop)
            for mode in restarts:
                time.sleep(gap)
                throwaway_cluster.restart(mode)
            time.sleep(gap)
            stop.set()
            load.join()

            def still_running() -> None:
                assert api.alive, f"kasir serve died with PostgreSQL:\n{api.tail()}"
                assert deliverer.alive, f"kasir worker died with PostgreSQL:\n{deliverer.tail()}"

            wait_delivered(shop, receiver, timeout=PG_LEASE + 60, alive=still_running)
            still_running()
            unsettled = settle(url, timeout=PG_LEASE + 30)
            counted = tally(shop, receiver)
            record(
                "postgres-restart",
                counted,
                started,
                faults=len(restarts),
                backend="postgresql",
                fault=f"pg_ctlcluster restart x{len(restarts)} ({', '.join(restarts)}) of a throwaway cluster",
                payments=len(shop.invoices),
                unsettled_deliveries=unsettled,
                api_server_errors=shop.server_error_codes(),
                client_transport_errors=shop.transport_errors,
            )
            assert_no_loss(shop, counted)
            payments = shop.check_all_paid()
            assert counted.accepted == 2 * payments
            assert unsettled == 0, "deliveries still not recorded as succeeded"
            assert scalar(url, "SELECT count(*) FROM payments WHERE status = 'paid'") == payments
            # The requests that met the restart were told so: an outage to retry, not a bug.
            assert set(shop.server_error_codes()) <= {"503 database_unavailable"}, shop.server_errors[:3]
    # The restarts did happen while the shop was working: it met the database's absence.
    assert shop.server_errors or shop.transport_errors, "no request ever met the restarts"
