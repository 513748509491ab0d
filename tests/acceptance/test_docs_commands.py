"""Every command block of README.md and docs/*.md, run as printed against a live Kasir (issue 16).

A reader copies a block into a terminal and expects it to answer what the text says. So each
fenced shell block (```sh, ```bash, ```console, ```shell; and in docs/deploy.md the env file and
the systemd units its recipe depends on) is run here, as written, unless it is listed in
NOT_RUNNABLE with the reason (or in RUN_BY_OWN_TEST): a new block is run, so it either works as
printed or is listed, and a listed block that is gone fails the test, so the tables stay true.

How a block is run:

- against one `make run` started the way the quick start says (it migrates, creates the demo
  merchant, serves), in the background, in a fresh data folder (KASIR_HOME in a tmp dir, SQLite),
  on a free port (PORT), with no KASIR_* variable of ours in its environment; make is told the
  venv is installed (-o .venv/.installed), so that a test never reinstalls the suite's venv;
- where the docs send webhooks to the reader's own app (127.0.0.1:5000), a stand-in app verifies
  every dialect with the docs' `whsec_…` secret and answers 401 to anything else;
- in bash with `set -euo pipefail`, each block in a fresh process, in a work folder holding the
  files the docs name (FILES), with the venv's bin first on PATH (a reader who activated it);
- KEY and BASE, which the README's curl walk defines, are carried into later blocks that use them;
- placeholders are replaced by the explicit table SUBSTITUTIONS (and BLOCK_SUBSTITUTIONS for the
  few example values one block depends on), and nothing else in the text is changed;
- a block whose comments say "# Terminal N" is one process per terminal, as a reader would open
  them: the long-running ones (`kasir listen`, `make run`) are started first and stopped with
  Ctrl+C (SIGINT) once the others have finished; a `make run` terminal replaces the test's server
  for that block.

What is checked: every command exits 0 (set -e), and every curl whose answer is JSON answers
2xx with `"success": true`, or what ANSWERS says the text next to it prints (an error code, the
fields of a printed answer); a `# -> "id": 1` comment is checked as written; OUTPUTS holds what
CLI commands print. The deploy guide's env file is sourced with its recipe and read the way
systemd's EnvironmentFile= reads it, and both must give every variable exactly the value meant;
the wheel it installs is built and must carry the pay page's templates and the migrations.
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from kasir import secrets_at_rest
from kasir.clock import WIB
from kasir.merchants.keys import new_webhook_secret
from kasir.qris.convert import to_dynamic
from kasir.qris.emv import crc_of
from kasir.qris.image import render_png
from kasir.receive import WebhookVerificationError, verify
from tests.conftest import VALID_QRIS, free_port

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"
DOCS = ("README.md", *sorted(str(p.relative_to(REPO)) for p in (REPO / "docs").glob("*.md")))
SHELL_LANGUAGES = {"sh", "bash", "console", "shell"}
# The systemd units the deploy guide's env file and recipe are written for.
UNIT_BLOCKS = {("docs/deploy.md", "ini")}
COMMAND_TIMEOUT = 120  # seconds for one terminal; the whole run takes well under two minutes

# --- the blocks ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    doc: str
    line: int  # of the opening fence
    lang: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"


FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[^`\s]*)[ \t]*$")


def blocks_of(doc: str) -> list[Block]:
    lines = (REPO / doc).read_text().splitlines()
    found, i = [], 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent, start, body = opening["indent"], i, []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i].removeprefix(indent))
            i += 1
        found.append(Block(doc, start + 1, opening["lang"], "\n".join(body) + "\n"))
        i += 1
    return found


def covered_blocks() -> list[Block]:
    """Every block this test must run or list, in the order a reader meets them."""
    return [
        block
        for doc in DOCS
        for block in blocks_of(doc)
        if block.lang in SHELL_LANGUAGES or (block.doc, block.lang) in UNIT_BLOCKS
    ]


def find_block(doc: str, anchor: str) -> Block:
    matches = [b for b in covered_blocks() if b.doc == doc and anchor in b.text]
    assert len(matches) == 1, f"{doc}: {len(matches)} command blocks contain {anchor!r} (expected exactly one)"
    return matches[0]


# Blocks that cannot run here, by (document, a text only that block contains): the reason.
NOT_RUNNABLE: dict[tuple[str, str], str] = {
    ("README.md", "make test"): (
        "the quick start: `make run` serves until Ctrl+C on port 8000 (this test runs that same "
        "`make run`, in the background, on a free port and a fresh KASIR_HOME, as the server of every "
        "other block), and `make test` is what runs this test"
    ),
    ("README.md", "make faults"): (
        "`make bench` and `make faults` take 5-7 minutes each and start PostgreSQL, Redis and Celery: "
        "they are suites of their own (benchmarks/, tests/faults/)"
    ),
    ("docs/BENCHMARKS.md", "make bench"): "clones the repository from the network, then `make bench` (6-7 minutes)",
    ("docs/deploy.md", "systemctl daemon-reload"): (
        "systemd on a production host (daemon-reload, enable --now): the units are not started here"
    ),
    ("docs/deploy.md", "Description=Kasir API node"): (
        "a systemd unit; test_units_read_the_env_file_the_recipe_sources checks its EnvironmentFile= "
        "and that its ExecStart runs the installed kasir"
    ),
    ("docs/deploy.md", "Description=Kasir delivery worker"): (
        "a systemd unit; test_units_read_the_env_file_the_recipe_sources checks it as the API node's"
    ),
}

# Blocks run by a test of their own below, since they need more than a shell: the test's name.
RUN_BY_OWN_TEST: dict[tuple[str, str], str] = {
    ("docs/deploy.md", "KASIR_PUBLIC_URL=https://pay.example.id"): "test_deploy_env_file_reads_alike_in_systemd_and_sh",
    ("docs/deploy.md", "kasir.env && set +a"): "test_deploy_env_file_reads_alike_in_systemd_and_sh",
    ("docs/deploy.md", "pip wheel"): "test_deploy_wheel_builds_with_templates_and_migrations",
}


def listed(block: Block) -> bool:
    return any(doc == block.doc and anchor in block.text for doc, anchor in (*NOT_RUNNABLE, *RUN_BY_OWN_TEST))


# --- placeholders --------------------------------------------------------------------------------

# A static GoPay QRIS and a BRI one (the channel's acquirer is checked when saved), built the way
# tests/conftest.py builds VALID_QRIS: real merchant names and cities, with their spaces.


def _tlv(tag: str, value: str) -> str:
    return f"{tag}{len(value):02d}{value}"


def static_qris(acquirer: str) -> str:
    account = _tlv("00", acquirer) + _tlv("01", "9360091400000000017") + _tlv("02", "G000000017") + _tlv("03", "UMI")
    national = _tlv("00", "ID.CO.QRIS.WWW") + _tlv("02", "ID1020017611473") + _tlv("03", "UMI")
    body = (
        _tlv("00", "01")
        + _tlv("01", "11")
        + _tlv("26", account)
        + _tlv("51", national)
        + _tlv("52", "5812")
        + _tlv("53", "360")
        + _tlv("58", "ID")
        + _tlv("59", "Warung Sederhana Jaya")
        + _tlv("60", "Kab. Bogor")
        + _tlv("61", "16810")
    )
    return body + "6304" + crc_of(body + "6304")


GOPAY_QRIS = static_qris("COM.GO-JEK.WWW")
BRI_QRIS = static_qris("ID.CO.BRI.WWW")
WEBHOOK_SECRET = new_webhook_secret()  # one for the whole run: the stand-in app verifies with it

# Every placeholder the docs print, replaced in this order (longer texts first where one contains
# another), by value_of(that name). "fresh" values are made anew for each block
# (within one block the same placeholder is the same object), just before the block runs.
SUBSTITUTIONS: tuple[tuple[str, str], ...] = (
    ("ksr_test_...", "key"),
    ("ksr_test_…", "key"),
    ("127.0.0.1:8000", "server"),
    ("127.0.0.1:4567", "listener"),
    ("--port 4567", "listener_option"),
    ("127.0.0.1:5000", "app"),
    ("PAY-demo-1795314355-OT93MK", "pending_payment"),
    ("PAY-demo-…", "pending_payment"),
    ("PAY-…", "other_pending_payment"),
    ("mut_…", "unmatched_credit"),
    ("WA261126-K7Q2", "paid_order"),
    ("ep_…", "endpoint"),
    ("dlv_…", "delivery"),
    ("whsec_…", "webhook_secret"),
    ("00020101021126…6304ABCD", "static_qris"),
    ("00020101021126…", "static_qris"),
    ("00020101021226…", "dynamic_qris"),
    ("000201…", "gopay_qris"),
    ("0812…", "ovo_number"),
)

# Example values one block depends on: (document, a text only that block contains) -> more
# substitutions, applied after SUBSTITUTIONS.
BLOCK_SUBSTITUTIONS: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    # The credit must pay a pending payment: its final amount, at a time after it was created.
    ("docs/mutations.md", "TRANSFER DARI BUDI"): (
        ("50347", "pending_payment_final_amount"),
        ("2026-11-22 10:15:03", "now_wib"),
    ),
}

# The files the docs name, written into the work folder each block runs in.


def _jpeg(png: bytes) -> bytes:
    out = io.BytesIO()
    Image.open(io.BytesIO(png)).convert("RGB").save(out, "JPEG", quality=95)
    return out.getvalue()


def _statement(*rows: tuple[str, str, str, str]) -> bytes:
    """A bank export as banks write them: Indonesian headers, `Rp 50.123,00`, day-first WIB times."""
    now = datetime.now(WIB).strftime("%d/%m/%Y %H:%M:%S")
    lines = ["Tanggal;Keterangan;Nominal;Tipe;No. Referensi"]
    lines += [f"{now};{what};{amount};{kind};{reference}" for what, amount, kind, reference in rows]
    return ("\n".join(lines) + "\n").encode()


FILES: dict[str, Callable[[], bytes]] = {
    "ebook.pdf": lambda: b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n",
    "cover.jpg": lambda: _jpeg(render_png(VALID_QRIS, 300)),  # any photo; a JPEG
    "counter-qris.jpg": lambda: _jpeg(render_png(VALID_QRIS, 600)),  # a photo of the counter's QR
    "bri-counter-qris.png": lambda: render_png(BRI_QRIS, 600),
    "mutasi-ovo.csv": lambda: _statement(
        ("TRANSFER DARI BUDI", "Rp 10.123,00", "CR", "OVO-TEST-0001"), ("BIAYA ADMIN", "1.000", "DB", "OVO-TEST-0002")
    ),
    "mutasi-ovo-november.csv": lambda: _statement(
        ("TRANSFER DARI BUDI", "Rp 20.123,00", "CR", "OVO-NOV-0001"),
        ("TRANSFER DARI SITI", "Rp 30.456,00", "CR", "OVO-NOV-0002"),
        ("BIAYA ADMIN", "1.000", "DB", "OVO-NOV-0003"),
    ),
    "qris-settlement.csv": lambda: _statement(("QRIS SETTLEMENT", "Rp 40.789,00", "CR", "QRS-0001")),
    "export.csv": lambda: _statement(("TRANSFER DARI ANI", "Rp 41.111,00", "CR", "EXP-0001")),
    "test-export.csv": lambda: _statement(("QRIS PAYMENT", "Rp 42.222,00", "CR", "TEXP-0001")),
}

# --- checks --------------------------------------------------------------------------------------


@dataclass
class Call:
    """One curl a block ran: the command as printed (placeholders in place) and what it got."""

    printed: str
    status: int | None
    content_type: str
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def _answered_2xx(call: Call) -> None:
    assert call.status is not None, "no HTTP answer"
    assert 200 <= call.status < 300, f"HTTP {call.status}"


def _success(call: Call) -> dict[str, Any]:
    _answered_2xx(call)
    answer = call.json()
    assert answer.get("success") is True, answer
    return dict(answer)


def _created_payment(call: Call, values: dict[str, Any]) -> None:
    # README prints: {"success":true,"payment":{"invoice_id":…,"amount":50000,"unique_code":347,
    # "final_amount":50347,"status":"pending","expires_at":…},"payment_url":…/pay?invoice=…,
    # "qris_string":"000201…","qr_image_url":…/qr.png?data=000201…}
    answer = _success(call)
    payment = answer["payment"]
    assert payment["amount"] == 50000
    assert payment["status"] == "pending"
    assert payment["final_amount"] == 50000 + payment["unique_code"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", payment["expires_at"])
    base = values["base"]
    assert answer["payment_url"] == f"{base}/pay?invoice={payment['invoice_id']}"
    assert answer["qris_string"].startswith("00020101021226")
    assert answer["qr_image_url"].startswith(f"{base}/qr.png?data=00020101021226")


def _matched_credit(call: Call, values: dict[str, Any]) -> None:
    # docs/mutations.md prints: {"success": true, "mutations": [{"id": "mut_…", "status": "matched",
    # "invoice_id": "PAY-…", "duplicate": false, …}], "summary": {"matched": 1, "unmatched": 0, …}}
    answer = _success(call)
    [credit] = answer["mutations"]
    assert credit["id"].startswith("mut_")
    assert credit["status"] == "matched"
    assert credit["invoice_id"] == values["pending_payment"]
    assert credit["duplicate"] is False
    assert answer["summary"] == {"matched": 1, "unmatched": 0, "late": 0, "duplicate": 0}


def _forwarder(call: Call, values: dict[str, Any]) -> None:
    # docs/mutations.md prints: {"forwarder": {"url": "http://…/v1/forwarders/fwd_…/mutations",
    # "secret": "fwsec_…", …}}
    forwarder = _success(call)["forwarder"]
    assert re.fullmatch(re.escape(values["base"]) + r"/v1/forwarders/fwd_\w+/mutations", forwarder["url"])
    assert forwarder["secret"].startswith("fwsec_")


def _ping_answered(call: Call, values: dict[str, Any]) -> None:
    # "status and latency, now": the receiver (Terminal 1's kasir listen) answered.
    response = _success(call)["response"]
    assert response["ok"] is True, response
    assert response["status_code"] == 200
    assert response["latency_ms"] >= 0


def _png(call: Call, values: dict[str, Any]) -> None:
    assert call.status == 200, call.status
    assert call.content_type == "image/png"
    assert (values["workdir"] / "qr.png").read_bytes().startswith(b"\x89PNG")


# What the text next to a curl says it answers, by (document, a text of that command as printed).
# Every other curl must answer 2xx with "success": true.
ANSWERS: dict[tuple[str, str], Callable[[Call, dict[str, Any]], None]] = {
    ("README.md", '"description": "Pembayaran Produk A"'): _created_payment,
    ("README.md", "/ping"): _ping_answered,
    ("README.md", "/qr.png"): _png,
    ("docs/mutations.md", "TRANSFER DARI BUDI"): _matched_credit,
    ("docs/mutations.md", "$BASE/v1/forwarder "): _forwarder,
}

# What CLI commands print, by (document, a text of the block or terminal): a regex its output must
# contain (re.MULTILINE).
OUTPUTS: dict[tuple[str, str], str] = {
    # "prints the dynamic QRIS": the payload with its amount (tag 54) and the same merchant.
    ("README.md", "kasir qris convert"): r"^00020101021226.*5405503475802ID.*Warung Sederhana Jaya",
    ("README.md", "kasir qris info counter-qris.jpg"): r"Warung Sederhana Jaya",
    # "# mutasi-ovo-november.csv (live mode): imported 12 matched, 1 unmatched, 0 late, 0 duplicate, 3 skipped"
    ("docs/mutations.md", "mutasi-ovo-november.csv"): (
        r"mutasi-ovo-november\.csv \(live mode\): imported \d+ matched, \d+ unmatched, \d+ late, "
        r"\d+ duplicate, \d+ skipped"
    ),
    # "A Digiflazz-style ping with a wrong secret: your receiver must answer 401, so trigger exits 1"
    ("docs/receiving.md", "whsec_wrong"): r"^401 in \d+ ms$(?s:.*)^refused, as it must be$",
    # "Your receiver, signed with the secret it verifies with": it accepts both the others.
    ("docs/receiving.md", "# Your receiver, signed"): r"^200 in \d+ ms$(?s:.*)\"status\": 200",
}

# Long-running commands: what says they are ready. A terminal holding one holds nothing else.
LONG_RUNNING: dict[str, str | None] = {
    "kasir listen": "Ctrl+C to stop",
    "make run": None,  # ready when GET /health answers on its port
}
# What a long-running terminal must have printed by the time the others are done, by
# (document, a text of that terminal): a regex, waited for up to 20 s.
RECEIVED: dict[tuple[str, str], str] = {
    # README's endpoint: the ping, the test event and the paid payment reach Terminal 1's listener.
    ("README.md", "# Terminal 1, a new one"): r"POST /hooks/kasir not verified .* → 200",
    ("README.md", "# Terminal 1: verify, print"): r"verified payment\.paid evt_\w+ → 200",
    ("docs/receiving.md", "# Terminal 1: verify, print"): r"verified payment\.paid evt_\w+ → 200",
    # Terminal 3 pays a payment: the listener registered in Terminal 2 gets its payment.paid.
    ("docs/receiving.md", "# Terminal 2: the listener"): r"verified payment\.paid evt_\w+ → 200",
}


# --- the live server and what the placeholders become --------------------------------------------


class StandInApp:
    """The reader's own receiver at 127.0.0.1:5000/webhooks/kasir (docs/receiving.md builds one in
    Python, PHP and Express): verifies every dialect with WEBHOOK_SECRET, 401 otherwise."""

    DIALECTS = ("standard", "bayargg", "digiflazz", "ilenpay", "isikuota", "xendit")

    def __init__(self) -> None:
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = 401
                for dialect in app.DIALECTS:
                    try:
                        verify(body, list(self.headers.items()), WEBHOOK_SECRET, dialect=dialect)
                    except WebhookVerificationError:
                        continue
                    status = 200
                    break
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"received": true}' if status == 200 else b'{"error": "invalid signature"}')

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@dataclass
class Session:
    home: Path
    workdir: Path
    calls: Path
    port: int
    listener_port: int
    app: StandInApp
    env: dict[str, str]
    server: subprocess.Popen[bytes] | None = None
    server_log: Path | None = None
    key: str = ""
    carried: dict[str, str] = field(default_factory=dict)
    checked: list[str] = field(default_factory=list)  # what each block ran, for the test's output
    counter: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = httpx.request(method, self.base + path, headers={"X-API-Key": self.key}, timeout=30, **kwargs)
        assert response.is_success, f"{method} {path}: {response.status_code} {response.text}"
        return dict(response.json())

    def next(self) -> int:
        self.counter += 1
        return self.counter


def _reader_environment(home: Path) -> dict[str, str]:
    # A reader's shell: none of the KASIR_* the test suite sets (conftest's key among them: `make
    # run` generates the key file in KASIR_HOME, as the README says), no outer make's flags.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("KASIR_") and k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "VIRTUAL_ENV")
    }
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["KASIR_HOME"] = str(home)  # the reader's ./kasir-data
    return env


# `make run` first installs into .venv when pyproject.toml is newer than the venv's stamp: a test
# must not reinstall the venv the suite runs in (`make test` installed it), so make takes the
# stamp as up to date (-o); the recipe itself (migrate, demo, serve) runs as written.
MAKE_ASSUMES_INSTALLED = ("-o", ".venv/.installed")
MAKE_WRAPPER = f'make() {{ command make {shlex.join(MAKE_ASSUMES_INSTALLED)} "$@"; }}'


def _start_make_run(session: Session) -> tuple[subprocess.Popen[bytes], Path]:
    """`make run` in the checkout, as a reader runs it, on the test's port and data folder."""
    log = session.calls / f"make-run-{session.next()}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["make", "--no-print-directory", *MAKE_ASSUMES_INSTALLED, "run"],
            cwd=REPO,
            env=session.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{session.base}/health", timeout=1).is_success:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            _interrupt(process)
            raise AssertionError(f"make run did not serve on {session.base}:\n{log.read_text()}")
        time.sleep(0.2)
    return process, log


def _interrupt(process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """Ctrl+C: SIGINT to the terminal's process group (only the processes this test started)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    root = tmp_path_factory.mktemp("docs")
    home, workdir, calls = root / "kasir-data", root / "work", root / "calls"
    workdir.mkdir()
    calls.mkdir()
    for name, content in FILES.items():
        (workdir / name).write_bytes(content())
    assert (VENV_BIN / "kasir").exists(), "no .venv: `make run` (or `make test`) makes it"
    port = free_port()
    env = _reader_environment(home) | {"PORT": str(port)}  # make run's PORT ?= 8000
    app = StandInApp()
    session = Session(home, workdir, calls, port, free_port(), app, env)
    try:
        session.server, session.server_log = _start_make_run(session)
        banner = session.server_log.read_text()
        session.key = json.loads((home / "demo-merchant.json").read_text())["test_api_key"]
        assert session.key in banner, "make run prints the demo merchant's test key"
        # The README's endpoint and `kasir listen --server` are on this machine: `make run`, a
        # development server, allows such callback URLs, and its banner says so.
        assert "KASIR_WEBHOOK_ALLOW_PRIVATE_NETWORKS=1: local development only" in banner
        yield session
    finally:
        if session.server is not None:
            _interrupt(session.server)
        app.server.shutdown()


def _pending_payment(session: Session) -> dict[str, Any]:
    while True:
        payment = session.api(
            "POST", "/api/create-payment.php", json={"amount": 50000, "description": "made by test_docs_commands"}
        )["payment"]
        # Not the final amount a block reports as an unrelated credit (README: 50347).
        if payment["final_amount"] != 50347:
            return dict(payment)


def _unmatched_credit(session: Session) -> str:
    n = session.next()
    answer = session.api(
        "POST", "/v1/mutations", json={"channel": "qris", "amount": 1100 + n, "reference": f"DOCS-UNMATCHED-{n}"}
    )
    [credit] = answer["mutations"]
    assert credit["status"] == "unmatched", credit
    return str(credit["id"])


def _paid_order(session: Session) -> str:
    order = session.api(
        "POST",
        "/v1/store/orders",
        json={
            "customer_name": "Rahim",
            "customer_phone": "0812-3456-7890",
            "items": [{"name": "Kopi", "quantity": 1, "price": 37500}],
        },
    )["order"]
    session.api("POST", f"/v1/sandbox/payments/{order['invoice_id']}/pay")
    return str(order["order_number"])


def _endpoint(session: Session) -> str:
    url = f"http://127.0.0.1:{session.listener_port}/hooks/kasir"
    body = {"url": url, "dialect": "standard", "event_types": ["payment.paid"]}
    return str(session.api("POST", "/v1/endpoints", json=body)["endpoint"]["id"])


def _delivery(session: Session, endpoint: str) -> str:
    paid = _pending_payment(session)["invoice_id"]
    session.api("POST", f"/v1/sandbox/payments/{paid}/pay")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = session.api("GET", "/v1/deliveries", params={"endpoint_id": endpoint})["data"]
        if found:
            return str(found[0]["id"])
        time.sleep(0.2)
    raise AssertionError(f"no delivery to {endpoint} after its payment.paid")


def value_of(name: str, session: Session, fresh: dict[str, Any]) -> str:
    """VALUES: what each placeholder becomes. Session-wide ones first, then the fresh ones."""
    if name in fresh:
        return str(fresh[name])
    made: Any
    match name:
        case "key":  # the demo merchant's test key, as `make run` printed it
            made = session.key
        case "server":  # make run's port
            made = f"127.0.0.1:{session.port}"
        case "listener":  # a free port for kasir listen
            made = f"127.0.0.1:{session.listener_port}"
        case "listener_option":
            made = f"--port {session.listener_port}"
        case "app":  # the reader's own receiver: the stand-in
            made = f"127.0.0.1:{session.app.port}"
        case "webhook_secret":  # a Standard Webhooks secret, the one the stand-in app verifies with
            made = WEBHOOK_SECRET
        case "static_qris":  # a real static QRIS, spaces in its name and city
            made = VALID_QRIS
        case "dynamic_qris":  # the same with Rp 50.347 embedded
            made = to_dynamic(VALID_QRIS, 50347)
        case "gopay_qris":  # a static GoPay QRIS (qris_gopay is checked to be GoPay's)
            made = GOPAY_QRIS
        case "ovo_number":
            made = "081234567890"
        case "pending_payment":  # fresh: a pending payment of Rp 50.000, as in the README's example
            fresh["pending_payment:final_amount"] = (payment := _pending_payment(session))["final_amount"]
            made = payment["invoice_id"]
        case "pending_payment_final_amount":
            value_of("pending_payment", session, fresh)
            made = fresh["pending_payment:final_amount"]
        case "other_pending_payment":  # fresh: another one
            made = _pending_payment(session)["invoice_id"]
        case "unmatched_credit":  # fresh: a credit no payment was waiting for
            made = _unmatched_credit(session)
        case "paid_order":  # fresh: a WA Store order, paid in the sandbox
            made = _paid_order(session)
        case "endpoint":  # fresh: a standard endpoint for payment.paid at kasir listen's port
            made = _endpoint(session)
        case "delivery":  # fresh: that endpoint's delivery of a payment paid in the sandbox
            made = _delivery(session, value_of("endpoint", session, fresh))
        case "now_wib":
            made = datetime.now(WIB).strftime("%Y-%m-%d %H:%M:%S")
        case _:
            raise AssertionError(f"no value for placeholder {name!r}")
    fresh[name] = made
    return str(made)


def substitute(text: str, block: Block, session: Session, fresh: dict[str, Any]) -> str:
    extra = next(
        (subs for (doc, anchor), subs in BLOCK_SUBSTITUTIONS.items() if doc == block.doc and anchor in block.text), ()
    )
    for placeholder, name in (*SUBSTITUTIONS, *extra):
        if placeholder in text:
            text = text.replace(placeholder, value_of(name, session, fresh))
    return text


# --- running one block ---------------------------------------------------------------------------

# Every curl goes through this function: the answer is kept (headers, body, the line it was
# called from) for the checks, then printed as curl would print it.
CURL_RECORDER = r"""curl() {
  local n status=0
  n=$(( $(cat "$DOCS_TEST_CALLS/count") + 1 ))
  echo "$n" > "$DOCS_TEST_CALLS/count"
  echo "${BASH_LINENO[0]}" > "$DOCS_TEST_CALLS/$n.line"
  command curl -D "$DOCS_TEST_CALLS/$n.headers" "$@" > "$DOCS_TEST_CALLS/$n.out" || status=$?
  cat "$DOCS_TEST_CALLS/$n.out"
  return "$status"
}
"""
TERMINAL = re.compile(r"^#\s*Terminal\s+\d+\b", re.MULTILINE)
ASSIGNMENT = re.compile(r"^(?P<name>KEY|BASE)=(?P<value>\S+)", re.MULTILINE)


@dataclass
class Command:
    first: int  # 1-based lines of the terminal's text
    last: int
    text: str

    @property
    def words(self) -> list[str]:
        words = shlex.split(self.text, comments=True)
        while words and re.fullmatch(r"[A-Za-z_]\w*=.*", words[0]):  # VAR=value before a command
            words.pop(0)
        return words


def commands_of(text: str) -> list[Command]:
    """The commands of a script, each with its lines (a command goes on over a trailing backslash
    and inside an open quote)."""
    found: list[Command] = []
    pending: list[str] = []
    start = 0
    for number, line in enumerate(text.splitlines(), 1):
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if not pending:
            start = number
        pending.append(line)
        joined = "\n".join(pending)
        try:
            shlex.split(joined, comments=True)
        except ValueError:  # an open quote
            continue
        if not line.rstrip().endswith("\\"):
            found.append(Command(start, number, joined))
            pending = []
    assert not pending, f"unterminated command: {pending}"
    return found


def terminals_of(text: str) -> list[tuple[str, int]]:
    """(text, the line it starts at) of each "# Terminal N" part; the whole block if none."""
    starts = [text[: m.start()].count("\n") for m in TERMINAL.finditer(text)]
    if not starts:
        return [(text, 0)]
    lines = text.splitlines(keepends=True)
    return [("".join(lines[a:b]), a) for a, b in zip(starts, [*starts[1:], len(lines)], strict=True)]


def long_running(text: str) -> str | None:
    commands = commands_of(text)
    for prefix in LONG_RUNNING:
        if any(" ".join(c.words).startswith(prefix) for c in commands):
            assert len(commands) == 1, f"{prefix!r} runs until Ctrl+C: it must be alone in its terminal"
            # Its default port, 4567, is a fixed one on a shared machine; the printed --port 4567
            # is what the test moves to a free port.
            assert prefix != "kasir listen" or "--port" in commands[0].words, "kasir listen without --port"
            return prefix
    return None


def keyed(table: dict[tuple[str, str], Any], block: Block, text: str) -> list[Any]:
    return [value for (doc, anchor), value in table.items() if doc == block.doc and anchor in text]


@dataclass
class Terminal:
    block: Block
    printed: str  # the terminal's text as printed
    text: str  # with the placeholders filled
    offset: int  # preamble lines before it in the script
    calls: Path
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log else ""

    def said(self, pattern: str) -> bool:
        # Rich wraps what it prints at 80 columns when it is not a terminal: one line per space.
        return re.search(pattern, re.sub(r"\s+", " ", self.output())) is not None


def prepare(session: Session, block: Block, printed: str, fresh: dict[str, Any], index: int) -> Terminal:
    text = substitute(printed, block, session, fresh)
    for command in commands_of(text):
        # An elided value left in a command (comments aside) is a placeholder nobody filled.
        assert not any("…" in word for word in command.words), f"a placeholder without a value: {command.text}"
    calls = session.calls / f"{block.doc.replace('/', '_')}-{block.line}-{index}"
    calls.mkdir()
    (calls / "count").write_text("0")
    preamble = ["set -euo pipefail", CURL_RECORDER.rstrip("\n"), MAKE_WRAPPER]
    # KEY and BASE as the README's walk set them, for the blocks that use them without setting them.
    for name, value in session.carried.items():
        if re.search(rf"\${{?{name}\b", text) and not re.search(rf"^{name}=", text, re.MULTILINE):
            preamble.append(f"{name}={value}")
    script = "\n".join(preamble) + "\n"
    (calls / "script.sh").write_text(script + text)
    return Terminal(block, printed, text, script.count("\n"), calls)


def start(session: Session, terminal: Terminal, *, wait: bool) -> None:
    command = commands_of(terminal.text)
    in_checkout = bool(command) and command[0].words[:1] == ["make"]  # make runs where the Makefile is
    terminal.log = terminal.calls / "output.txt"
    env = session.env | {"DOCS_TEST_CALLS": str(terminal.calls)}
    with terminal.log.open("wb") as out:
        terminal.process = subprocess.Popen(
            ["bash", str(terminal.calls / "script.sh")],
            cwd=REPO if in_checkout else session.workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    if wait:
        try:
            terminal.process.wait(timeout=COMMAND_TIMEOUT)
        except subprocess.TimeoutExpired:
            _interrupt(terminal.process)
            raise AssertionError(f"still running after {COMMAND_TIMEOUT} s:\n{terminal.output()}") from None


def wait_ready(session: Session, terminal: Terminal, prefix: str) -> None:
    marker = LONG_RUNNING[prefix]
    deadline = time.monotonic() + 60
    assert terminal.process is not None
    while time.monotonic() < deadline:
        if terminal.process.poll() is not None:
            raise AssertionError(f"{prefix} stopped (exit {terminal.process.returncode}):\n{terminal.output()}")
        if marker is None:
            try:
                if httpx.get(f"{session.base}/health", timeout=1).is_success:
                    return
            except httpx.HTTPError:
                pass
        elif terminal.said(re.escape(marker)):
            return
        time.sleep(0.1)
    raise AssertionError(f"{prefix} not ready after 60 s:\n{terminal.output()}")


def recorded_calls(terminal: Terminal) -> list[tuple[Command, Call]]:
    commands = commands_of(terminal.text)
    printed_lines = terminal.printed.splitlines()
    found = []
    for n in range(1, int((terminal.calls / "count").read_text()) + 1):
        line = int((terminal.calls / f"{n}.line").read_text()) - terminal.offset
        [command] = [c for c in commands if c.first <= line <= c.last]
        headers = (terminal.calls / f"{n}.headers").read_text(errors="replace")
        statuses = re.findall(r"^HTTP/\S+ (\d{3})", headers, re.MULTILINE)
        kind = re.search(r"^content-type:\s*([^;\r\n]+)", headers, re.MULTILINE | re.IGNORECASE)
        printed = "\n".join(printed_lines[command.first - 1 : command.last])
        body = (terminal.calls / f"{n}.out").read_bytes()
        found.append((command, Call(printed, int(statuses[-1]) if statuses else None, kind[1] if kind else "", body)))
    return found


COMMENTED_FIELD = re.compile(r'#\s*->\s*"(?P<key>\w+)":\s*(?P<value>[^\s,]+)')


def _find(answer: Any, key: str) -> list[Any]:
    if isinstance(answer, dict):
        return [v for k, v in answer.items() if k == key] + [x for v in answer.values() for x in _find(v, key)]
    if isinstance(answer, list):
        return [x for v in answer for x in _find(v, key)]
    return []


def check_calls(session: Session, terminal: Terminal, fresh: dict[str, Any]) -> list[str]:
    problems = []
    values = {**fresh, "base": session.base, "workdir": session.workdir}
    calls = recorded_calls(terminal)
    session.checked.append(f"  {len(commands_of(terminal.text))} commands, {len(calls)} curl answers checked")
    for _command, call in calls:
        rules = keyed(ANSWERS, terminal.block, call.printed)
        try:
            if rules:
                for rule in rules:
                    rule(call, values)
            elif call.content_type == "application/json":
                _success(call)
            else:
                _answered_2xx(call)
            for shown in COMMENTED_FIELD.finditer(call.printed):
                wanted = json.loads(shown["value"])
                assert wanted in _find(call.json(), shown["key"]), f'no "{shown["key"]}": {wanted} in the answer'
        except (AssertionError, ValueError, KeyError) as exc:
            problems.append(f"{call.printed.strip()}\n  -> {exc}\n  answer: {call.body[:800]!r}")
    return problems


def run_block(session: Session, block: Block) -> list[str]:
    """Run one block as printed; the problems found, each saying where and what."""
    fresh: dict[str, Any] = {}
    parts = terminals_of(block.text)
    running: list[tuple[Terminal, str]] = []
    problems: list[str] = []
    replaced_server = False
    finished: list[Terminal] = []
    try:
        # The long-running terminals first (a reader starts the server and the listener before
        # sending anything), then the others in order.
        for index, (printed, _line) in enumerate(parts):
            prefix = long_running(printed)
            if prefix is None:
                continue
            terminal = prepare(session, block, printed, fresh, index)
            if prefix == "make run":  # it takes the server's port: it is the server for this block
                if session.server is not None:
                    _interrupt(session.server)
                replaced_server = True
            start(session, terminal, wait=False)
            running.append((terminal, prefix))
            wait_ready(session, terminal, prefix)
        for index, (printed, _line) in enumerate(parts):
            if long_running(printed) is not None:
                continue
            terminal = prepare(session, block, printed, fresh, index)
            start(session, terminal, wait=True)
            finished.append(terminal)
            assert terminal.process is not None
            if terminal.process.returncode != 0:
                problems.append(f"exit {terminal.process.returncode}:\n{terminal.output()}")
            problems += check_calls(session, terminal, fresh)
            if terminal.block.doc == "README.md":
                for found in ASSIGNMENT.finditer(terminal.text):
                    session.carried[found["name"]] = found["value"]
        for terminal, _prefix in running:
            for wanted in keyed(RECEIVED, block, terminal.printed):
                deadline = time.monotonic() + 20
                while not terminal.said(wanted) and time.monotonic() < deadline:
                    time.sleep(0.2)
                if not terminal.said(wanted):
                    problems.append(f"never printed {wanted!r}:\n{terminal.output()}")
    except Exception as exc:  # reported with the block, so that the other blocks still run
        problems.append(f"{type(exc).__name__}: {exc}")
    finally:
        for terminal, _prefix in reversed(running):
            assert terminal.process is not None
            _interrupt(terminal.process)
            finished.append(terminal)
            if "--server" in terminal.text and not terminal.said("removed endpoint ep_"):
                problems.append(f"Ctrl+C did not remove the temporary endpoint:\n{terminal.output()}")
        if replaced_server:
            session.server, session.server_log = _start_make_run(session)
    for terminal in finished:
        for wanted in keyed(OUTPUTS, block, terminal.printed):
            if not re.search(wanted, terminal.output(), re.MULTILINE):
                problems.append(f"the output does not show {wanted!r}:\n{terminal.output()}")
    return [f"{block.where}:\n{block.text}\n{problem}" for problem in problems]


# --- the tests -----------------------------------------------------------------------------------


def test_every_block_is_run_or_listed_and_every_table_entry_is_used() -> None:
    blocks = covered_blocks()
    assert blocks, "no command blocks found"
    for doc, anchor in (*NOT_RUNNABLE, *RUN_BY_OWN_TEST, *BLOCK_SUBSTITUTIONS):
        find_block(doc, anchor)  # exactly one block: a listed block that is gone fails here
    for table in (ANSWERS, OUTPUTS, RECEIVED):
        for doc, anchor in table:
            assert any(b.doc == doc and anchor in b.text for b in blocks), f"{doc}: no block shows {anchor!r}"
    # A printed answer (`# {"success": …`) after a curl must have its check in ANSWERS.
    for block in blocks:
        if listed(block):
            continue
        for command in commands_of(block.text):
            after = block.text.splitlines()[command.last : command.last + 1]
            if command.words[:1] == ["curl"] and after and after[0].lstrip().startswith("# {"):
                assert keyed(ANSWERS, block, command.text), (
                    f"{block.where}: the answer printed after {command.text!r} is not checked"
                )


def test_every_runnable_block_answers_what_the_text_says(session: Session) -> None:
    problems: list[str] = []
    began = time.monotonic()
    for block in covered_blocks():
        if not listed(block):
            session.checked.append(block.where)
            problems += run_block(session, block)
    print("\n".join(session.checked))
    print(f"ran every block in {time.monotonic() - began:.1f} s")
    assert not problems, "\n\n".join(["blocks that do not work as printed:", *problems])


# --- the deploy guide: its env file, the recipe that reads it, the units, the wheel --------------

ENV_FILE = "/etc/kasir/kasir.env"
INSTALLED_KASIR = "/opt/kasir/bin/kasir"


def systemd_environment_file(text: str) -> dict[str, str]:
    """The variables systemd's EnvironmentFile= reads from ``text`` (systemd.exec(5)): lines
    starting with # or ; are comments, and only those: a `# …` after a value is part of the value;
    whitespace around the value is dropped, quotes around it too ('…' verbatim, "…" with \\ escapes
    of " \\ ` $), and an unquoted value keeps its inner spaces and loses its backslashes."""
    found = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped[0] in "#;" or "=" not in stripped:
            continue
        # Continuations and quotes over several lines are systemd's too; the guide uses neither.
        assert not stripped.endswith("\\"), f"a continued line: {line!r}"
        name, value = (part.strip() for part in stripped.split("=", 1))
        if len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1]
        elif len(value) >= 2 and value[0] == value[-1] == '"':
            value = re.sub(r'\\(["\\`$])', r"\1", value[1:-1])
        else:
            assert value[:1] not in ("'", '"'), f"a quote not closed on its line: {line!r}"
            value = re.sub(r"\\(.)", r"\1", value)
        found[name] = value
    return found


def test_deploy_env_file_reads_alike_in_systemd_and_sh(tmp_path: Path) -> None:
    """The guide's env file, filled in, then its migrate recipe run as printed: `kasir migrate` must
    get every variable with exactly the value systemd's EnvironmentFile= gives the units, and the
    value meant: no comment text in it, a real QRIS (spaces in its name and city) whole."""
    home, media = tmp_path / "var-lib-kasir", tmp_path / "srv-kasir-media"
    database = f"sqlite:///{tmp_path / 'kasir.db'}"
    secret_key = secrets_at_rest.new_key()  # what `kasir secrets new-key` prints
    # The production hosts and paths of the example, and its elided values, as the test has them.
    filled = {
        "postgresql://kasir:…@db.internal:5432/kasir": database,
        "/var/lib/kasir": str(home),
        "/srv/kasir-media": str(media),
        "KASIR_SECRET_KEY=…": f"KASIR_SECRET_KEY={secret_key}",
        "00020101021126…6304ABCD": VALID_QRIS,
    }
    text = find_block("docs/deploy.md", "KASIR_PUBLIC_URL=https://pay.example.id").text
    for placeholder, value in filled.items():
        assert placeholder in text, placeholder
        text = text.replace(placeholder, value)
    env_file = tmp_path / "kasir.env"
    env_file.write_text(text)
    meant = {
        "KASIR_DATABASE_URL": database,
        "KASIR_PUBLIC_URL": "https://pay.example.id",
        "KASIR_HOME": str(home),
        "KASIR_SECRET_KEY": secret_key,
        "KASIR_MEDIA_DIR": str(media),
        "KASIR_REDIS_URL": "redis://redis.internal:6379/0",
        "KASIR_PLATFORM_QRIS": VALID_QRIS,
        "KASIR_WEBHOOK_REQUIRE_HTTPS": "1",
        "KASIR_TRUSTED_PROXIES": "10.0.0.5",
        "KASIR_METRICS_TOKEN": "…",
        "KASIR_NOTIFIER": "whatsapp",
        "KASIR_WHATSAPP_PHONE_NUMBER_ID": "…",
        "KASIR_WHATSAPP_TOKEN": "…",
    }
    by_systemd = systemd_environment_file(text)
    assert {name: by_systemd.get(name) for name in meant} == meant

    # The recipe, as printed, but for the paths: the file above, and in place of the installed
    # kasir a shim that writes down the environment it was started with, then runs the real one.
    # runuser is dropped: there is no kasir user here, and it changes nothing but the user.
    seen = tmp_path / "environment.json"
    shim = tmp_path / "kasir-shim"
    shim.write_text(
        "#!/bin/sh\n"
        f"{VENV_BIN}/python -c 'import json, os, sys; json.dump(dict(os.environ), open(sys.argv[1], \"w\"))' {seen}\n"
        f'exec {VENV_BIN}/kasir "$@"\n'
    )
    shim.chmod(0o755)
    recipe = find_block("docs/deploy.md", "kasir.env && set +a").text
    for placeholder, value in {ENV_FILE: str(env_file), "runuser -u kasir -- ": "", INSTALLED_KASIR: str(shim)}.items():
        assert placeholder in recipe, placeholder
        recipe = recipe.replace(placeholder, value)
    env = _reader_environment(tmp_path / "unused-home")
    del env["KASIR_HOME"]  # the env file sets it
    ran = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + recipe],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    # (rich wraps what it prints at 80 columns when it is not a terminal)
    assert f"databaseisuptodate:{database}" in re.sub(r"\s+", "", ran.stdout), ran.stdout
    by_shell = json.loads(seen.read_text())
    assert {name: by_shell.get(name) for name in by_systemd} == by_systemd


def test_units_read_the_env_file_the_recipe_sources() -> None:
    recipe = find_block("docs/deploy.md", "kasir.env && set +a").text
    assert ENV_FILE in recipe
    for anchor in ("Description=Kasir API node", "Description=Kasir delivery worker"):
        unit = find_block("docs/deploy.md", anchor).text
        assert f"EnvironmentFile={ENV_FILE}\n" in unit
        [start] = re.findall(r"^ExecStart=(.*)$", unit, re.MULTILINE)
        program, *args = shlex.split(start.replace("%i", "8001"))
        assert program == INSTALLED_KASIR
        # Its options exist: --help parses them all before answering.
        ran = subprocess.run(
            [str(VENV_BIN / "kasir"), *args, "--help"], capture_output=True, text=True, timeout=60, check=False
        )
        assert ran.returncode == 0, ran.stdout + ran.stderr


def test_deploy_wheel_builds_with_templates_and_migrations(tmp_path: Path) -> None:
    """The guide's wheel recipe, run as printed in a copy of the checkout (a build writes build/
    and *.egg-info next to the sources)."""
    source = tmp_path / "kasir"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", *(p.name for p in REPO.glob("LICENSE*"))):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(REPO / "kasir", source / "kasir", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    block = find_block("docs/deploy.md", "pip wheel")
    ran = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + block.text],
        cwd=source,
        env=_reader_environment(tmp_path / "unused-home"),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    [wheel] = source.rglob("kasir-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "kasir/web/templates/pay.html" in names
    assert {"kasir/db/migrations/env.py", "kasir/db/migrations/script.py.mako"} <= names
    migrations = {
        f"kasir/db/migrations/versions/{p.name}" for p in (REPO / "kasir/db/migrations/versions").glob("*.py")
    }
    assert migrations
    assert migrations <= names, migrations - names
