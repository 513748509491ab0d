"""The crash test: 10,000 events, workers killed with SIGKILL at random moments while deliveries
flow (and stopped once with SIGTERM), restarted each time; not one event may be lost.

The worker is the real `kasir worker` command in a process of its own. On SQLite one process
serves the queue (a restarted one takes back its dead predecessor's leases at once); on
PostgreSQL two run side by side, so one keeps delivering while the other is dead, and the leases
of a killed one run out after ``delivery_timeout + 30`` seconds. The receiver is an aiohttp
server in a thread of this process that records every request before it answers 200, so
"received" means "the receiver had it". Duplicates are allowed (delivery is at least once),
reported, and each must be explained by a SIGKILL; losses are not allowed at all.

CRASH_SEED=<n> replays the kill moments of a run (the seed is printed in the summary).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import itertools
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest
import sqlalchemy as sa
from aiohttp import web

from kasir import dialects
from kasir.clock import utcnow
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.db.tables import deliveries, delivery_attempts, events
from kasir.merchants.service import NewMerchant, authenticate
from kasir.payments.service import NewPayment, create_payment
from tests.integration.delivery.conftest import add_endpoint

REPO = Path(__file__).resolve().parents[3]

EVENTS = 10_000
UPFRONT = 9_000  # created before the first worker starts; the rest while workers die and come back
PRODUCER_BATCH = 250
KILLS = 5
DELIVERY_TIMEOUT = 5
RETRY_SCHEDULE = "1,1,1,1,1"
# Kills happen when the receiver has seen this share of the events, one kill per slice.
KILL_WINDOW = (0.04, 0.80)


def amount_for(i: int) -> int:
    """Amounts 1,000 rupiah apart: each has its own 999 unique codes, and 25 payments use them."""
    return 10_000 + (i % 400) * 1_000


# --- the receiver ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hit:
    event_id: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() when the request arrived


class FastReceiver:
    """aiohttp on a loopback port, in its own thread and event loop: records, then answers 200."""

    def __init__(self) -> None:
        self.hits: list[Hit] = []
        self.seen: set[str] = set()
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._run, name="crash-receiver", daemon=True)

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        event_id = request.headers.get("webhook-id", "")
        # list.append and set.add are atomic under the GIL; the test thread only reads.
        self.hits.append(Hit(event_id, dict(request.headers), body, time.monotonic()))
        self.seen.add(event_id)
        return web.Response(body=b'{"status":"ok"}', content_type="application/json")

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/hook"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._ready.set()
        self._loop.run_forever()

    def __enter__(self) -> FastReceiver:
        self._thread.start()
        if not self._ready.wait(timeout=10):
            raise RuntimeError("receiver did not start")
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._runner is not None:
            cleanup = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
            with contextlib.suppress(Exception):  # best effort: the loop is stopped next anyway
                cleanup.result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


# --- the worker process ---------------------------------------------------------------------


class WorkerProcess:
    """`python -m kasir.cli worker`, restartable; every run logs to a file of its own."""

    def __init__(self, name: str, env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.env = env
        self.logs = logs
        self.runs = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> None:
        self.runs += 1
        self._log = (self.logs / f"{self.name}-run{self.runs}.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kasir.cli", "worker"],
            env=self.env,
            cwd=REPO,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        """SIGKILL: no drain, no final commit, no lock release but the kernel's."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self._reap()

    def terminate(self, timeout: float) -> int | None:
        """SIGTERM: the worker drains what is in flight and exits."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None
        self._reap()
        return code

    def _reap(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(
                f"worker {self.name} run {self.runs} exited by itself with code {self.proc.returncode}:\n"
                + self.log_tail()
            )

    def log_tail(self, lines: int = 40) -> str:
        path = self.logs / f"{self.name}-run{self.runs}.log"
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def all_logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.logs.glob(f"{self.name}-run*.log")))


def wait_for(
    what: str, predicate: Callable[[], bool], timeout: float, workers: list[WorkerProcess], every: float = 0.01
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        for worker in workers:
            worker.check_alive()
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def worker_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("KASIR_")},
        "KASIR_DATABASE_URL": database_url,
        "KASIR_HOME": str(tmp_path / "home"),
        "KASIR_WEBHOOK_ALLOW_PRIVATE_NETWORKS": "1",
        "KASIR_DELIVERY_TIMEOUT": str(DELIVERY_TIMEOUT),
        "KASIR_DELIVERY_RETRY_SCHEDULE": RETRY_SCHEDULE,
        "PYTHONUNBUFFERED": "1",
    }


def create_payments(db: Database, merchant: NewMerchant, settings: Settings, numbers: list[int]) -> None:
    caller = db.read_sync(lambda conn: authenticate(conn, merchant.test_api_key))

    def write(conn: sa.Connection) -> None:
        now = utcnow()
        for i in numbers:
            create_payment(conn, caller, NewPayment(amount=amount_for(i)), settings, now)

    db.write_sync(write)


def count_deliveries(db: Database, *where: Any) -> int:
    return int(
        db.read_sync(
            lambda conn: conn.execute(sa.select(sa.func.count()).select_from(deliveries).where(*where)).scalar_one()
        )
    )


# --- the tests ------------------------------------------------------------------------------


@pytest.mark.timeout(600)
def test_sigkilled_workers_lose_no_event(
    db: Database,
    settings: Settings,
    merchant: NewMerchant,
    database_url: str,
    backend: str,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    t0 = time.monotonic()
    seed = int(os.environ.get("CRASH_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)

    def create(numbers: list[int]) -> None:
        create_payments(db, merchant, settings, numbers)

    def create_backlog(lane: int, lanes: int) -> None:
        # Lanes take disjoint amounts, so concurrent transactions never wait on each other's codes.
        numbers = [i for i in range(UPFRONT) if amount_for(i) // 1_000 % lanes == lane]
        for start in range(0, len(numbers), 1_000):
            create(numbers[start : start + 1_000])

    def leased() -> int:
        return count_deliveries(db, deliveries.c.status == "pending", deliveries.c.claimed_until.is_not(None))

    logs = tmp_path / "worker-logs"
    logs.mkdir()
    env = worker_env(database_url, tmp_path)
    names = ["a"] if backend == "sqlite" else ["a", "b"]
    workers = [WorkerProcess(name, env, logs) for name in names]
    kills: list[dict[str, Any]] = []
    kill_times: list[float] = []
    producer_errors: list[BaseException] = []

    with FastReceiver() as receiver:
        endpoint = add_endpoint(db, merchant, receiver.url, dialect="standard")

        # A backlog, as after an outage: 9,000 events before any worker runs.
        # On PostgreSQL two connections write at once (SQLite has one writer anyway).
        lanes = 1 if backend == "sqlite" else 2
        with concurrent.futures.ThreadPoolExecutor(lanes) as pool:
            for done in [pool.submit(create_backlog, lane, lanes) for lane in range(lanes)]:
                done.result(timeout=300)
        created_in = time.monotonic() - t0

        def produce() -> None:
            # The last 1,000 arrive while workers are being killed: wake-ups (and on PostgreSQL
            # NOTIFY) must not depend on a worker having been alive at the commit.
            try:
                for start in range(UPFRONT, EVENTS, PRODUCER_BATCH):
                    create(list(range(start, min(start + PRODUCER_BATCH, EVENTS))))
            except BaseException as exc:
                producer_errors.append(exc)

        # KILLS SIGKILLs, and one SIGTERM among them (never first nor last): a clean stop in the
        # middle of the flow must drain what it holds, and leave no lease behind.
        stops = KILLS + 1
        slices = [(KILL_WINDOW[0] + (KILL_WINDOW[1] - KILL_WINDOW[0]) * k / stops) for k in range(stops + 1)]
        thresholds = [int(EVENTS * rng.uniform(lo, hi)) for lo, hi in itertools.pairwise(slices)]
        graceful = rng.randrange(1, stops - 1)
        producer = threading.Thread(target=produce, name="crash-producer", daemon=True)
        t_workers = time.monotonic()
        try:
            for worker in workers:
                worker.start()
            producer.start()
            for k, threshold in enumerate(thresholds):
                # At the threshold, and never before the restarted worker has delivered some.
                target = max(threshold, len(receiver.seen) + 100)

                def reached(t: int = target) -> bool:
                    return len(receiver.seen) >= t

                wait_for(f"{target} events received", reached, 120, workers)
                time.sleep(rng.uniform(0, 0.15))
                victim = workers[k % len(workers)]
                stop: dict[str, Any] = {
                    "at_s": round(time.monotonic() - t_workers, 2),
                    "signal": "SIGTERM" if k == graceful else "SIGKILL",
                    "worker": f"{victim.name}#{victim.runs}",
                    "received_unique": len(receiver.seen),
                    "requests": len(receiver.hits),
                }
                if k == graceful:
                    stop["exit_code"] = victim.terminate(timeout=DELIVERY_TIMEOUT + 20)
                    stop["stopped_in_s"] = round(time.monotonic() - t_workers - stop["at_s"], 2)
                    if backend == "sqlite":  # the only worker: any lease left now would be its own
                        stop["leases_left"] = leased()
                else:
                    kill_times.append(time.monotonic())
                    victim.kill()
                kills.append(stop)
                victim.start()
            producer.join(timeout=180)
            assert not producer.is_alive(), "the producer did not finish"
            assert not producer_errors, producer_errors

            # Everything reaches the receiver (on PostgreSQL, the last leases need ~35 s to run out).
            wait_for(
                "every event at the receiver",
                lambda: len(receiver.seen) >= EVENTS,
                DELIVERY_TIMEOUT + 30 + 120,
                workers,
                every=0.1,
            )
            received_in = time.monotonic() - t_workers

            wait_for(
                "every delivery recorded as succeeded",
                lambda: count_deliveries(db, deliveries.c.status != "succeeded") == 0,
                120,
                workers,
                every=0.2,
            )
            finished_in = time.monotonic() - t_workers
            # A clean stop still works after all that: SIGTERM drains and exits 0.
            exit_codes = [worker.terminate(timeout=DELIVERY_TIMEOUT + 20) for worker in workers]
        except BaseException:
            for worker in workers:
                print(f"--- worker {worker.name}, last run ---\n{worker.log_tail()}")
            raise
        finally:
            for worker in workers:
                worker.kill()
            if producer.ident is not None:
                producer.join(timeout=60)

    # --- what the receiver got ---
    counts = collections.Counter(hit.event_id for hit in receiver.hits)
    duplicates = {event_id: n for event_id, n in counts.items() if n > 1}
    duplicate_requests = sum(n - 1 for n in duplicates.values())

    def stored(
        conn: sa.Connection,
    ) -> tuple[Sequence[sa.Row[Any, Any, Any, Any]], Sequence[sa.Row[Any, Any, Any]], dict[str, str]]:
        rows = conn.execute(
            sa.select(deliveries.c.id, deliveries.c.status, deliveries.c.attempts, deliveries.c.claimed_until)
        ).all()
        tries = conn.execute(
            sa.select(delivery_attempts.c.delivery_id, delivery_attempts.c.outcome, delivery_attempts.c.status_code)
        ).all()
        ids: dict[str, str] = dict(conn.execute(sa.select(events.c.event_id, events.c.type)).all())
        return rows, tries, ids

    rows, tries, event_types = db.read_sync(stored)
    taken_back = [
        int(line.split("took back ")[1].split()[0])
        for worker in workers
        for line in worker.all_logs().splitlines()
        if "took back " in line
    ]
    summary = {
        "backend": backend,
        "seed": seed,
        "events": len(event_types),
        "deliveries": len(rows),
        "worker_processes": len(workers),
        "sigkills": sum(k["signal"] == "SIGKILL" for k in kills),
        "sigterms": sum(k["signal"] == "SIGTERM" for k in kills),
        "requests": len(receiver.hits),
        "unique_events_received": len(receiver.seen),
        "duplicate_requests": duplicate_requests,
        "events_received_more_than_once": len(duplicates),
        "attempt_rows": len(tries),
        "sqlite_leases_taken_back_on_restart": taken_back,
        "create_9000_s": round(created_in, 1),
        "workers_to_all_received_s": round(received_in, 1),
        "workers_to_all_succeeded_s": round(finished_in, 1),
        "total_s": round(time.monotonic() - t0, 1),
    }
    print(f"\ncrash test summary: {summary}")
    for kill in kills:
        print(f"  stop {kill}")
    if duplicates:
        shown = sorted(duplicates.items())[:20]
        print(f"  duplicated event ids (first {len(shown)} of {len(duplicates)}): {shown}")
    for name, value in summary.items():
        record_property(name, value)
    record_property("kill_log", kills)
    record_property("duplicated_event_ids", sorted(duplicates))

    # --- nothing lost ---
    assert len(event_types) == EVENTS
    assert set(event_types.values()) == {"payment.created"}
    lost = set(event_types) - receiver.seen
    assert not lost, f"{len(lost)} event(s) never reached the receiver, e.g. {sorted(lost)[:5]}"
    assert receiver.seen == set(event_types), "the receiver got event ids that are not in the database"
    assert [k["signal"] for k in kills].count("SIGKILL") == KILLS
    [term] = [k for k in kills if k["signal"] == "SIGTERM"]
    assert term["exit_code"] == 0, f"SIGTERM in the middle of the flow did not stop the worker cleanly: {term}"
    assert term.get("leases_left", 0) == 0, f"a clean stop left leased deliveries behind: {term}"
    assert exit_codes == [0] * len(workers), f"SIGTERM did not stop the workers cleanly: {exit_codes}"

    # --- every delivery ended succeeded, leased by no one, with exactly one successful try ---
    assert len(rows) == EVENTS
    assert collections.Counter(r.status for r in rows) == {"succeeded": EVENTS}
    assert all(r.claimed_until is None for r in rows)
    tries_per_delivery = collections.Counter(t.delivery_id for t in tries)
    successes = collections.Counter(t.delivery_id for t in tries if t.outcome == "succeeded")
    assert all(successes[r.id] == 1 for r in rows), "a delivery recorded more than one successful try"
    assert all(r.attempts == tries_per_delivery[r.id] for r in rows), "attempts column and attempt log disagree"
    assert all(t.status_code == 200 for t in tries)
    # Every recorded try was a real request (a kill can only lose records, never invent them).
    assert len(receiver.hits) >= len(tries)

    # --- no duplicate without a crash ---
    # A duplicate is a send whose record died with a SIGKILLed worker: its first copy arrived
    # before that kill (or in the moment after, from the dead worker's socket buffer), its
    # second after. None may come from the SIGTERM (it drains), nor from two live workers
    # taking the same delivery: on PostgreSQL a copy comes only once the lease has run out.
    arrivals: dict[str, list[float]] = collections.defaultdict(list)
    for hit in receiver.hits:
        if hit.event_id in duplicates:
            arrivals[hit.event_id].append(hit.at)
    lease = DELIVERY_TIMEOUT + 30
    for event_id, times in arrivals.items():
        for first, second in itertools.pairwise(times):
            assert any(first <= t + 1.5 and t <= second for t in kill_times), (
                f"{event_id} was sent twice ({second - first:.2f} s apart) with no SIGKILL in between"
            )
            if backend != "sqlite":
                assert second - first >= lease - 10, (
                    f"{event_id} was sent again {second - first:.2f} s later, before the {lease} s lease ran out"
                )

    # --- duplicates are the same message: same id, same bytes, valid signatures ---
    first_body: dict[str, bytes] = {}
    verifier = dialects.get("standard")
    for hit in receiver.hits:
        assert first_body.setdefault(hit.event_id, hit.body) == hit.body, f"{hit.event_id} changed between sends"
        received = verifier.verify(
            hit.body, hit.headers, [endpoint["secret"]], now=int(hit.headers["webhook-timestamp"])
        )
        assert received.type == "payment.created"


@pytest.mark.timeout(300)
def test_a_standby_worker_takes_over_when_the_serving_one_is_killed(
    db: Database, settings: Settings, merchant: NewMerchant, database_url: str, backend: str, tmp_path: Path
) -> None:
    """`kasir worker` on SQLite: "one worker at a time serves the queue; a second one stands by
    until the first stops" (kasir/cli/server.py). The standby must not exit, and must carry on alone
    when the serving worker is SIGKILLed."""
    if backend != "sqlite":
        pytest.skip("on PostgreSQL every worker serves; the crash test above kills them side by side")
    count = 1_000
    logs = tmp_path / "worker-logs"
    logs.mkdir()
    env = worker_env(database_url, tmp_path)
    serving = WorkerProcess("serving", env, logs)
    standby = WorkerProcess("standby", env, logs)
    with FastReceiver() as receiver:
        add_endpoint(db, merchant, receiver.url, dialect="standard")
        try:
            serving.start()
            create_payments(db, merchant, settings, [0])
            wait_for("the first worker to serve", lambda: len(receiver.seen) == 1, 60, [serving])
            standby.start()
            wait_for("the second worker to stand by", lambda: "stands by" in standby.all_logs(), 60, [serving])
            time.sleep(2)
            if standby.proc is not None and standby.proc.poll() is not None:
                raise AssertionError(
                    f"the second `kasir worker` exited (code {standby.proc.returncode}) instead of standing by "
                    f"until the first stops:\n{standby.log_tail()}"
                )
            for start in range(1, count, 250):
                create_payments(db, merchant, settings, list(range(start, min(start + 250, count))))
            wait_for("deliveries to flow", lambda: len(receiver.seen) >= count // 4, 60, [serving, standby])
            serving.kill()
            wait_for("the standby to deliver the rest", lambda: len(receiver.seen) >= count, 60, [standby], every=0.1)
            wait_for(
                "every delivery recorded as succeeded",
                lambda: count_deliveries(db, deliveries.c.status != "succeeded") == 0,
                60,
                [standby],
                every=0.2,
            )
            assert standby.terminate(timeout=DELIVERY_TIMEOUT + 20) == 0
        finally:
            serving.kill()
            standby.kill()
    assert count_deliveries(db) == count
