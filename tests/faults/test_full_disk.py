"""A full disk under SQLite: KASIR_HOME on a 16 MiB tmpfs of its own, `kasir serve` (API and
worker) on it, the shop working; then a file fills the disk to the last byte.

While the disk is full, every write the API refuses is refused with Kasir's JSON error (503
``storage_full`` with Retry-After, never an HTML page or a traceback), reads still work,
and the process stays up; the operator's log says the disk is full. Once the file is removed,
the refused requests are sent again with the same Idempotency-Key / credit reference and
succeed, and everything the API ever accepted reaches the receiver. Afterwards the database
passes ``PRAGMA integrity_check`` and holds every accepted payment, paid.
"""

from __future__ import annotations

import contextlib
import errno
import json
import sqlite3
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.faults.harness import (
    FULL,
    FaultReceiver,
    KasirProcess,
    Shop,
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
    wait_until,
)

pytestmark = [pytest.mark.faults, pytest.mark.timeout(900 if FULL else 240)]


def fill(disk: Path) -> Path:
    """A file that takes every free byte of the filesystem."""
    filler = disk / "filler"
    chunk = b"\0" * (1 << 16)
    with filler.open("wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    # The last partial chunk: byte by byte is too slow, halves are quick.
    size = len(chunk) // 2
    while size:
        try:
            with filler.open("ab", buffering=0) as f:
                f.write(b"\0" * size)
        except OSError:
            size //= 2
    return filler


def test_full_disk_under_sqlite_refuses_clearly_and_loses_nothing(small_disk: Path, tmp_path: Path) -> None:
    started = time.monotonic()
    before, after = int(scaled(20)), int(scaled(20))
    full_for = scaled(2.0)  # seconds the disk stays full, at least
    refusals = int(scaled(5))  # and requests it refuses meanwhile, at least
    home = small_disk / "home"
    env = kasir_env(home)
    kasir, base = serve("serve", env, tmp_path)
    database = home / "kasir.db"

    with FaultReceiver() as receiver, processes(kasir):
        kasir.start()
        kasir.wait_healthy(base)
        shop = open_shop(env, [base], run_id())
        add_endpoint(shop, receiver)
        # Each request is tried once while the disk fills up; what is refused is sent again once
        # space is freed. The disk fills while the shop works and deliveries are in flight, and
        # stays full until Kasir has refused a few requests: SQLite takes writes as long as its
        # WAL file has room, and that room is not Kasir's to promise.
        shop.retry_server_errors = False
        stop = threading.Event()
        load = shop.load_in_background(100_000, rate=20, stop=stop)
        time.sleep(before / 20)
        filler = fill(small_disk)
        full_since = time.monotonic()
        wait_until(
            lambda: len(shop.server_errors) >= refusals and time.monotonic() - full_since >= full_for,
            f"{refusals} requests refused while the disk is full",
            timeout=60,
        )
        stop.set()
        load.join()
        refused = sorted(shop.attempted - shop.paid)
        errors_while_full = list(shop.server_errors)
        assert kasir.alive, f"kasir serve died of a full disk:\n{kasir.tail()}"
        reads_while_full = reads_work(shop, base)

        filler.unlink()
        shop.retry_server_errors = True
        for i in refused:
            shop.buy(i)
        shop.run_load(after, rate=20, first=max(shop.attempted) + 1)
        wait_delivered(shop, receiver, timeout=90, alive=lambda: serving(kasir))
        # The worker's own writes (claims, attempts) failed too while the disk was full; its
        # books must catch up as well.
        unsettled = settle(f"sqlite:///{database}", timeout=60)
        counted = tally(shop, receiver)
        log_says_full = "database or disk is full" in kasir.output()

    # Stopped: the database is whole and holds what was accepted.
    with contextlib.closing(sqlite3.connect(database)) as conn:
        integrity = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        foreign_keys = conn.execute("PRAGMA foreign_key_check").fetchall()
        paid = {row[0] for row in conn.execute("SELECT invoice_id FROM payments WHERE status = 'paid'")}
    payments = len(shop.attempted)
    record(
        "full-disk-sqlite",
        counted,
        started,
        faults=len(errors_while_full),
        backend="sqlite",
        fault=f"KASIR_HOME on a 16 MiB tmpfs filled to the last byte mid-run for {full_for:g} s, then freed",
        payments=payments,
        refused_while_full=len(refused),
        error_statuses=sorted({status for status, _ in errors_while_full}),
        example_error=errors_while_full[0][1] if errors_while_full else None,
        unsettled_deliveries=unsettled,
        integrity_check=integrity,
    )
    assert_no_loss(shop, counted)
    assert counted.accepted == 2 * payments == 2 * shop.check_all_paid()
    assert errors_while_full, "the disk was full and no request was refused"
    # Said as what it is: an outage to wait out (503, Retry-After), storage_full, not a 500.
    assert all(status == 503 for status, _ in errors_while_full), errors_while_full[:3]
    assert all(json.loads(body)["code"] == "storage_full" for _, body in errors_while_full), errors_while_full[:3]
    assert reads_while_full
    assert log_says_full, "the operator's log does not say the disk is full"
    assert unsettled == 0, "deliveries still not recorded as succeeded"
    assert integrity == ["ok"]
    assert foreign_keys == []
    assert {shop.invoices[i] for i in shop.paid} == paid


def serving(kasir: KasirProcess) -> None:
    assert kasir.alive, f"kasir serve died:\n{kasir.tail()}"


def reads_work(shop: Shop, base: str) -> bool:
    """check-payment of a payment made before the disk filled, and /health."""
    invoice = shop.invoices[0]
    headers = {"X-API-Key": shop.api_key}
    checked = requests.get(f"{base}/api/check-payment.php", params={"invoice": invoice}, headers=headers, timeout=15)
    health = requests.get(f"{base}/health", timeout=15)
    return checked.status_code == 200 and checked.json()["status"] == "paid" and health.ok
