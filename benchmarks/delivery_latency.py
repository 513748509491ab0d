"""The latency producer of ``delivery_bench.py``: payments marked paid at a fixed rate.

``delivery_bench.py`` runs it as a process of its own, hands it a JSON spec on stdin and reads one
JSON result from stdout. There is no pay API yet, so "marking a payment paid" is what that API
will do in its transaction: ``kasir.delivery.outbox.record_event(type="payment.paid")``, one
transaction per event, committed with ``Database.write`` as an API request commits (SQLite inline
on the event loop, PostgreSQL in a database thread), one event at a time. The event's start is
the moment ``Database`` calls its delivery listeners, right after the commit; the receiver notes
its arrival with the same clock (``time.time()``, same machine).

Two topologies (``topology`` in the spec):

- ``in-process``: ``kasir serve``'s. The app from ``kasir.app.create_app`` is started through its
  lifespan (its engine, its in-process delivery worker and sweeper, wired as ``kasir serve``
  wires them, on uvloop as uvicorn runs them) and the events are committed through the app's own
  ``Database``, so a commit wakes the worker at once, as an API request's would;
- ``producer``: only the commits; a separate ``kasir worker`` process (started by the benchmark)
  delivers, woken by PostgreSQL's NOTIFY, or on SQLite by its poll (``KASIR_WORKER_POLL_INTERVAL``).

The schedule is open-loop: event ``i`` is due at ``start + i / rate`` whatever happened to the
ones before, so a slow commit shows up as latency of the following events, not as a lower rate.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import urllib.request
from typing import Any

import anyio.to_thread
import uvloop
from sqlalchemy import Connection

from kasir.clock import utcnow
from kasir.config import Settings
from kasir.db.engine import Database, build_engine
from kasir.delivery.outbox import record_event


async def produce(db: Database, spec: dict[str, Any]) -> dict[str, Any]:
    rate: float = spec["rate"]
    warmup = round(spec["warmup"] * rate)
    total = warmup + round(spec["seconds"] * rate)
    payload = spec["payload"]

    def mark_paid(conn: Connection) -> str:
        return record_event(
            conn,
            merchant_id=spec["merchant_id"],
            mode="test",
            type="payment.paid",
            payload=payload,
            created_at=utcnow(),
            payment_id=spec["payment_id"],
        )

    # Database calls its delivery listeners right after a commit that created deliveries (the
    # worker's wake-up is one): the time of that call is the commit time.
    stamps: list[float] = []
    db.on_new_deliveries(lambda: stamps.append(time.time()))

    # event id -> (committed at, due at), both time.time(): the headline latency runs from the
    # commit; from the due time it also counts a commit that was late (a stalled event loop, a
    # write waiting for a lock), as a payment that waited would see it.
    commits: dict[str, tuple[float, float]] = {}
    warmup_ids: list[str] = []
    unstamped = 0
    start, start_wall, cpu_from = time.perf_counter(), time.time(), time.process_time()
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        seen = len(stamps)
        # Through Database.write, as an API request writes (inline with group commit on SQLite,
        # a database thread on PostgreSQL); one at a time, so each commit has its own stamp.
        event_id = await db.write(mark_paid)
        if len(stamps) > seen:
            committed_at = stamps[seen]
        else:  # no listener call: should not happen; counted in the result
            committed_at, unstamped = time.time(), unstamped + 1
        if i < warmup:
            warmup_ids.append(event_id)
        else:
            commits[event_id] = (committed_at, start_wall + i / rate)
    produced_for = time.perf_counter() - start
    # The whole process's CPU: with the in-process worker, the worker's share is in it.
    cores = (time.process_time() - cpu_from) / produced_for

    # Wait for the receiver to have them all before the worker is stopped: shutting down stops
    # claiming, and an event committed but not yet claimed would never arrive.
    def received() -> int:
        with urllib.request.urlopen(spec["receiver"] + "/_stats", timeout=5) as response:
            return int(json.loads(response.read())["distinct"])

    deadline = time.monotonic() + spec["drain_timeout"]
    while time.monotonic() < deadline:
        if await anyio.to_thread.run_sync(received) >= total:
            break
        await asyncio.sleep(0.05)
    return {
        "commits": commits,
        "warmup_ids": warmup_ids,
        "unstamped": unstamped,
        "process_cores": cores,
        "produced_for_s": produced_for,
        "rate_achieved": total / produced_for if produced_for else None,
    }


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    settings = Settings(
        home=spec["home"],
        database_url=spec["database_url"],
        webhook_allow_private_networks=True,
        rate_limit=0,
        platform_qris="demo",
    )
    if spec["topology"] == "producer":
        db = Database(build_engine(settings.resolved_database_url))
        try:
            return await produce(db, spec)
        finally:
            db.dispose()

    from kasir.app import create_app

    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await asyncio.sleep(spec["settle"])  # the worker's first (empty) claim, the sweeper's first pass
        return await produce(app.state.kasir.db, spec)


def main() -> None:
    spec = json.loads(sys.stdin.read())
    json.dump(uvloop.run(run(spec)), sys.stdout)


if __name__ == "__main__":
    main()
