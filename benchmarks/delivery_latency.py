"""The latency producer of ``delivery_bench.py``: payments marked paid at a fixed rate.

``delivery_bench.py`` runs it as a process of its own, hands it a JSON spec on stdin and reads one
JSON result from stdout. How a payment is marked paid (``paid_by`` in the spec):

- ``mutation`` (the default): the way a payment really becomes paid. One credit of a pending
  payment's exact final amount goes through ``kasir.payments.matching.ingest``, as
  ``POST /v1/mutations`` runs it: the credit stored, the payment matched and paid, its
  ``payment.paid`` event and delivery written, one transaction per credit;
- ``event``: only the outbox write, ``kasir.delivery.outbox.record_event(type="payment.paid")``.

Either is committed with ``Database.unit`` as ``POST /v1/mutations`` commits (SQLite inline on the
event loop with group commit, PostgreSQL on the loop over asyncpg), each payment in a task of its own, as
concurrent requests would. The event's start is the moment ``Database`` calls its delivery
listeners, right after its commit; the receiver notes its arrival with the same clock
(``time.time()``, same machine).

Two topologies (``topology`` in the spec):

- ``in-process``: ``kasir serve``'s. The app from ``kasir.app.create_app`` is started through its
  lifespan (its engine, its in-process delivery worker and sweeper, wired as ``kasir serve``
  wires them, on uvloop as uvicorn runs them) and the events are committed through the app's own
  ``Database``, so a commit wakes the worker at once, as an API request's would;
- ``producer``: only the commits; a separate ``kasir worker`` process (started by the benchmark)
  delivers, woken by PostgreSQL's NOTIFY, or on SQLite by a change of ``PRAGMA data_version`` (checked
  every 5 ms).

The schedule is open-loop: event ``i`` is started at ``start + i / rate`` whatever happened to the
ones before, so a slow commit shows up as commit lag (and in ``from_due``), not as a lower rate;
the rate achieved falls only when the process cannot keep up at all.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import anyio.to_thread
import sqlalchemy as sa
import uvloop

from kasir import secrets_at_rest
from kasir.clock import utcnow
from kasir.config import Settings
from kasir.db.engine import Database, build_engine
from kasir.db.statements import Conn
from kasir.db.tables import events
from kasir.delivery.outbox import record_event
from kasir.payments.matching import ingest
from kasir.payments.mutations import Credit, Reporter


def total_events(spec: dict[str, Any]) -> int:
    """Events the producer commits, warm-up included: ``delivery_bench.py`` seeds as many pending
    payments for ``paid_by: mutation``."""
    rate = float(spec["rate"])
    return round(float(spec["warmup"]) * rate) + round(float(spec["seconds"]) * rate)


async def produce(db: Database, settings: Settings, spec: dict[str, Any]) -> dict[str, Any]:
    rate: float = spec["rate"]
    warmup = round(spec["warmup"] * rate)
    total = total_events(spec)
    payload = spec["payload"]
    by_mutation = spec.get("paid_by", "mutation") == "mutation"
    finals: list[int] = spec.get("finals", [])
    if by_mutation and len(finals) < total:
        raise SystemExit(f"paid_by mutation needs {total} pending payments, got {len(finals)}")
    reporter = Reporter(mode="test", merchant_id=spec["merchant_id"], source="bench")

    def record(conn: Conn) -> str:
        return record_event(
            conn,
            merchant_id=spec["merchant_id"],
            mode="test",
            type="payment.paid",
            payload=payload,
            created_at=utcnow(),
            payment_id=spec["payment_id"],
        )

    def pay(i: int) -> Callable[[Conn], str]:
        # The payment's id for now: its event id is looked up once the run is over, so the
        # lookup costs nothing inside the measured loop.
        credit = Credit("qris", finals[i], f"LATENCY-{i:07d}")

        def write(conn: Conn) -> str:
            [outcome] = ingest(conn, reporter, [credit], settings, utcnow())
            if outcome.mutation["status"] != "matched":
                # Not SystemExit: SQLite's group commit catches Exception to roll back one unit.
                raise RuntimeError(f"credit {i} did not match a payment: {outcome.mutation['status']}")
            return str(outcome.mutation["payment_id"])

        return write

    # Database calls its delivery listeners right after a commit that created deliveries (the
    # worker's wake-up is one), where it committed: in the task that ran the unit on the event
    # loop (PostgreSQL, Database.unit), else in the thread (a database thread; SQLite's group
    # commit, which makes several units durable at once: they all get that one time). Each unit
    # notes its key under that place, and the next listener call there is its commit time.
    in_place: dict[object, list[str]] = {}
    stamps: dict[str, float] = {}

    def place() -> object:
        try:
            task = asyncio.current_task()
        except RuntimeError:  # a database thread: no loop
            task = None
        return task if task is not None else threading.get_ident()

    def on_commit() -> None:
        now = time.time()
        for key in in_place.pop(place(), []):
            stamps.setdefault(key, now)

    db.on_new_deliveries(on_commit)

    def noted(fn: Callable[[Conn], str]) -> Callable[[Conn], str]:
        def unit(conn: Conn) -> str:
            key = fn(conn)
            in_place.setdefault(place(), []).append(key)
            return key

        return unit

    # key -> (committed at, due at), both time.time(): the headline latency runs from the
    # commit; from the due time it also counts a commit that was late (a stalled event loop, a
    # write waiting for a lock or a thread), as a payment that waited would see it.
    commits: dict[str, tuple[float, float]] = {}
    warmup_ids: list[str] = []
    unstamped = 0
    start, start_wall, cpu_from = time.perf_counter(), time.time(), time.process_time()

    async def one(i: int) -> None:
        nonlocal unstamped
        # Through Database.unit as POST /v1/mutations writes (inline with group commit on SQLite,
        # on the event loop over asyncpg on PostgreSQL), retrying conflicts as it does.
        key = await db.unit(noted(pay(i) if by_mutation else record), retry_conflicts=True)
        if key not in stamps:  # no listener call: should not happen; counted in the result
            stamps[key], unstamped = time.time(), unstamped + 1
        if i < warmup:
            warmup_ids.append(key)
        else:
            commits[key] = (stamps[key], start_wall + i / rate)

    # Open loop: payment i is paid at start + i / rate whether or not the ones before are
    # committed, as independent customers' payments arrive; each is its own task, so a slow
    # commit delays only itself (and shows as commit lag) and the rate stays what was asked
    # unless the process is saturated.
    tasks = []
    for i in range(total):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    produced_for = time.perf_counter() - start  # until the last commit
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
    if by_mutation:
        # payment id -> the id of its payment.paid event, which the receiver keys arrivals by.
        query = sa.select(events.c.payment_id, events.c.event_id).where(events.c.type == "payment.paid")
        event_of = await db.read(lambda conn: {str(p): e for p, e in conn.execute(query).all()})
        commits = {event_of[p]: times for p, times in commits.items()}
        warmup_ids = [event_of[p] for p in warmup_ids]
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
            secrets_at_rest.load_key(db, settings)  # the key file in the run's home
            return await produce(db, settings, spec)
        finally:
            db.dispose()

    from kasir.app import create_app

    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await asyncio.sleep(spec["settle"])  # the worker's first (empty) claim, the sweeper's first pass
        return await produce(app.state.kasir.db, app.state.kasir.settings, spec)


def main() -> None:
    spec = json.loads(sys.stdin.read())
    json.dump(uvloop.run(run(spec)), sys.stdout)


if __name__ == "__main__":
    main()
