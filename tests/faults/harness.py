"""The fault suite's machinery: real Kasir processes, a real receiver that can misbehave, a shop
that pays over HTTP and retries as a careful client does, and the tally every scenario reports.

- ``KasirProcess`` runs ``kasir serve`` / ``kasir serve --no-worker`` / ``kasir worker`` as a
  process of its own (``python -m kasir.cli``), appending its output to a log file across
  restarts, so that it can be killed with SIGKILL and started again.
- ``FaultReceiver`` is a threaded HTTP server on a fixed loopback port: it verifies every request
  with ``standardwebhooks`` (an independent implementation of the Standard Webhooks signature),
  answers as its script says (a status, a delay, a Retry-After, a connection reset), and can go
  down (listening socket and open keep-alive connections closed) and come back on the same port.
- ``Shop`` creates payments (``POST /api/create-payment.php`` with an ``Idempotency-Key``) and pays
  them (``POST /v1/mutations``, a credit with a stable reference: a repeated reference is a
  no-op), spreading requests over API nodes and retrying transport errors and 5xx answers with
  the same key on the next node.
- ``tally`` turns what the shop had acknowledged and what the receiver accepted into the numbers
  of the issue: accepted, delivered, duplicates, lost; ``record`` writes them as JSON.

An event is identified by (invoice, event type): the API never tells a client the event id, and
"the payment.paid of invoice X" is what a merchant means by an event anyway. The receiver maps
each event id it accepts to that pair, so a second event id for one pair (an event emitted twice)
is caught too (``double_events``).
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from standardwebhooks import Webhook, WebhookVerificationError

from tests.conftest import IN_CI, TEST_SECRET_KEY, free_port
from tests.receivers import Reply, answer

REPO = Path(__file__).resolve().parents[2]
KASIR = (sys.executable, "-m", "kasir.cli")
RESULTS_DIR = Path(os.environ.get("KASIR_FAULTS_RESULTS", REPO / "test-output" / "faults"))

# The retry schedule of every scenario: a try a second, for long enough that no receiver fault
# of a scenario outlasts it (the schedule running out is the 410 scenario's business only).
RETRY_SCHEDULE = ",".join(["1"] * 120)
DELIVERY_TIMEOUT = 2.0
# What a worker killed while holding deliveries leaves behind on PostgreSQL: leases that run out
# after delivery_timeout + 30 s (kasir/delivery/worker.py), then the deliveries go again.
PG_LEASE = DELIVERY_TIMEOUT + 30


# --- size -----------------------------------------------------------------------------------------


def _read_scale() -> tuple[str, float]:
    """KASIR_FAULTS_SCALE: ``short`` (the default, part of ``make test``), ``full`` (``make
    faults``) or a number, the multiple of the short form's run length."""
    raw = os.environ.get("KASIR_FAULTS_SCALE", "short").strip().lower() or "short"
    named = {"short": 1.0, "full": 6.0}
    if raw in named:
        return raw, named[raw]
    try:
        value = float(raw)
    except ValueError:
        raise pytest.UsageError(f"KASIR_FAULTS_SCALE must be short, full or a number, not {raw!r}") from None
    if value <= 0:
        raise pytest.UsageError("KASIR_FAULTS_SCALE must be positive")
    return raw, value


SCALE_NAME, SCALE = _read_scale()
FULL = SCALE >= 2


def scaled(short: float) -> float:
    return short * SCALE


def unavailable(reason: str) -> None:
    """Skip on a developer's machine; fail in CI, where every scenario must run."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: every fault scenario must run)")
    pytest.skip(reason)


def wait_until(predicate: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(0.05)


# --- Kasir as processes ---------------------------------------------------------------------------


def kasir_env(home: Path, database_url: str | None = None, **settings: str) -> dict[str, str]:
    """The environment of a Kasir process: the caller's, without any KASIR_* setting of the
    developer's (nor the suite's own knobs), plus what the scenario sets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KASIR_")}
    env.update(
        PYTHONUNBUFFERED="1",
        KASIR_HOME=str(home),
        KASIR_PLATFORM_QRIS="demo",
        KASIR_WEBHOOK_ALLOW_PRIVATE_NETWORKS="1",
        KASIR_RATE_LIMIT="0",
        # The suite's key: the secrets its nodes store are encrypted with it (docs/deploy.md).
        KASIR_SECRET_KEY=TEST_SECRET_KEY,
        KASIR_DELIVERY_TIMEOUT=str(DELIVERY_TIMEOUT),
        KASIR_DELIVERY_RETRY_SCHEDULE=RETRY_SCHEDULE,
        KASIR_WORKER_POLL_INTERVAL="0.5",
    )
    if database_url is not None:
        env["KASIR_DATABASE_URL"] = database_url
    env.update(settings)
    return env


def kasir_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([*KASIR, *args], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"kasir {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


class KasirProcess:
    """One Kasir command as a process that can be killed and started again. Its output, across
    restarts, goes to ``log``."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.args = args
        self.env = env
        self.log = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.kills = 0
        self._log_offset = 0

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> KasirProcess:
        assert not self.alive, f"{self.name} is running already"
        self.starts += 1
        with self.log.open("ab") as out:
            out.write(f"\n=== {self.name}: start {self.starts} at {time.strftime('%H:%M:%S')} ===\n".encode())
            out.flush()
            self._log_offset = out.tell()
            self.process = subprocess.Popen([*KASIR, *self.args], env=self.env, stdout=out, stderr=subprocess.STDOUT)
        return self

    def output(self, *, this_run: bool = False) -> str:
        if not self.log.exists():
            return ""
        with self.log.open("rb") as f:
            if this_run:
                f.seek(self._log_offset)
            return f.read().decode("utf-8", "replace")

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def wait_for_output(self, text: str, timeout: float = 30) -> None:
        def seen() -> bool:
            if not self.alive:
                raise AssertionError(f"{self.name} exited with {self.returncode()}:\n{self.tail()}")
            return text in self.output(this_run=True)

        wait_until(seen, f"{self.name} printing {text!r}", timeout)

    def wait_healthy(self, base: str, timeout: float = 30) -> None:
        def healthy() -> bool:
            if not self.alive:
                raise AssertionError(f"{self.name} exited with {self.returncode()}:\n{self.tail()}")
            try:
                return requests.get(f"{base}/health", timeout=1).ok
            except requests.RequestException:
                return False

        wait_until(healthy, f"{self.name} answering {base}/health", timeout)

    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def kill(self) -> None:
        """SIGKILL: no drain, no cleanup, exactly what a crash or the OOM killer does."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.kills += 1

    def stop(self) -> None:
        """SIGTERM (a graceful stop), SIGKILL if it has not exited after 20 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@contextlib.contextmanager
def processes(*procs: KasirProcess) -> Iterator[None]:
    """Whatever happens in the block, every process is stopped after it."""
    try:
        yield
    finally:
        for proc in procs:
            proc.stop()


def serve(name: str, env: dict[str, str], log_dir: Path, *, worker: bool = True) -> tuple[KasirProcess, str]:
    port = free_port()
    args = ["serve", "--port", str(port), "--log-level", "warning", "--create"]
    if not worker:
        args.append("--no-worker")
    return KasirProcess(name, args, env, log_dir), f"http://127.0.0.1:{port}"


def worker(name: str, env: dict[str, str], log_dir: Path) -> KasirProcess:
    return KasirProcess(name, ["worker", "--create"], env, log_dir)


WORKER_READY = "Kasir worker delivering"


# --- the receiver ---------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    # The standard library's listen backlog is 5: a burst of new connections would wait for SYN
    # retransmits (1 s, 3 s), a slowness of the test's making. A web server's is 511.
    request_queue_size = 512
    daemon_threads = True


Script = Callable[[str, int], Reply]  # (event id, this request's number for that event id) -> answer


class FaultReceiver:
    """A webhook receiver on a fixed loopback port that verifies, records and misbehaves.

    It accepts an event (answers 2xx) only with a valid signature; "delivered" means it accepted
    the event at least once, recorded before the answer is written, so an event counts as
    delivered when the receiver had it even if the worker gave up waiting for the answer."""

    def __init__(self, script: Script | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.script: Script = script or (lambda _event, _n: Reply())
        self.secret: str | None = None
        self.lock = threading.Lock()
        self.requests = 0
        self.invalid = 0
        self.faulty = 0  # answers that were not a timely 2xx: an error status, a reset, too slow
        self.answered = 0  # requests whose answer (or reset) has been written
        self.downs = 0
        self.tries: collections.Counter[str] = collections.Counter()
        self.times: dict[str, list[float]] = collections.defaultdict(list)
        self.accepted: collections.Counter[str] = collections.Counter()
        self.keys: dict[str, tuple[str, str]] = {}
        self._connections: set[socket.socket] = set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- up and down ---------------------------------------------------------------------------

    @property
    def is_up(self) -> bool:
        return self._server is not None

    def up(self) -> None:
        assert self._server is None
        deadline = time.monotonic() + 10
        while True:
            try:
                server = _Server(("127.0.0.1", self.port), self._handler())
                break
            except OSError:  # the port lingers a moment after a close; it is ours again soon
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        server.handle_error = lambda *_args: None  # type: ignore[method-assign]  # clients that gave up
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def down(self) -> None:
        """Port closed: new connections are refused, and open keep-alive ones are cut."""
        server, self._server = self._server, None
        if server is None:
            return
        self.downs += 1
        server.shutdown()
        server.server_close()
        with self.lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> FaultReceiver:
        self.up()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.down()

    # -- what it saw ---------------------------------------------------------------------------

    def delivered_keys(self) -> set[tuple[str, str]]:
        with self.lock:
            return {self.keys[event_id] for event_id in self.accepted}

    def duplicates(self) -> int:
        with self.lock:
            return sum(count - 1 for count in self.accepted.values())

    def double_events(self) -> int:
        """(invoice, type) pairs that arrived under more than one event id: an event emitted
        twice for one change, which no receiver-side de-duplication by event id could catch."""
        with self.lock:
            per_key = collections.Counter(self.keys[event_id] for event_id in self.accepted)
        return sum(1 for count in per_key.values() if count > 1)

    # -- serving -------------------------------------------------------------------------------

    def _handle(self, headers: dict[str, str], body: bytes) -> Reply:
        with self.lock:
            self.requests += 1
            secret = self.secret
        try:
            assert secret is not None, "the receiver got a request before it knew its secret"
            payload = Webhook(secret).verify(body, headers)
        except (WebhookVerificationError, AssertionError, ValueError):
            with self.lock:
                self.invalid += 1
            return Reply(status=401, body=b'{"error":"bad signature"}')
        event_id = headers["webhook-id"]
        data = payload.get("data") or {}
        key = (str(data.get("invoice_id") or data.get("endpoint_id") or "?"), str(payload.get("type")))
        with self.lock:
            self.tries[event_id] += 1
            number = self.tries[event_id]
            self.times[event_id].append(time.monotonic())
        reply = self.script(event_id, number)
        with self.lock:
            if 200 <= reply.status < 300 and not reply.reset:
                self.accepted[event_id] += 1
                self.keys[event_id] = key
            if reply.reset or not 200 <= reply.status < 300 or reply.delay >= DELIVERY_TIMEOUT:
                self.faulty += 1
        return reply

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with receiver.lock:
                    receiver._connections.add(self.connection)

            def finish(self) -> None:
                with receiver.lock:
                    receiver._connections.discard(self.connection)
                with contextlib.suppress(OSError):
                    super().finish()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                reply = receiver._handle({k.lower(): v for k, v in self.headers.items()}, body)
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    answer(self, reply)
                finally:
                    with receiver.lock:
                        receiver.answered += 1

            def log_message(self, *_args: Any) -> None:
                return

        return Handler


def per_event(*replies: Reply) -> Script:
    """The n-th request for each event gets the n-th reply; the last one repeats."""
    return lambda _event, number: replies[min(number, len(replies)) - 1]


# --- the shop: a careful API client ---------------------------------------------------------------

Key = tuple[str, str]  # (invoice id, event type)


def amount_for(i: int) -> int:
    """Amounts 1,000 rupiah apart, so no two payments of a run compete for a unique code unless
    400 of them are pending at once."""
    return 1_000 * (10 + i % 400)


@dataclass
class Shop:
    """Creates and pays payments over HTTP, as a careful merchant integration does: every
    request that may have been applied is retried with the same Idempotency-Key (or, for the
    credit, the same reference) until Kasir answers, on the next API node when one is down."""

    nodes: list[str]
    api_key: str
    run: str
    give_up_after: float = 120.0
    retry_server_errors: bool = True
    accepted: set[Key] = field(default_factory=set)
    invoices: dict[int, str] = field(default_factory=dict)
    final_amounts: dict[int, int] = field(default_factory=dict)
    paid: set[int] = field(default_factory=set)
    attempted: set[int] = field(default_factory=set)
    server_errors: list[tuple[int, str]] = field(default_factory=list)  # (status, body) of 5xx answers
    bad_errors: list[str] = field(default_factory=list)  # answers that broke the error contract
    refused: list[str] = field(default_factory=list)  # 4xx: Kasir said no for good
    transport_errors: int = 0
    inflight: collections.Counter[str] = field(default_factory=collections.Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _local: threading.local = field(default_factory=threading.local)

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.headers["X-API-Key"] = self.api_key
        return session

    def idempotency_key(self, i: int) -> str:
        return f"{self.run}-{i}"

    def call(self, path: str, body: dict[str, Any], prefer: int, headers: dict[str, str] | None = None) -> Any:
        """POST until a 2xx (its JSON) or a 4xx (None); 5xx and transport errors are retried,
        node after node. None also when ``give_up_after`` passes or server errors are not
        retried."""
        deadline = time.monotonic() + self.give_up_after
        for attempt in itertools.count():
            base = self.nodes[(prefer + attempt) % len(self.nodes)]
            with self._lock:
                self.inflight[base] += 1
            try:
                response = self._session().post(base + path, json=body, headers=headers, timeout=15)
            except requests.RequestException:
                with self._lock:
                    self.transport_errors += 1
                self._local.session = None  # a connection to a dead node is no use
                response = None
            finally:
                with self._lock:
                    self.inflight[base] -= 1
            if response is not None:
                if response.ok:
                    return response.json()
                self._check_error(response)
                if response.status_code < 500:
                    with self._lock:
                        self.refused.append(f"{path}: {response.status_code} {response.text[:300]}")
                    return None
                if not self.retry_server_errors:
                    return None
            if time.monotonic() > deadline:
                return None
            time.sleep(min(0.05 * 2 ** min(attempt, 4), 0.5))
        raise AssertionError("unreachable")

    def _check_error(self, response: requests.Response) -> None:
        """Every refusal is Kasir's JSON error, never an HTML page or a traceback."""
        problem = None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            problem = "not a JSON object"
        elif body.get("success") is not False or not isinstance(body.get("error"), str) or not body.get("code"):
            problem = "not {success: false, error, code}"
        elif "Traceback" in response.text or "<html" in response.text.lower():
            problem = "a traceback or an HTML page"
        with self._lock:
            if response.status_code >= 500:
                self.server_errors.append((response.status_code, response.text[:500]))
            if problem is not None:
                self.bad_errors.append(f"{response.status_code} {problem}: {response.text[:300]!r}")

    def create(self, i: int) -> bool:
        answer = self.call(
            "/api/create-payment.php",
            {"amount": amount_for(i), "description": f"faults {self.idempotency_key(i)}"},
            prefer=i,
            headers={"Idempotency-Key": self.idempotency_key(i)},
        )
        if answer is None:
            return False
        payment = answer["payment"]
        with self._lock:
            self.invoices[i] = payment["invoice_id"]
            self.final_amounts[i] = payment["final_amount"]
            self.accepted.add((payment["invoice_id"], "payment.created"))
        return True

    def pay(self, i: int) -> bool:
        invoice = self.invoices[i]
        answer = self.call(
            "/v1/mutations",
            {"channel": "qris", "amount": self.final_amounts[i], "reference": f"ref-{self.idempotency_key(i)}"},
            prefer=i + 1,
        )
        if answer is None:
            return False
        [mutation] = answer["mutations"]
        # A retried credit answers duplicate=true with the payment it paid the first time.
        if mutation["status"] != "matched" or mutation["invoice_id"] != invoice:
            with self._lock:
                self.refused.append(f"credit for {invoice} not matched to it: {mutation}")
            return False
        with self._lock:
            self.paid.add(i)
            self.accepted.add((invoice, "payment.paid"))
        return True

    def buy(self, i: int) -> None:
        with self._lock:
            self.attempted.add(i)
        if i not in self.invoices and not self.create(i):
            return
        if i not in self.paid:
            self.pay(i)

    def run_load(
        self, count: int, rate: float, threads: int = 4, first: int = 0, stop: threading.Event | None = None
    ) -> None:
        """Payments ``first`` … ``first + count - 1``, started at ``rate`` per second; none is
        started once ``stop`` is set (those started are seen through)."""
        numbers = iter(range(first, first + count))
        lock = threading.Lock()
        started = time.monotonic()

        def client() -> None:
            while True:
                with lock:
                    i = next(numbers, None)
                if i is None:
                    return
                delay = started + (i - first) / rate - time.monotonic()
                if delay > 0 and stop is not None:
                    stop.wait(delay)
                elif delay > 0:
                    time.sleep(delay)
                if stop is not None and stop.is_set():
                    return
                self.buy(i)

        pool = [threading.Thread(target=client, daemon=True) for _ in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()

    def load_in_background(
        self, count: int, rate: float, threads: int = 4, stop: threading.Event | None = None
    ) -> threading.Thread:
        thread = threading.Thread(target=self.run_load, args=(count, rate, threads, 0, stop), daemon=True)
        thread.start()
        return thread

    def server_error_codes(self) -> dict[str, int]:
        """How many 5xx answers of each kind: ``"503 database_unavailable": 3``."""
        counted: collections.Counter[str] = collections.Counter()
        with self._lock:
            for status, body in self.server_errors:
                try:
                    code = json.loads(body).get("code")
                except ValueError:
                    code = "not JSON"
                counted[f"{status} {code}"] += 1
        return dict(counted)

    def check_all_paid(self) -> int:
        """Every payment the shop started was acknowledged, created and paid; their number."""
        assert set(self.invoices) == self.paid, f"payments never paid: {sorted(set(self.invoices) - self.paid)[:5]}"
        return len(self.paid)


def open_shop(env: dict[str, str], nodes: list[str], run: str) -> Shop:
    """A new merchant (``kasir merchant create``) and a shop that uses its test key."""
    kasir_cli("migrate", env=env)  # a no-op when a node made the database already
    made = json.loads(kasir_cli("merchant", "create", "--name", "Toko Faults", "--json", env=env).stdout)
    return Shop(nodes=nodes, api_key=made["test_api_key"], run=run)


def add_endpoint(shop: Shop, receiver: FaultReceiver, event_types: tuple[str, ...] | None = ("payment.*",)) -> str:
    """A Standard Webhooks endpoint pointing at the receiver (``POST /v1/endpoints``); its id."""
    response = requests.post(
        f"{shop.nodes[0]}/v1/endpoints",
        json={"url": receiver.url, "dialect": "standard", "event_types": list(event_types) if event_types else None},
        headers={"X-API-Key": shop.api_key},
        timeout=15,
    )
    assert response.status_code == 201, response.text
    endpoint = response.json()["endpoint"]
    receiver.secret = endpoint["secret"]
    return str(endpoint["id"])


def run_id() -> str:
    return f"r{os.getpid()}x{random.randrange(16**6):06x}"


# --- results --------------------------------------------------------------------------------------


@dataclass
class Tally:
    accepted: int
    delivered: int
    duplicates: int
    lost: list[Key]
    double_events: int
    invalid_signatures: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "delivered": self.delivered,
            "duplicates": self.duplicates,
            "lost": len(self.lost),
            "double_events": self.double_events,
            "invalid_signatures": self.invalid_signatures,
        }


def tally(shop: Shop, receiver: FaultReceiver) -> Tally:
    with shop._lock:
        accepted = set(shop.accepted)
    delivered = receiver.delivered_keys()
    return Tally(
        accepted=len(accepted),
        delivered=len(accepted & delivered),
        duplicates=receiver.duplicates(),
        lost=sorted(accepted - delivered),
        double_events=receiver.double_events(),
        invalid_signatures=receiver.invalid,
    )


def wait_delivered(
    shop: Shop, receiver: FaultReceiver, timeout: float, *, alive: Callable[[], None] | None = None
) -> Tally:
    """Until every accepted event is delivered (or the timeout; the tally says what is left)."""
    deadline = time.monotonic() + timeout
    while True:
        counted = tally(shop, receiver)
        if not counted.lost or time.monotonic() > deadline:
            return counted
        if alive is not None:
            alive()
        time.sleep(0.1)


def settle(url: str, timeout: float) -> int:
    """Until Kasir's own books say every delivery succeeded (a delivery the receiver has may
    still be pending there: sent by a worker that died before recording it, and to be sent again
    when its lease runs out). Returns how many are still not succeeded at the end."""
    deadline = time.monotonic() + timeout
    while True:
        left = int(scalar(url, "SELECT count(*) FROM deliveries WHERE status <> 'succeeded'"))
        if left == 0 or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def record(scenario: str, counted: Tally, started: float, **details: Any) -> dict[str, Any]:
    """One scenario's numbers, as test-output/faults/<scenario>.json and in the session summary."""
    result = {
        "scenario": scenario,
        "scale": SCALE_NAME,
        **counted.as_dict(),
        "seconds": round(time.monotonic() - started, 1),
        **details,
    }
    if counted.lost:
        result["lost_events"] = [f"{invoice} {kind}" for invoice, kind in counted.lost[:50]]
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"{scenario}.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def assert_no_loss(shop: Shop, counted: Tally) -> None:
    assert not counted.lost, f"{len(counted.lost)} accepted event(s) never delivered, e.g. {counted.lost[:5]}"
    assert counted.double_events == 0, "an event was emitted twice for one change"
    assert counted.invalid_signatures == 0, "the receiver got requests with a bad signature"
    assert not shop.bad_errors, f"answers that broke the error contract: {shop.bad_errors[:5]}"
    assert not shop.refused, f"requests Kasir refused for good: {shop.refused[:5]}"


# --- the database, from outside -------------------------------------------------------------------


def sa_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url


def scalar(url: str, sql: str, **params: Any) -> Any:
    engine = sa.create_engine(sa_url(url))
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()
    finally:
        engine.dispose()


def rows(url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    engine = sa.create_engine(sa_url(url))
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(sql), params)]
    finally:
        engine.dispose()
