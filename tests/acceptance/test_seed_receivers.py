"""The receivers printed in the providers' docs, run as printed, against Kasir's real worker.

Kasir's promise (docs/receiving.md): the receiver code printed in a seed accepts what Kasir sends in
that seed's dialect, as printed, with no change but the secret. Each receiver here is cut out of
the seed document itself (tests/seeds/, verbatim copies) when the test runs, gets its secret and
nothing else changed, and runs in its own runtime on a loopback port: PHP's built-in server,
Node with Express, Flask under werkzeug. Then:

- Kasir's delivery worker sends it a real event (a payment created through the payments
  service, or ``payment.paid`` written to the outbox as the coming pay function will), and the
  receiver must take its "valid signature" branch: the log it writes, the answer it gives, the
  call it makes, as each snippet says;
- the same receiver gets Kasir's rendering of an event with one byte of the body changed (the
  amount), and must refuse it, while the untouched rendering, sent the same way, is accepted:
  the refusal is the tampering's doing.

What a snippet uses without defining is provided around it, never written into it:
- seed 002's native PHP calls ``alreadyProcessed``, ``updateOrderStatus``, … : PHP loads
  seed_receivers/isikuota-stubs.php first (auto_prepend_file), and reads the secret from
  ``$_ENV`` (variables_order=EGPCS: the process environment, as the snippet expects);
- seed 002's Express snippet calls ``updateOrder`` and never listens: seed_receivers/node/
  serve-express.js runs the snippet file unchanged and listens on the app it made;
- seed 002's Flask snippet calls ``process_event.delay`` (a Celery task in the reader's app):
  the printed code runs with a ``process_event`` in its namespace that records the calls. The
  seed's copy of this snippet lost its indentation in the copying (every line starts at column
  0, which Python cannot run); ``reindented`` puts it back by rule, and the test asserts that
  nothing but leading whitespace differs from the printed text.

Seed 002's Laravel receiver is a fragment of an application (a route, a controller, a queued job)
that needs the framework around it: it is not run here.

A runtime missing on a developer's machine skips its tests with the reason; under CI=true it is a
failure, and .ci/run installs php-cli, php-curl, nodejs and npm where they are missing.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import tokenize
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from kasir import dialects
from kasir.clock import utcnow
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.db.tables import deliveries, delivery_attempts, endpoints, events, payments
from kasir.delivery.outbox import record_event
from kasir.dialects import Rendered, WebhookEvent
from kasir.merchants.keys import new_webhook_secret
from kasir.merchants.service import NewMerchant
from kasir.payments.views import event_payload
from tests.conftest import IN_CI, LiveServer, free_port
from tests.integration.delivery.conftest import add_endpoint, make_payments, set_callback
from tests.workers import RunningWorker

SEEDS = Path(__file__).parents[1] / "seeds"
SUPPORT = Path(__file__).parent / "seed_receivers"
NODE_DIR = SUPPORT / "node"
PAID_REFERENCE = "TRX123456789"  # the paid_reff_num of seed 004's callback example
WAIT = 20.0  # seconds: bounded waits for servers, deliveries and side effects


# --- the printed snippets -----------------------------------------------------------------------


def seed_text(number: str) -> str:
    [path] = SEEDS.glob(f"{number}_*.txt")
    return path.read_text()


def cut(text: str, begin: str, end: str) -> str:
    """The printed text from ``begin`` through the first ``end`` after it; ``begin`` must be
    printed exactly once, so the test cannot pick up the wrong snippet."""
    assert text.count(begin) == 1, f"{begin!r} is printed {text.count(begin)} times"
    start = text.index(begin)
    return text[start : text.index(end, start) + len(end)]


def bayargg_php() -> str:
    return cut(seed_text("004"), "<?php\n// Verifikasi callback signature", "?>")


def ilenpay_php() -> str:
    return cut(seed_text("000"), "<?php", "?>")


def isikuota_php() -> str:
    return cut(seed_text("002"), "<?php\n// webhook.php", "echo json_encode(['status' => 'ok']);")


def isikuota_express() -> str:
    return cut(seed_text("002"), "const express = require('express');", "break;\n}\n}")


def isikuota_flask() -> str:
    return cut(seed_text("002"), "import hmac, hashlib, json", "return response, 200")


def xendit_php() -> str:
    return cut(seed_text("003"), "<?php", "?>")


def with_secret(code: str, placeholder: str, secret: str) -> str:
    """The one change a reader makes: their secret in place of the printed placeholder."""
    assert code.count(placeholder) == 1, f"{placeholder!r} should be printed once in the snippet"
    # Kasir's secrets and keys need no escaping inside any of the snippets' string literals.
    assert re.fullmatch(r"[A-Za-z0-9_+/=-]+", secret), secret
    return code.replace(placeholder, secret)


def reindented(flat: str) -> str:
    """Python code whose indentation was lost, indented again by the rules the snippet needs:
    a statement ending in ``:`` opens a block, a ``return`` (or ``raise``, ``pass``, ``break``,
    ``continue``) closes it, and lines inside brackets continue their statement."""
    depth = 0
    brackets = 0
    first: str | None = None  # the first token of the statement being read
    last = ""
    indent: dict[int, int] = {}  # line number (1-based) -> indentation level
    for token in tokenize.generate_tokens(io.StringIO(flat).readline):
        line = token.start[0]
        if token.type == tokenize.COMMENT and first is None:
            indent.setdefault(line, depth)
        if token.type in (tokenize.COMMENT, tokenize.NL, tokenize.ENDMARKER, tokenize.INDENT, tokenize.DEDENT):
            continue
        if token.type == tokenize.NEWLINE:
            if last == ":":
                depth += 1
            elif first in ("return", "raise", "pass", "break", "continue"):
                depth -= 1
            first, last = None, ""
            continue
        if first is None:
            first = token.string
            indent.setdefault(line, depth)
        else:
            indent.setdefault(line, depth + 1)  # a continuation line inside brackets
        if token.type == tokenize.OP and token.string in ("(", "[", "{"):
            brackets += 1
        elif token.type == tokenize.OP and token.string in (")", "]", "}"):
            brackets -= 1
        last = token.string
    assert depth == 0, "a block was opened and never closed"
    assert brackets == 0, "unbalanced brackets"
    lines = flat.split("\n")
    return "\n".join("    " * indent.get(number, 0) + text for number, text in enumerate(lines, 1))


# --- runtimes -----------------------------------------------------------------------------------


def unavailable(reason: str) -> None:
    """Skip on a developer's machine; fail in CI, where .ci/run must have installed it."""
    if IN_CI:
        pytest.fail(f"{reason} (CI must provide it: see .ci/run)")
    pytest.skip(reason)


def tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} is not installed (Debian package {package})")
    assert path is not None
    return path


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(0.05)


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def process_server(args: list[str], *, port: int, cwd: Path, log: Path, env: dict[str, str]) -> Iterator[str]:
    """A receiver in a process of its own; yields its base URL once it accepts connections."""
    with log.open("wb") as output:
        server = subprocess.Popen(args, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:

        def ready() -> bool:
            if server.poll() is not None:
                raise AssertionError(f"{args[0]} exited with {server.returncode}:\n{log.read_text()}")
            return port_open(port)

        wait_until(ready, f"{' '.join(args)} listening on {port}")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


@contextmanager
def php_server(docroot: Path, *options: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """PHP's built-in web server on ``docroot``, run from there (the Ilenpay receiver writes its
    log file in the working directory)."""
    php = tool("php", "php-cli")
    port = free_port()
    with process_server(
        [php, *options, "-S", f"127.0.0.1:{port}", "-t", str(docroot)],
        port=port,
        cwd=docroot,
        log=docroot.parent / f"{docroot.name}-php.log",
        env={**os.environ, **(env or {})},
    ) as base:
        yield base


def node_modules() -> Path:
    """seed_receivers/node/node_modules, installed from the committed lock file when missing."""
    modules = NODE_DIR / "node_modules"
    if not (modules / "express" / "package.json").is_file():
        npm = tool("npm", "npm")
        try:
            done = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, capture_output=True, text=True, timeout=300
            )
        except subprocess.TimeoutExpired:
            unavailable("npm ci in tests/acceptance/seed_receivers/node did not finish in 300 s")
        if done.returncode != 0:
            unavailable(f"npm ci in tests/acceptance/seed_receivers/node failed:\n{done.stdout}{done.stderr}")
    return modules


@contextmanager
def wsgi_server(app: Any) -> Iterator[str]:
    """A WSGI app on a real socket, served by werkzeug in a thread."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def json_lines(path: Path) -> list[Any]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# --- the printed receivers, running -------------------------------------------------------------


@contextmanager
def bayargg_receiver(tmp_path: Path, secret: str) -> Iterator[str]:
    docroot = tmp_path / "bayargg"
    docroot.mkdir()
    (docroot / "callback.php").write_text(with_secret(bayargg_php(), "YOUR_WEBHOOK_SECRET", secret))
    with php_server(docroot) as base:
        yield f"{base}/callback.php"


@contextmanager
def ilenpay_receiver(tmp_path: Path, secret: str) -> Iterator[tuple[str, Path]]:
    """Yields the URL and the file the printed code writes when the signature is valid."""
    docroot = tmp_path / "ilenpay"
    docroot.mkdir()
    (docroot / "webhook.php").write_text(with_secret(ilenpay_php(), "kodekamu", secret))
    with php_server(docroot) as base:
        yield f"{base}/webhook.php", docroot / "log-ilenpay.txt"


@contextmanager
def isikuota_php_receiver(tmp_path: Path, secret: str) -> Iterator[tuple[str, Path]]:
    """Yields the URL and the file of calls to the functions the snippet leaves to the reader.
    The secret is not in the printed text at all: it reads ``$_ENV['ISIKUOTA_SECRET_KEY']``."""
    docroot = tmp_path / "isikuota-php"
    docroot.mkdir()
    (docroot / "webhook.php").write_text(isikuota_php())
    calls = tmp_path / "isikuota-php-calls.jsonl"
    options = ("-d", "variables_order=EGPCS", "-d", f"auto_prepend_file={SUPPORT / 'isikuota-stubs.php'}")
    env = {"ISIKUOTA_SECRET_KEY": secret, "SEED_RECEIVER_CALLS": str(calls)}
    with php_server(docroot, *options, env=env) as base:
        yield f"{base}/webhook.php", calls


@contextmanager
def isikuota_express_receiver(tmp_path: Path, secret: str) -> Iterator[tuple[str, Path]]:
    """Yields the URL and the file of ``updateOrder`` calls (see serve-express.js)."""
    node = tool("node", "nodejs")
    modules = node_modules()
    snippet = tmp_path / "isikuota-webhook.js"
    snippet.write_text(isikuota_express())  # as printed: the secret comes from the environment
    calls = tmp_path / "isikuota-express-calls.jsonl"
    port = free_port()
    env = {**os.environ, "ISIKUOTA_SECRET_KEY": secret, "NODE_PATH": str(modules)}
    with process_server(
        [node, str(NODE_DIR / "serve-express.js"), str(snippet), str(port), str(calls)],
        port=port,
        cwd=tmp_path,
        log=tmp_path / "isikuota-express.log",
        env=env,
    ) as base:
        yield f"{base}/webhook/isikuota", calls


class CeleryTask:
    """Stands in for the ``process_event`` Celery task of the reader's app: ``.delay`` records."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def delay(self, *args: Any) -> None:
        self.calls.append(args)


@contextmanager
def isikuota_flask_receiver(secret: str) -> Iterator[tuple[str, CeleryTask]]:
    if importlib.util.find_spec("flask") is None:
        unavailable("flask is not installed (it is in the dev extras: pip install -e '.[dev]')")
    printed = isikuota_flask()
    code = reindented(printed)
    assert [line.strip() for line in code.splitlines()] == [line.strip() for line in printed.splitlines()]
    process_event = CeleryTask()
    namespace: dict[str, Any] = {"__name__": "isikuota_webhook", "process_event": process_event}
    exec(compile(with_secret(code, "your_secret_key", secret), "seed-002-flask", "exec"), namespace)
    with wsgi_server(namespace["app"]) as base:
        yield f"{base}/webhook/isikuota", process_event


# --- Kasir's side ---------------------------------------------------------------------------------


def pay(db: Database, settings: Settings, invoice: str) -> None:
    """The payment paid and its ``payment.paid`` event in one transaction, as the pay function to
    come will do: the outbox fans the event out to the merchant's targets."""

    def write(conn: sa.Connection) -> None:
        now = utcnow()
        row = (
            conn.execute(
                sa.update(payments)
                .where(payments.c.invoice_id == invoice, payments.c.status == "pending")
                .values(
                    status="paid",
                    paid_at=now,
                    paid_amount=payments.c.final_amount,
                    paid_reff_num=PAID_REFERENCE,
                    closed_at=now,
                )
                .returning(*payments.c)
            )
            .mappings()
            .one()
        )
        record_event(
            conn,
            merchant_id=row["merchant_id"],
            mode=row["mode"],
            type="payment.paid",
            payload=event_payload("payment.paid", row, settings.public_url, int(now.timestamp())),
            created_at=now,
            payment_id=row["id"],
            callback_url=row["callback_url"],
        )

    db.write_sync(write)


def paid_payment(db: Database, settings: Settings, merchant: NewMerchant) -> str:
    [invoice] = make_payments(db, merchant, settings, 1)
    pay(db, settings, invoice)
    return invoice


def answers(db: Database, event_type: str) -> Sequence[sa.Row[Any]]:
    """Every attempt at delivering an event of this type, as the worker logged it."""
    query = (
        sa.select(delivery_attempts)
        .join(deliveries, deliveries.c.id == delivery_attempts.c.delivery_id)
        .join(events, events.c.id == deliveries.c.event_id)
        .where(events.c.type == event_type)
        .order_by(delivery_attempts.c.id)
    )
    return db.read_sync(lambda conn: conn.execute(query).all())


def first_answer(db: Database, event_type: str) -> Any:
    wait_until(lambda: bool(answers(db, event_type)), f"an attempt at delivering {event_type}")
    attempt = answers(db, event_type)[0]
    assert attempt.outcome == "succeeded", (attempt.status_code, attempt.response_body, attempt.error)
    return attempt


def rendering(db: Database, merchant: NewMerchant, dialect: str, event_type: str, secret: str) -> Rendered:
    """Headers and body of the newest event of this type, rendered as the worker renders it."""
    row = db.read_sync(
        lambda conn: conn.execute(
            sa.select(events).where(events.c.type == event_type).order_by(events.c.id.desc()).limit(1)
        ).one()
    )
    event = WebhookEvent(
        id=row.event_id,
        type=row.type,
        created_at=int(row.created_at.timestamp()),
        data=json.loads(row.payload),
        mode=row.mode,
        business_id=merchant.username,
    )
    return dialects.get(dialect).render(event, [secret], timestamp=int(time.time()), delivery_id="dlv_tamper_test")


def tampered(body: bytes) -> bytes:
    """The body with one byte changed: the first digit of the first ``final_amount``, which every
    dialect's signature covers (bayar.gg's signs invoice_id|status|final_amount|timestamp only)."""
    match = re.search(rb'"final_amount":"?(\d)', body)
    assert match is not None, body
    at = match.start(1)
    digit = bytes([ord("0") + (body[at] - ord("0") + 1) % 10])
    changed = body[:at] + digit + body[at + 1 :]
    assert len(changed) == len(body)
    assert sum(a != b for a, b in zip(changed, body, strict=True)) == 1
    return changed


def post(url: str, rendered: Rendered, body: bytes | None = None) -> requests.Response:
    return requests.post(url, data=rendered.body if body is None else body, headers=rendered.headers, timeout=10)


# --- seed 004: bayar.gg's PHP callback receiver -------------------------------------------------


def test_bayargg_php_receiver_accepts_what_the_worker_sends(
    db: Database, settings: Settings, merchant: NewMerchant, tmp_path: Path
) -> None:
    with bayargg_receiver(tmp_path, merchant.test_webhook_secret) as url:
        assert set_callback(db, merchant, url) == merchant.test_webhook_secret  # dialect bayargg
        with RunningWorker(db, settings):
            [invoice] = make_payments(db, merchant, settings, 1)
            created = first_answer(db, "payment.created")
            pay(db, settings, invoice)
            paid = first_answer(db, "payment.paid")
    # Valid signature, status pending: the printed code takes the valid branch and says nothing.
    assert (created.status_code, created.response_body) == (200, "")
    # Valid signature, status paid: "Update order status", 200 {"success":true}.
    assert paid.status_code == 200
    assert json.loads(paid.response_body) == {"success": True}


def test_bayargg_php_receiver_refuses_a_tampered_callback(
    db: Database, settings: Settings, merchant: NewMerchant, tmp_path: Path
) -> None:
    paid_payment(db, settings, merchant)
    rendered = rendering(db, merchant, "bayargg", "payment.paid", merchant.test_webhook_secret)
    with bayargg_receiver(tmp_path, merchant.test_webhook_secret) as url:
        refused = post(url, rendered, tampered(rendered.body))
        accepted = post(url, rendered)
    assert refused.status_code == 401
    assert refused.json() == {"error": "Invalid signature"}
    assert accepted.status_code == 200
    assert accepted.json() == {"success": True}


# --- seed 000: Ilenpay's PHP receiver -----------------------------------------------------------


def test_ilenpay_php_receiver_logs_what_the_worker_sends(
    db: Database, settings: Settings, merchant: NewMerchant, tmp_path: Path
) -> None:
    secret = new_webhook_secret()
    with ilenpay_receiver(tmp_path, secret) as (url, log):
        add_endpoint(db, merchant, url, dialect="ilenpay", secret=secret)
        with RunningWorker(db, settings):
            [invoice] = make_payments(db, merchant, settings, 1)
            first_answer(db, "payment.created")
            # The printed code writes its log only when X-Ilen-Signature matches.
            assert log.exists(), "the receiver did not take the valid-signature branch"
            created = json.loads(log.read_bytes())
            pay(db, settings, invoice)
            first_answer(db, "payment.paid")
            paid = json.loads(log.read_bytes())
    assert (created["data"]["reff_id"], created["data"]["status"]) == (invoice, "PENDING")
    assert (paid["data"]["reff_id"], paid["data"]["status"]) == (invoice, "PAID")
    assert paid["data"]["payment_status"] == "paid"


def test_ilenpay_php_receiver_refuses_a_tampered_body(
    db: Database, settings: Settings, merchant: NewMerchant, tmp_path: Path
) -> None:
    secret = new_webhook_secret()
    paid_payment(db, settings, merchant)
    rendered = rendering(db, merchant, "ilenpay", "payment.paid", secret)
    with ilenpay_receiver(tmp_path, secret) as (url, log):
        refused = post(url, rendered, tampered(rendered.body))
        # The printed code answers 200 either way; refusing is not writing the log.
        assert refused.status_code == 200
        assert not log.exists(), "a tampered body was logged as valid"
        assert post(url, rendered).status_code == 200
        assert log.read_bytes() == rendered.body


# --- seed 002: IsiKuota's receivers (native PHP, Express, Flask) --------------------------------


def test_isikuota_php_receiver_processes_what_the_worker_sends(
    db: Database, settings: Settings, merchant: NewMerchant, tmp_path: Path
) -> None:
    secret = new_webhook_secret()
    with isikuota_php_receiver(tmp_path, secret) as (url, calls):
        add_endpoint(db, merchant, url, dialect="isikuota", secret=secret)
        with RunningWorker(db, settings):
            invoice = paid_payment(db, settings, merchant)  # payment.paid is IsiKuota's order.success
            answer = first_answer(db, "payment.paid")
    assert answer.status_code == 200
    assert json.loads(answer.response_body) == {"status": "ok"}
    assert json_lines(calls) == [
        ["alreadyProcessed", invoice],
        ["updateOrderStatus", invoice, "success", PAID_REFERENCE],
        ["sendNotificationToUser", invoice],
    ]


def test_isikuota_php_receiver_refuses_a_tampered_body(
    db: Database, settings: Settings, merchant: NewMerchant, tmp_path: Path
) -> None:
    secret = new_webhook_secret()
    invoice = paid_payment(db, settings, merchant)
    rendered = rendering(db, merchant, "isikuota", "payment.paid", secret)
    with isikuota_php_receiver(tmp_path, secret) as (url, calls):
        refused = post(url, rendered, tampered(rendered.body))
        assert refused.status_code == 401
        assert refused.json() == {"error": "Invalid signature"}
        assert json_lines(calls) == []
        assert post(url, rendered).status_code == 200
    assert ["updateOrderStatus", invoice, "success", PAID_REFERENCE] in json_lines(calls)


def test_isikuota_express_receiver_processes_what_the_worker_sends(
    db: Database, settings: Settings, merchant: NewMerchant, tmp_path: Path
) -> None:
    secret = new_webhook_secret()
    with isikuota_express_receiver(tmp_path, secret) as (url, calls):
        add_endpoint(db, merchant, url, dialect="isikuota", secret=secret)
        with RunningWorker(db, settings):
            invoice = paid_payment(db, settings, merchant)
            answer = first_answer(db, "payment.paid")
        # The snippet answers first and processes after: updateOrder may come a moment later.
        wait_until(lambda: bool(json_lines(calls)), "updateOrder called")
    assert answer.status_code == 200
    assert json.loads(answer.response_body) == {"status": "ok"}
    assert json_lines(calls) == [[invoice, "success", PAID_REFERENCE]]


def test_isikuota_express_receiver_refuses_a_tampered_body(
    db: Database, settings: Settings, merchant: NewMerchant, tmp_path: Path
) -> None:
    secret = new_webhook_secret()
    invoice = paid_payment(db, settings, merchant)
    rendered = rendering(db, merchant, "isikuota", "payment.paid", secret)
    with isikuota_express_receiver(tmp_path, secret) as (url, calls):
        refused = post(url, rendered, tampered(rendered.body))
        assert refused.status_code == 401
        assert refused.json() == {"error": "Invalid signature"}
        assert post(url, rendered).status_code == 200
        wait_until(lambda: bool(json_lines(calls)), "updateOrder called for the untouched body")
    assert json_lines(calls) == [[invoice, "success", PAID_REFERENCE]]  # once: not for the tampered one


def test_isikuota_flask_receiver_processes_what_the_worker_sends(
    db: Database, settings: Settings, merchant: NewMerchant
) -> None:
    secret = new_webhook_secret()
    with isikuota_flask_receiver(secret) as (url, process_event):
        add_endpoint(db, merchant, url, dialect="isikuota", secret=secret)
        with RunningWorker(db, settings):
            invoice = paid_payment(db, settings, merchant)
            answer = first_answer(db, "payment.paid")
    assert answer.status_code == 200
    assert json.loads(answer.response_body) == {"status": "ok"}
    [(event, data)] = process_event.calls
    assert event == "order.success"
    assert (data["ref_id"], data["sn"]) == (invoice, PAID_REFERENCE)


def test_isikuota_flask_receiver_refuses_a_tampered_body(
    db: Database, settings: Settings, merchant: NewMerchant
) -> None:
    secret = new_webhook_secret()
    invoice = paid_payment(db, settings, merchant)
    rendered = rendering(db, merchant, "isikuota", "payment.paid", secret)
    with isikuota_flask_receiver(secret) as (url, process_event):
        refused = post(url, rendered, tampered(rendered.body))
        assert refused.status_code == 401
        assert refused.json() == {"error": "Invalid signature"}
        assert process_event.calls == []
        assert post(url, rendered).status_code == 200
    [(event, data)] = process_event.calls
    assert (event, data["ref_id"]) == ("order.success", invoice)


def test_the_flask_snippet_is_reindented_without_any_other_change() -> None:
    printed = isikuota_flask()
    assert all(line == line.lstrip() for line in printed.splitlines()), "the seed's copy is indented now: run it as is"
    code = reindented(printed)
    assert [line.strip() for line in code.splitlines()] == [line.strip() for line in printed.splitlines()]
    compile(code, "seed-002-flask", "exec")
    assert "    if not hmac.compare_digest(expected, signature):\n        return jsonify" in code
    assert "\n    return response, 200" in code


# --- seed 003: Xendit's PHP call that sets the callback URL -------------------------------------


def test_xendit_php_sets_the_callback_url_on_kasir(
    db: Database, merchant: NewMerchant, live_server: LiveServer, tmp_path: Path
) -> None:
    php = tool("php", "php-cli")
    modules = subprocess.run([php, "-m"], capture_output=True, text=True, timeout=30).stdout.split()
    if "curl" not in modules:
        unavailable("PHP's curl extension is not installed (Debian package php-curl)")
    # Only the host of the API and the key change. The callback URL the snippet sets stays the
    # printed one; no worker runs here, so nothing is ever sent to it.
    code = xendit_php()
    assert code.count("https://api.xendit.co/") == 1
    code = with_secret(
        code.replace("https://api.xendit.co/", f"{live_server.url}/"), "tambah_api_key_disini", merchant.test_api_key
    )
    script = tmp_path / "callback-urls.php"
    script.write_text(code)
    done = subprocess.run([php, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["status"] == "SUCCESSFUL", answer
    assert answer["url"] == "https://www.xendit.co/callback_catcher"
    assert answer["environment"] == "TEST"
    endpoint = db.read_sync(
        lambda conn: conn.execute(sa.select(endpoints).where(endpoints.c.merchant_id == merchant.id)).one()
    )
    assert (endpoint.url, endpoint.dialect, endpoint.mode) == (answer["url"], "xendit", "test")
    assert answer["callback_token"] == endpoint.secret  # what the receiver compares x-callback-token with
