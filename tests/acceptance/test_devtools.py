"""`kasir trigger` and `kasir listen` (issue 7), run as a developer runs them: real processes.

- ``kasir trigger`` → ``kasir listen`` in every dialect: listen verifies, prints the event type and
  id, answers; a wrong secret gets 401 and listen prints REFUSED with the exception's name;
  ``--status 500`` makes trigger print 500 and exit 1; ``--forward-to`` hands the request, body
  and headers unchanged, to a small local app (a thread here) and answers what the app answered.
- ``kasir listen --server --api-key`` against a real ``kasir serve``: registers a temporary
  endpoint (GET /v1/endpoints shows it, with ``expires_at``), prints the payment.created and
  payment.paid of a payment created and paid through the API, and deletes the endpoint on SIGINT.
- The seed receivers (PHP of seeds 000 and 004, Flask and Express of seed 002), started by
  test_seed_receivers.py's harness, accept ``kasir trigger`` in their dialect with the secret they
  are configured with, and refuse it signed with another.

Nothing here needs a database except the ``--server`` test, which runs on both backends.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from kasir import dialects
from kasir.merchants.keys import new_webhook_secret
from tests.acceptance.test_seed_receivers import (
    WAIT,
    bayargg_receiver,
    ilenpay_receiver,
    isikuota_express_receiver,
    isikuota_flask_receiver,
    json_lines,
    wait_until,
)
from tests.conftest import free_port

KASIR = (sys.executable, "-m", "kasir.cli")
DIALECTS = ("bayargg", "standard", "digiflazz", "ilenpay", "isikuota", "xendit")
EVENT = "payment.paid"  # every dialect has a name for it (isikuota has none for payment.created)
# One request as listen prints it: `10:24:21 POST / verified payment.paid evt_… → 200`.
STATUS_LINE = re.compile(r"^\d\d:\d\d:\d\d (\S+) (\S+) (verified|REFUSED|not verified) (\S+) (\S*) → (\d{3})$")
TRIGGER_ANSWER = re.compile(r"^(\d{3}) in \d+ ms$", re.MULTILINE)


# --- running the CLI ------------------------------------------------------------------------------


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a developer's shell without Kasir's settings, at a fixed width, with no
    forced colours: what rich prints is then the same on every machine."""
    drop = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KASIR_") and k not in drop}
    return {**env, "COLUMNS": "80", **extra}


def kasir(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*KASIR, *args], env=env or cli_env(), capture_output=True, text=True, timeout=60, check=False
    )


@dataclass(frozen=True)
class Triggered:
    """`kasir trigger … --json`: its exit code and what it sent and got back."""

    exit_code: int
    headers: dict[str, str]
    body: bytes
    status: int
    answer: str

    @property
    def payload(self) -> dict[str, Any]:
        return dict(json.loads(self.body))

    @property
    def answer_json(self) -> Any:
        return json.loads(self.answer)


def trigger(url: str, dialect: str, secret: str, event: str = EVENT) -> Triggered:
    done = kasir("trigger", event, "--url", url, "--dialect", dialect, "--secret", secret, "--json")
    assert done.stdout, done.stderr
    out = json.loads(done.stdout)
    assert out["secret"] == secret
    request, response = out["request"], out["response"]
    return Triggered(
        done.returncode, request["headers"], request["body"].encode(), response["status"], response["body"]
    )


def event_id(dialect: str, sent: Triggered) -> str:
    """Where each dialect carries the event id (README: webhook-id, X-Webhook-Id, trx_id, event_id)."""
    headers = {name.lower(): value for name, value in sent.headers.items()}
    payload = sent.payload
    match dialect:
        case "bayargg":
            assert payload["event_id"] == headers["x-webhook-id"]
            return headers["x-webhook-id"]
        case "standard" | "xendit":
            return headers["webhook-id"]
        case "digiflazz":
            return str(payload["data"]["trx_id"])
        case "ilenpay":
            return str(payload["data"]["hash"])
        case "isikuota":
            return str(payload["event_id"])
    raise AssertionError(f"no event id rule for {dialect}")


@dataclass(frozen=True)
class Seen:
    """One request in listen's output: its status line, and the reason under a refusal."""

    method: str
    path: str
    verdict: str
    event_type: str
    event_id: str
    answered: int
    reason: str


@dataclass
class Listening:
    process: subprocess.Popen[bytes]
    log: Path
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def seen(self) -> list[Seen]:
        lines = self.output().splitlines()
        found = []
        for number, line in enumerate(lines):
            if match := STATUS_LINE.match(line):
                method, path, verdict, event_type, seen_id, answered = match.groups()
                after = lines[number + 1].strip() if number + 1 < len(lines) else ""
                reason = after if verdict == "REFUSED" else ""
                found.append(Seen(method, path, verdict, event_type, seen_id, int(answered), reason))
        return found

    def wait_for(self, predicate: Callable[[list[Seen]], bool], what: str) -> list[Seen]:
        wait_until(lambda: predicate(self.seen()), f"kasir listen printing {what}:\n{self.output()}")
        return self.seen()

    def next_seen(self, before: int) -> Seen:
        """The one request listen printed after the first ``before`` (each test sends one at a time)."""
        [one] = self.wait_for(lambda seen: len(seen) > before, "a request")[before:]
        return one


@contextmanager
def sigint_delivered() -> Iterator[None]:
    """A child inherits an ignored SIGINT (pytest started in the background of a shell, say),
    and Python then never raises KeyboardInterrupt: have the child start with the default."""
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        if previous is signal.SIG_IGN:
            signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def listening(folder: Path, *options: str, env: dict[str, str] | None = None) -> Iterator[Listening]:
    """`kasir listen --port P …` in a process of its own, once it says it is listening; killed if
    still running at the end (the --server test stops it with SIGINT itself)."""
    port = free_port()
    log = folder / f"listen-{port}.log"
    with log.open("wb") as output, sigint_delivered():
        process = subprocess.Popen(
            [*KASIR, "listen", "--port", str(port), *options],
            env=env or cli_env(),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    listener = Listening(process, log, port)
    try:

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"kasir listen exited with {process.returncode}:\n{listener.output()}")
            return "kasir listen on http://127.0.0.1:" in listener.output()

        wait_until(ready, "kasir listen starting")
        yield listener
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


# --- a small local app (the --forward-to target) -------------------------------------------------


@dataclass(frozen=True)
class AppRequest:
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        assert len(values) <= 1, (name, values)
        return values[0] if values else None


@dataclass
class App:
    """Records every request; answers ``routes[path]`` or else ``answer``: (status, headers, body)."""

    answer: tuple[int, dict[str, str], bytes]
    routes: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    requests: list[AppRequest] = field(default_factory=list)
    url: str = ""


@contextmanager
def local_app(
    status: int = 202,
    body: bytes = b'{"handled_by":"the app"}',
    routes: dict[str, tuple[int, dict[str, str], bytes]] | None = None,
) -> Iterator[App]:
    app = App((status, {"Content-Type": "application/json"}, body), routes or {})

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            received = self.rfile.read(length) if length else b""
            app.requests.append(AppRequest(self.command, self.path, list(self.headers.items()), received))
            code, headers, reply = app.routes.get(self.path, app.answer)
            self.send_response(code)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        do_GET = do_POST = do_PUT = _any

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield app
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


# --- trigger → listen, in every dialect ---------------------------------------------------------


def test_the_dialects_are_the_ones_the_issue_names() -> None:
    assert set(dialects.REGISTRY) == set(DIALECTS)


@pytest.fixture(scope="module", params=DIALECTS)
def verifying(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One `kasir listen --dialect D --secret S` per dialect, for the tests that send it one request
    each: (dialect, secret, listener)."""
    dialect, secret = str(request.param), new_webhook_secret()
    with listening(tmp_path_factory.mktemp(f"listen-{dialect}"), "--dialect", dialect, "--secret", secret) as listener:
        yield dialect, secret, listener


def test_listen_verifies_what_trigger_sends(verifying: tuple[str, str, Listening]) -> None:
    dialect, secret, listener = verifying
    before = len(listener.seen())
    sent = trigger(listener.url, dialect, secret)
    assert (sent.exit_code, sent.status) == (0, 200), sent.answer
    assert sent.answer_json == {"received": True}
    seen = listener.next_seen(before)
    assert seen == Seen("POST", "/", "verified", EVENT, event_id(dialect, sent), 200, "")
    invoice = json.loads(sent.body).get("invoice_id") or str(sent.payload["data"]["invoice_id"])
    assert invoice in listener.output()  # the body is printed too


def test_listen_refuses_a_wrong_secret_with_401(verifying: tuple[str, str, Listening]) -> None:
    dialect, _secret, listener = verifying
    before = len(listener.seen())
    done = kasir("trigger", EVENT, "--url", listener.url, "--dialect", dialect, "--secret", new_webhook_secret())
    assert done.returncode == 1, done.stdout + done.stderr
    assert TRIGGER_ANSWER.findall(done.stdout) == ["401"], done.stdout
    assert "webhook refused: InvalidSignature" in done.stdout  # listen's answer, printed by trigger
    seen = listener.next_seen(before)
    assert (seen.verdict, seen.answered) == ("REFUSED", 401)
    assert seen.reason.startswith("InvalidSignature: "), listener.output()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_status_500_makes_trigger_print_500_and_exit_1(dialect: str, tmp_path: Path) -> None:
    secret = new_webhook_secret()
    with listening(tmp_path, "--dialect", dialect, "--secret", secret, "--status", "500") as listener:
        done = kasir("trigger", EVENT, "--url", listener.url, "--dialect", dialect, "--secret", secret)
        [seen] = listener.wait_for(bool, "the request")
    assert done.returncode == 1, done.stdout + done.stderr
    assert TRIGGER_ANSWER.findall(done.stdout) == ["500"], done.stdout
    assert (seen.verdict, seen.event_type, seen.answered) == ("verified", EVENT, 500)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_forward_to_hands_the_request_on_and_answers_what_the_app_answered(dialect: str, tmp_path: Path) -> None:
    secret = new_webhook_secret()
    with (
        local_app(status=202, body=b'{"handled_by":"the app"}') as app,
        listening(
            tmp_path, "--dialect", dialect, "--secret", secret, "--forward-to", f"{app.url}/webhooks/kasir"
        ) as listener,
    ):
        sent = trigger(listener.url, dialect, secret)
        [seen] = listener.wait_for(bool, "the request")
    assert (sent.exit_code, sent.status, sent.answer) == (0, 202, '{"handled_by":"the app"}')
    assert (seen.verdict, seen.event_type, seen.answered) == ("verified", EVENT, 202)
    [got] = app.requests
    assert (got.method, got.path) == ("POST", "/webhooks/kasir")
    assert got.body == sent.body
    for name, value in sent.headers.items():
        assert got.header(name) == value, (name, got.headers)


def test_forward_to_appends_the_path_and_answers_502_when_the_app_is_down(tmp_path: Path) -> None:
    """docs/receiving.md: any path but / is appended to the --forward-to URL; an app that cannot be
    reached makes the answer 502."""
    secret = new_webhook_secret()
    with local_app(status=200, body=b"ok") as app:
        app_url = app.url
        with listening(tmp_path, "--secret", secret, "--forward-to", f"{app_url}/hooks") as listener:
            sent = trigger(f"{listener.url}kasir?source=trigger", "bayargg", secret)
            assert (sent.exit_code, sent.status, sent.answer) == (0, 200, "ok")
            assert [(r.method, r.path, r.body) for r in app.requests] == [
                ("POST", "/hooks/kasir?source=trigger", sent.body)
            ]
            app.requests.clear()
            app.answer = (503, {"Content-Type": "text/plain"}, b"down for maintenance")
            refused = trigger(listener.url, "bayargg", secret)  # an app's error answer comes back too
            assert (refused.exit_code, refused.status, refused.answer) == (1, 503, "down for maintenance")
    with listening(tmp_path, "--secret", secret, "--forward-to", f"{app_url}/hooks") as listener:
        unreachable = trigger(listener.url, "bayargg", secret)
        [seen] = listener.wait_for(bool, "the request")
    assert (unreachable.exit_code, unreachable.status) == (1, 502)
    assert "failed" in unreachable.answer_json["error"]
    assert (seen.verdict, seen.answered) == ("verified", 502)


# --- listen --server: a temporary endpoint on a running Kasir -----------------------------------


@pytest.fixture
def kasir_server(database_url: str, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """`kasir serve` (API and worker) on the test database, allowed to call loopback listeners."""
    env = cli_env(
        KASIR_HOME=str(tmp_path / "home"),
        KASIR_DATABASE_URL=database_url,
        KASIR_PLATFORM_QRIS="demo",
        KASIR_WEBHOOK_ALLOW_PRIVATE_NETWORKS="1",
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        server = subprocess.Popen(
            [*KASIR, "serve", "--port", str(port), "--log-level", "warning"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:

        def healthy() -> bool:
            if server.poll() is not None:
                raise AssertionError(f"kasir serve exited with {server.returncode}:\n{log.read_text()}")
            try:
                return requests.get(f"{base}/health", timeout=1).ok
            except requests.ConnectionError:
                return False

        wait_until(healthy, "kasir serve answering /health", timeout=30)
        yield base, env
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


def test_listen_registers_on_a_running_kasir_prints_its_events_and_unregisters_on_sigint(
    kasir_server: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    base, server_env = kasir_server
    made = kasir("merchant", "create", "--name", "Toko Listen", "--json", env=server_env)
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)["test_api_key"]
    api = requests.Session()
    api.headers["X-API-Key"] = key

    # The listener needs nothing of the server's configuration: only its URL and a test key.
    with listening(tmp_path, "--server", base, "--api-key", key, "--dialect", "standard") as listener:
        registered = re.findall(r"^registered endpoint (\S+) on ", listener.output(), re.MULTILINE)
        assert len(registered) == 1, listener.output()
        endpoint_id = registered[0]

        listed = api.get(f"{base}/v1/endpoints", timeout=10)
        assert listed.status_code == 200, listed.text
        [endpoint] = [e for e in listed.json()["data"] if e["id"] == endpoint_id]
        assert (endpoint["url"], endpoint["dialect"], endpoint["enabled"]) == (listener.url, "standard", True)
        assert endpoint["event_types"] is None  # every event type
        assert endpoint["expires_at"] is not None
        left = datetime.fromisoformat(endpoint["expires_at"]) - datetime.now(UTC)
        assert timedelta(minutes=50) < left <= timedelta(hours=1), endpoint

        created = api.post(f"{base}/api/create-payment.php", data={"amount": "50000"}, timeout=10)
        assert created.status_code == 200, created.text
        invoice = created.json()["payment"]["invoice_id"]
        paid = api.post(f"{base}/v1/sandbox/payments/{invoice}/pay", timeout=10)
        assert paid.status_code == 200, paid.text
        assert paid.json()["payment"]["status"] == "paid"

        wanted = {"payment.created", "payment.paid"}
        seen = listener.wait_for(
            lambda seen: wanted <= {s.event_type for s in seen if s.verdict == "verified"},
            "verified payment.created and payment.paid",
        )
        assert sorted((s.method, s.path, s.verdict, s.event_type, s.answered) for s in seen) == [
            ("POST", "/", "verified", "payment.created", 200),
            ("POST", "/", "verified", "payment.paid", 200),
        ], listener.output()
        assert invoice in listener.output()
        events = api.get(f"{base}/v1/events", timeout=10).json()["data"]
        assert {(s.event_type, s.event_id) for s in seen} <= {(e["type"], e["id"]) for e in events}

        listener.process.send_signal(signal.SIGINT)  # Ctrl+C
        listener.process.wait(timeout=WAIT)
        output = listener.output()

    assert f"removed endpoint {endpoint_id}" in output, output
    assert "Traceback" not in output, output
    after = api.get(f"{base}/v1/endpoints", timeout=10)
    assert after.status_code == 200, after.text
    assert endpoint_id not in [e["id"] for e in after.json()["data"]]
    assert api.get(f"{base}/v1/endpoints/{endpoint_id}", timeout=10).status_code == 404


# --- the seed receivers accept `kasir trigger` ---------------------------------------------------
# Each is started by test_seed_receivers.py's harness, with the secret it is configured with. The
# wrong secret goes first, so that the evidence after the right one is the right one's doing.


def test_seed_004_bayargg_php_receiver_accepts_trigger(tmp_path: Path) -> None:
    secret = new_webhook_secret()
    with bayargg_receiver(tmp_path, secret) as url:
        wrong = trigger(url, "bayargg", new_webhook_secret())
        right = trigger(url, "bayargg", secret)
    assert (wrong.exit_code, wrong.status, wrong.answer_json) == (1, 401, {"error": "Invalid signature"})
    # Valid signature, status paid: the printed code's "Update order status" branch.
    assert (right.exit_code, right.status, right.answer_json) == (0, 200, {"success": True})


def test_seed_000_ilenpay_php_receiver_accepts_trigger(tmp_path: Path) -> None:
    secret = new_webhook_secret()
    with ilenpay_receiver(tmp_path, secret) as (url, log):
        wrong = trigger(url, "ilenpay", new_webhook_secret())
        # The printed code answers 200 either way; refusing is not writing its log.
        assert (wrong.exit_code, wrong.status) == (0, 200)
        assert not log.exists(), "a wrong signature was logged as valid"
        right = trigger(url, "ilenpay", secret)
        assert (right.exit_code, right.status) == (0, 200)
        assert log.read_bytes() == right.body  # written only when X-Ilen-Signature matches
    assert right.payload["data"]["status"] == "PAID"


def test_seed_002_isikuota_express_receiver_accepts_trigger(tmp_path: Path) -> None:
    secret = new_webhook_secret()
    with isikuota_express_receiver(tmp_path, secret) as (url, calls):
        wrong = trigger(url, "isikuota", new_webhook_secret())
        right = trigger(url, "isikuota", secret)
        # The snippet answers first and processes after: updateOrder may come a moment later.
        wait_until(lambda: bool(json_lines(calls)), "updateOrder called")
    assert (wrong.exit_code, wrong.status, wrong.answer_json) == (1, 401, {"error": "Invalid signature"})
    assert (right.exit_code, right.status, right.answer_json) == (0, 200, {"status": "ok"})
    data = right.payload["data"]
    assert json_lines(calls) == [[data["invoice_id"], "success", data["paid_reff_num"]]]  # once: not for the wrong one


def test_seed_002_isikuota_flask_receiver_accepts_trigger() -> None:
    secret = new_webhook_secret()
    with isikuota_flask_receiver(secret) as (url, process_event):
        wrong = trigger(url, "isikuota", new_webhook_secret())
        assert process_event.calls == []
        right = trigger(url, "isikuota", secret)
    assert (wrong.exit_code, wrong.status, wrong.answer_json) == (1, 401, {"error": "Invalid signature"})
    assert (right.exit_code, right.status, right.answer_json) == (0, 200, {"status": "ok"})
    [(event, data)] = process_event.calls
    sample = right.payload["data"]
    assert (event, data["ref_id"], data["sn"]) == ("order.success", sample["invoice_id"], sample["paid_reff_num"])


# --- the events trigger sends (issue 16) -----------------------------------------------------------

# Every event a receiver can get and trigger has a sample for, written out here (README, seed 004),
# not read from kasir: the help used to list the first five and accept all eleven.
TRIGGER_EVENTS = (
    "payment.created",
    "payment.paid",
    "payment.expired",
    "payment.cancelled",
    "order.created",
    "order.waiting_payment",
    "order.paid",
    "order.processing",
    "order.completed",
    "order.cancelled",
    "ping",
)


def test_trigger_help_lists_every_event_it_sends() -> None:
    shown = kasir("trigger", "--help")
    assert shown.returncode == 0, shown.stderr
    listed = " ".join(shown.stdout.split())
    for event in TRIGGER_EVENTS:
        assert re.search(rf"(?<![\w.]){re.escape(event)}(?![\w])", listed), (event, listed)
    with local_app(status=200, body=b'{"ok":true}') as app:
        for event in TRIGGER_EVENTS:
            sent = trigger(app.url, "standard", new_webhook_secret(), event)
            assert (sent.exit_code, sent.status, sent.payload["type"]) == (0, 200, event)
    assert len(app.requests) == len(TRIGGER_EVENTS)


def test_trigger_refuses_an_event_it_has_no_sample_for_listing_those_it_has() -> None:
    with local_app(status=200) as app:
        refused = kasir("trigger", "payment.refunded", "--url", app.url, "--dialect", "standard")
    assert refused.returncode == 2, refused.stdout
    said = " ".join(refused.stderr.split())
    assert "payment.refunded" in said
    for event in TRIGGER_EVENTS:
        assert f"'{event}'" in said, event
    assert app.requests == []


# --- bugs -----------------------------------------------------------------------------------------


def test_trigger_reports_a_redirect_as_the_receivers_answer() -> None:
    landing = (200, {"Content-Type": "application/json"}, b'{"landing":true}')
    moved = (302, {"Location": "/landing"}, b"")
    with local_app(routes={"/hook": moved, "/landing": landing}) as app:
        done = kasir(
            "trigger", EVENT, "--url", f"{app.url}/hook", "--dialect", "standard", "--secret", new_webhook_secret()
        )
    assert [(r.method, r.path) for r in app.requests] == [("POST", "/hook")], app.requests
    assert TRIGGER_ANSWER.findall(done.stdout) == ["302"], done.stdout
    assert done.returncode == 1, done.stdout


def printed_body(output: str) -> str:
    """What listen printed after its status line for the (only) request."""
    lines = output.splitlines()
    [start] = [n for n, line in enumerate(lines) if STATUS_LINE.match(line)]
    return "\n".join(lines[start + 1 :])


def test_listen_prints_the_body_it_received(tmp_path: Path) -> None:
    secret = new_webhook_secret()
    with listening(tmp_path, "--dialect", "standard", "--secret", secret) as listener:
        sent = trigger(listener.url, "standard", secret)
        listener.wait_for(bool, "the request")
        output = listener.output()
    assert sent.status == 200
    assert json.loads(printed_body(output)) == sent.payload, output
