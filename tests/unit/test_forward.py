"""The phone forwarder (kasir/forward.py) in-process, with a fake notification list and a fake
transport: pairing URLs are parsed (and bad ones refused without showing the token), requests
are signed exactly as ``hmac`` computes it, each distinct notification is queued once (by
fingerprint, not key) and only for watched apps, the queue survives a restart, batches hold at
most 500 items oldest first and are split on 413, 401 stops the sending and keeps the queue,
``--dry-run`` prints and stores nothing, files are 0600 in a 0700 folder, and the file imports
the standard library alone and runs on Python 3.9.
"""

from __future__ import annotations

import ast
import glob
import hashlib
import hmac
import json
import os
import shutil
import stat
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kasir import forward
from kasir.forward import Answer, Forwarder, ForwardError, NetworkError, Pairing, Store

FORWARD_PY = Path(forward.__file__)
REPO = FORWARD_PY.parent.parent
GOPAY = "com.gojek.gopaymerchant"
TOKEN = "kst_s3cr3t-token-value"
PAIRING = Pairing(base_url="http://127.0.0.1:9", source_id="src_abc123", token=TOKEN)


def entry(content: str, when: str = "2025-03-01 10:00:00", package: str = GOPAY, **extra: Any) -> dict[str, Any]:
    """One element of ``termux-notification-list``'s array, with the fields Termux:API prints."""
    return {
        "id": 1,
        "tag": "",
        "key": f"0|{package}|1|null|10123",
        "group": "",
        "packageName": package,
        "title": "Pembayaran QRIS statis diterima",
        "content": content,
        "when": when,
        **extra,
    }


class FakeList:
    """A ``termux-notification-list`` that prints a JSON file the test rewrites."""

    def __init__(self, tmp_path: Path) -> None:
        self.file = tmp_path / "list.json"
        self.program = tmp_path / "termux-notification-list"
        self.program.write_text(f"#!/bin/sh\ncat '{self.file}'\n")
        self.program.chmod(0o755)
        self.show([])

    def show(self, entries: list[Any]) -> None:
        self.file.write_text(json.dumps(entries))


class FakeServer:
    """A transport answering as the contract says: one result per item, ``duplicate`` when seen."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, bytes, dict[str, str]]] = []
        self.ids: list[str] = []
        self.answers: list[Answer | Exception] = []  # queued special answers, used first
        self.apps = {GOPAY: "gopay_qris"}

    def __call__(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
        self.requests.append((url, body, headers))
        if self.answers:
            special = self.answers.pop(0)
            if isinstance(special, Exception):
                raise special
            return special
        payload = json.loads(body)
        if url.endswith("/heartbeat"):
            return Answer(200, {"success": True, "source": {"id": "src_abc123", "apps": self.apps, "state": "live"}})
        results = []
        for item in payload:
            results.append({"outcome": "duplicate" if item["id"] in self.ids else "unmatched"})
            self.ids.append(item["id"])
        return Answer(200, {"success": True, "results": results, "summary": {}})

    def batches(self) -> list[list[dict[str, Any]]]:
        return [json.loads(body) for url, body, _ in self.requests if url.endswith("/notifications")]


@pytest.fixture
def fake_list(tmp_path: Path) -> FakeList:
    return FakeList(tmp_path)


@pytest.fixture
def server() -> FakeServer:
    return FakeServer()


def make_forwarder(
    data_dir: Path, fake_list: FakeList, server: FakeServer, apps: dict[str, str] | None = None
) -> Forwarder:
    store = Store(data_dir)
    store.put(apps={GOPAY: "gopay_qris"} if apps is None else apps)
    store.close()
    return Forwarder(data_dir, PAIRING, command=[str(fake_list.program)], transport=server)


# --- pairing URLs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "base", "source_id"),
    [
        ("https://kasir.example/v1/sources/src_abc123#token=kst_XXXX", "https://kasir.example", "src_abc123"),
        ("https://host/kasir/v1/sources/src_abc123#token=kst_XXXX", "https://host/kasir", "src_abc123"),
        ("http://192.0.2.7:8000/v1/sources/src_abc123/#token=kst_XXXX", "http://192.0.2.7:8000", "src_abc123"),
        ("  https://kasir.example/v1/sources/src_abc123#token=kst_XXXX\n", "https://kasir.example", "src_abc123"),
        (
            "https://kasir.example/v1/sources/src_abc123?x=1#other=2&token=kst_XXXX",
            "https://kasir.example",
            "src_abc123",
        ),
    ],
)
def test_a_pairing_url_gives_base_source_and_token(url: str, base: str, source_id: str) -> None:
    pairing = forward.parse_pair_url(url)
    assert (pairing.base_url, pairing.source_id, pairing.token) == (base, source_id, "kst_XXXX")
    assert pairing.url("heartbeat") == f"{base}/v1/sources/{source_id}/heartbeat"
    assert "kst_XXXX" not in repr(pairing)


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("https://kasir.example/v1/sources/src_abc123", "no token"),
        ("https://kasir.example/v1/sources/src_abc123#token=", "no token"),
        ("https://kasir.example/v1/sources/src_abc123#tok=kst_XXXX", "no token"),
        ("ftp://kasir.example/v1/sources/src_abc123#token=kst_XXXX", "https://"),
        ("kasir.example/v1/sources/src_abc123#token=kst_XXXX", "https://"),
        ("https://kasir.example/v1/payments/abc#token=kst_XXXX", "/v1/sources/"),
        ("https://kasir.example/v1/sources/#token=kst_XXXX", "no source id"),
        ("https://kasir.example/v1/sources/src_1/heartbeat#token=kst_XXXX", "no source id"),
        ("", "https://"),
    ],
)
def test_a_bad_pairing_url_is_refused_clearly_without_showing_the_token(url: str, said: str) -> None:
    with pytest.raises(ForwardError) as refused:
        forward.parse_pair_url(url)
    assert said in str(refused.value)
    assert "kst_XXXX" not in str(refused.value)


# --- signing --------------------------------------------------------------------------------


def test_the_signature_is_the_hmac_sha256_of_the_raw_body_keyed_by_the_token() -> None:
    body = b'[{"id":"abc","text":"Rp 18.017"}]'
    expected = hmac.new(TOKEN.encode(), body, hashlib.sha256).hexdigest()
    assert forward.sign(body, TOKEN) == f"sha256={expected}"


def test_every_request_is_json_signed_and_names_the_forwarder_and_the_token_never_travels(server: FakeServer) -> None:
    client = forward.Client(PAIRING, transport=server)
    client.heartbeat(3, 1_700_000_000_000)
    client.notifications([{"id": "x", "title": "Pembayaran", "text": "Rp 18.017 é"}])
    for url, body, headers in server.requests:
        assert url.startswith("http://127.0.0.1:9/v1/sources/src_abc123/")
        assert headers["Content-Type"] == "application/json"
        assert headers["User-Agent"] == f"kasir-forward/{forward.__version__}"
        assert headers["X-Kasir-Signature"] == "sha256=" + hmac.new(TOKEN.encode(), body, hashlib.sha256).hexdigest()
        assert TOKEN.encode() not in body
        assert TOKEN not in json.dumps(headers)
        assert "Authorization" not in headers
    assert json.loads(server.requests[0][1]) == {
        "forwarder": f"kasir-forward/{forward.__version__}",
        "queued": 3,
        "oldest_queued_at": 1_700_000_000_000,
    }


# --- notifications, fingerprints, de-duplication ------------------------------------------------


def test_the_fingerprint_is_package_title_text_and_when_not_the_key() -> None:
    one = forward.notification_from(entry("Rp 18.017 di TOKO"))
    same_other_key = forward.notification_from({**entry("Rp 18.017 di TOKO"), "key": "other", "id": 9})
    reposted = forward.notification_from(entry("Rp 18.017 di TOKO", when="2025-03-01 10:00:07"))
    assert one is not None
    assert same_other_key is not None
    assert reposted is not None
    assert one.fingerprint == same_other_key.fingerprint
    assert one.fingerprint != reposted.fingerprint
    assert len(one.fingerprint) == 64
    assert int(one.fingerprint, 16) >= 0


def test_an_item_carries_the_contract_fields_and_posted_at_in_local_unix_ms() -> None:
    notification = forward.notification_from(entry("Rp 18.017 di TOKO", lines=["Rp 18.017", "di TOKO"]))
    assert notification is not None
    item = notification.item(seen_at_ms=123)
    expected_ms = int(time.mktime(time.strptime("2025-03-01 10:00:00", "%Y-%m-%d %H:%M:%S"))) * 1000
    assert item == {
        "id": notification.fingerprint,
        "package": GOPAY,
        "title": "Pembayaran QRIS statis diterima",
        "text": "Rp 18.017 di TOKO",
        "big_text": "Rp 18.017\ndi TOKO",
        "posted_at": expected_ms,
    }
    plain = forward.notification_from(entry("Rp 5.000"))
    assert plain is not None
    assert "big_text" not in plain.item(0)


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("1700000000000", 1_700_000_000_000),
        ("1700000000", 1_700_000_000_000),
        ("٢٠٢٥-٠٣-٠١ ١٠:٠٠:٠٠", int(time.mktime(time.strptime("2025-03-01 10:00:00", "%Y-%m-%d %H:%M:%S"))) * 1000),
        ("", None),
        ("yesterday", None),
    ],
)
def test_when_is_read_in_any_digits_or_as_a_number(when: str, expected: int | None) -> None:
    assert forward.parse_when(when) == expected


def test_a_notification_without_a_real_when_is_dated_when_seen() -> None:
    notification = forward.notification_from(entry("Rp 1", when="1970-01-01 07:00:00"))
    assert notification is not None
    assert notification.item(seen_at_ms=1_740_000_000_000)["posted_at"] == 1_740_000_000_000


@pytest.mark.parametrize("junk", [None, 3, "x", {"title": "no package"}, {"packageName": ""}])
def test_entries_that_are_no_notification_are_skipped(junk: Any) -> None:
    assert forward.notification_from(junk) is None


def test_each_distinct_notification_is_queued_once_however_often_it_is_listed(
    tmp_path: Path, fake_list: FakeList, server: FakeServer
) -> None:
    forwarder = make_forwarder(tmp_path / "data", fake_list, server)
    fake_list.show([entry("Rp 18.017"), entry("Rp 18.017")])
    assert len(forwarder.poll_once()) == 1
    for _ in range(3):
        assert forwarder.poll_once() == []
    # Swiped away and shown again (same when): still the same notification.
    fake_list.show([])
    forwarder.poll_once()
    fake_list.show([entry("Rp 18.017")])
    assert forwarder.poll_once() == []
    # The same key re-posted for a new payment: a new `when`, so a new notification.
    fake_list.show([entry("Rp 18.017"), entry("Rp 18.017", when="2025-03-01 10:05:00"), entry("Rp 20.000")])
    assert len(forwarder.poll_once()) == 2
    assert forwarder.store.count() == 3


def test_only_the_watched_apps_are_queued(tmp_path: Path, fake_list: FakeList, server: FakeServer) -> None:
    forwarder = make_forwarder(tmp_path / "data", fake_list, server)
    fake_list.show(
        [
            entry("Ketemu jam 5?", package="com.whatsapp"),
            entry("Rp 18.017"),
            entry("Transfer masuk", package="id.co.bri.brimo"),
        ]
    )
    queued = forwarder.poll_once()
    assert [item["package"] for item in queued] == [GOPAY]
    # A heartbeat that adds BRImo: from then on its notifications are queued too; WhatsApp never.
    server.apps = {GOPAY: "gopay_qris", "id.co.bri.brimo": "brimo"}
    forwarder.heartbeat()
    assert [item["package"] for item in forwarder.poll_once()] == ["id.co.bri.brimo"]
    forwarder.flush()
    sent = [item["package"] for batch in server.batches() for item in batch]
    assert sorted(sent) == [GOPAY, "id.co.bri.brimo"]
    assert b"Ketemu" not in (tmp_path / "data" / "queue.sqlite3").read_bytes()


def test_a_source_watching_no_app_forwards_nothing(tmp_path: Path, fake_list: FakeList, server: FakeServer) -> None:
    forwarder = make_forwarder(tmp_path / "data", fake_list, server, apps={})
    fake_list.show([entry("Rp 18.017")])
    assert forwarder.poll_once() == []


def test_a_broken_list_is_no_notification(tmp_path: Path, fake_list: FakeList, server: FakeServer) -> None:
    forwarder = make_forwarder(tmp_path / "data", fake_list, server)
    fake_list.file.write_text("")
    assert forwarder.poll_once() == []
    fake_list.file.write_text("{not json")
    assert forwarder.poll_once() == []
    with pytest.raises(ForwardError, match="pkg install termux-api"):
        forward.list_notifications([str(tmp_path / "missing")])


# --- the queue ----------------------------------------------------------------------------------


def test_the_queue_and_the_fingerprints_survive_a_restart(
    tmp_path: Path, fake_list: FakeList, server: FakeServer
) -> None:
    data = tmp_path / "data"
    first = make_forwarder(data, fake_list, server)
    fake_list.show([entry("Rp 18.017"), entry("Rp 20.000")])
    first.poll_once()
    first.store.close()  # the phone restarts: nothing was sent

    second = Forwarder(data, PAIRING, command=[str(fake_list.program)], transport=server)
    assert second.apps == {GOPAY: "gopay_qris"}  # known before any heartbeat
    assert second.store.count() == 2
    assert second.poll_once() == []  # still on screen, already queued
    assert second.flush() is True
    assert second.store.count() == 0
    third = Forwarder(data, PAIRING, command=[str(fake_list.program)], transport=server)
    assert third.poll_once() == []  # sent before the restart: not again
    assert len(server.ids) == 2


def test_batches_hold_at_most_500_oldest_first(tmp_path: Path, fake_list: FakeList, server: FakeServer) -> None:
    forwarder = make_forwarder(tmp_path / "data", fake_list, server)
    items = [
        {"id": f"{n:064x}", "package": GOPAY, "title": "t", "text": f"Rp {n}", "posted_at": n} for n in range(1203)
    ]
    forwarder.store.enqueue(items)
    assert forwarder.flush() is True
    assert [len(batch) for batch in server.batches()] == [500, 500, 203]
    assert [item["id"] for batch in server.batches() for item in batch] == [item["id"] for item in items]
    assert forwarder.store.count() == 0


def test_a_413_splits_the_batch_and_a_single_item_too_large_is_set_aside(
    tmp_path: Path, fake_list: FakeList, server: FakeServer
) -> None:
    forwarder = make_forwarder(tmp_path / "data", fake_list, server)
    forwarder.store.enqueue([{"id": f"{n:064x}", "text": str(n)} for n in range(8)])
    too_large = Answer(413, {"success": False, "error": "too large", "code": "body_too_large"})
    server.answers = [too_large, too_large]
    assert forwarder.flush() is True
    assert [len(batch) for batch in server.batches()] == [8, 4, 2, 2, 2, 2]
    forwarder.store.enqueue([{"id": "b" * 64, "text": "huge"}, {"id": "c" * 64, "text": "fine"}])
    server.answers = [too_large, too_large]
    assert forwarder.flush() is True
    assert forwarder.store.rejected_count() == 1
    assert server.ids[-1] == "c" * 64


def test_only_the_items_with_a_result_are_deleted(tmp_path: Path, fake_list: FakeList, server: FakeServer) -> None:
    forwarder = make_forwarder(tmp_path / "data", fake_list, server)
    forwarder.store.enqueue([{"id": f"{n:064x}"} for n in range(3)])
    server.answers = [Answer(200, {"success": True, "results": [{"outcome": "invalid", "code": "bad"}]})]
    assert forwarder.flush() is True
    assert len(server.batches()) == 2
    assert [item["id"] for item in server.batches()[1]] == [f"{n:064x}" for n in (1, 2)]


@pytest.mark.parametrize(
    "failure",
    [
        NetworkError("connection refused"),
        Answer(500, {"success": False, "error": "boom", "code": "internal"}),
        Answer(503, None),
        Answer(200, {"success": True}),
    ],
    ids=["network", "500", "503", "no-results"],
)
def test_a_failure_keeps_the_queue_and_backs_off(
    tmp_path: Path, fake_list: FakeList, server: FakeServer, failure: Answer | Exception
) -> None:
    forwarder = make_forwarder(tmp_path / "data", fake_list, server)
    forwarder.store.enqueue([{"id": "a" * 64}])
    server.answers = [failure]
    before = time.monotonic()
    assert forwarder.flush() is False
    assert forwarder.store.count() == 1
    assert forwarder.retry_at - before >= 0.5
    assert forwarder.store.get("last_error").startswith("sending 1 notification(s): ")


def test_429_waits_as_long_as_retry_after_says(tmp_path: Path, fake_list: FakeList, server: FakeServer) -> None:
    forwarder = make_forwarder(tmp_path / "data", fake_list, server)
    forwarder.store.enqueue([{"id": "a" * 64}])
    server.answers = [Answer(429, {"success": False, "code": "rate_limited"}, retry_after=30)]
    before = time.monotonic()
    assert forwarder.flush() is False
    assert forwarder.hold_until - before >= 30
    assert forward.retry_after_of("12") == 12
    assert forward.retry_after_of("Wed, 21 Oct 2015 07:28:00 GMT") == 0
    assert forward.retry_after_of("soon") is None


def test_the_backoff_grows_with_jitter_up_to_its_cap() -> None:
    backoff = forward.Backoff(base=1, cap=60)
    delays = [backoff.next_delay() for _ in range(12)]
    for n, delay in enumerate(delays):
        ceiling = min(60, 2**n)
        assert ceiling / 2 <= delay <= ceiling
    backoff.reset()
    assert backoff.next_delay() <= 1


@pytest.mark.parametrize("status", [401, 404])
def test_401_or_404_stops_the_sending_and_keeps_the_queue(
    tmp_path: Path, fake_list: FakeList, server: FakeServer, status: int
) -> None:
    forwarder = make_forwarder(tmp_path / "data", fake_list, server)
    forwarder.store.enqueue([{"id": "a" * 64}, {"id": "b" * 64}])
    server.answers = [Answer(status, {"success": False, "error": "no", "code": "invalid_signature"})]
    assert forwarder.flush() is False
    assert forwarder.paused
    assert forwarder.flush() is False
    assert len(server.requests) == 1
    assert forwarder.store.count() == 2
    assert "pair again" in forwarder.store.get("last_error")
    # Paired again (a new config.json): sending resumes.
    forward.save_pairing(tmp_path / "data", Pairing(PAIRING.base_url, "src_new", "kst_new"))
    forwarder._config_stamp = None
    forwarder._reload_pairing()
    assert forwarder.paused is None
    assert forwarder.flush() is True
    assert server.requests[-1][0].endswith("/src_new/notifications")


# --- files --------------------------------------------------------------------------------------


def test_the_data_folder_is_0700_and_its_files_0600(tmp_path: Path, fake_list: FakeList, server: FakeServer) -> None:
    old = os.umask(0o022)
    try:
        data = tmp_path / "data"
        forward.save_pairing(data, PAIRING)
        forwarder = make_forwarder(data, fake_list, server)
        fake_list.show([entry("Rp 18.017")])
        forwarder.poll_once()
    finally:
        os.umask(old)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    files = sorted(path.name for path in data.iterdir())
    assert {"config.json", "queue.sqlite3", "queue.sqlite3-wal", "queue.sqlite3-shm"} <= set(files)
    for path in data.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert json.loads((data / "config.json").read_text())["token"] == TOKEN
    assert forward.load_pairing(data) == PAIRING


# --- commands -----------------------------------------------------------------------------------


def test_dry_run_prints_one_json_line_per_notification_and_stores_nothing(
    tmp_path: Path, fake_list: FakeList, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_list.show([entry("Rp 18.017"), entry("Rp 18.017"), entry("Halo", package="com.whatsapp"), entry("Rp 2")])
    data = tmp_path / "nothing-here"
    argv = ["run", "--dry-run", "--once", "--app", GOPAY, "--command", str(fake_list.program), "--data-dir", str(data)]
    assert forward.main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["text"] for line in lines] == ["Rp 18.017", "Rp 2"]
    assert not data.exists()


def test_dry_run_without_a_pairing_or_an_app_says_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert forward.main(["run", "--dry-run", "--once", "--data-dir", str(tmp_path / "d")]) == 1
    assert "--app" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_run_and_status_unpaired(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert forward.main(["run", "--data-dir", str(tmp_path / "d")]) == 1
    assert "pair" in capsys.readouterr().err
    assert forward.main(["status", "--json", "--data-dir", str(tmp_path / "d")]) == 0
    assert json.loads(capsys.readouterr().out)["paired"] is False
    assert not (tmp_path / "d").exists()


def test_pair_refuses_a_url_without_a_token(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert forward.main(["pair", "https://kasir.example/v1/sources/src_1", "--data-dir", str(tmp_path / "d")]) == 1
    assert "no token" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_kasir_forward_passes_its_arguments_to_the_forwarder(tmp_path: Path) -> None:
    from kasir.cli import app

    result = CliRunner().invoke(app, ["forward", "--help"])
    assert result.exit_code == 0, result.output
    assert "usage: kasir forward" in result.output
    assert "pair" in result.output
    assert "status" in result.output
    result = CliRunner().invoke(app, ["forward", "status", "--json", "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["queued"] == 0


# --- the file itself ----------------------------------------------------------------------------


def test_the_forwarder_imports_the_standard_library_only() -> None:
    tree = ast.parse(FORWARD_PY.read_text())
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "a relative import would not work as a copied file"
            assert node.module is not None
            imported.add(node.module.split(".")[0])
    assert imported, "the walk found the imports"
    assert imported - {"__future__"} <= set(sys.stdlib_module_names), imported - set(sys.stdlib_module_names)


def test_the_distribution_builds_this_file_at_this_version() -> None:
    project = tomllib.loads((REPO / "forwarder" / "pyproject.toml").read_text())["project"]
    assert project["name"] == "kasir-forward"
    assert project["version"] == forward.__version__
    assert project["scripts"] == {"kasir-forward": "kasir_forward:console_main"}
    assert project["dependencies"] == []
    assert '"kasir" / "forward.py"' in (REPO / "forwarder" / "setup.py").read_text()


def python39() -> str | None:
    """A Python 3.9 on this machine (PATH, or pyenv's), the oldest the forwarder supports."""
    candidates = [
        shutil.which("python3.9"),
        *sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.9*/bin/python3.9"))),
    ]
    for candidate in filter(None, candidates):
        try:
            done = subprocess.run(
                [candidate, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True, timeout=30
            )
        except OSError:
            continue
        if done.stdout.strip() == "(3, 9)":
            return candidate
    return None


PYTHON39 = python39()


@pytest.mark.skipif(PYTHON39 is None, reason="no Python 3.9 on this machine")
def test_the_file_runs_on_python_3_9(tmp_path: Path, fake_list: FakeList) -> None:
    assert PYTHON39 is not None
    copied = tmp_path / "kasir_forward.py"
    shutil.copyfile(FORWARD_PY, copied)  # as a shop owner has it: a lone copied file
    fake_list.show([entry("Rp 18.017")])
    runs = {
        "help": ["--help"],
        "status": ["status", "--data-dir", str(tmp_path / "d")],
        "dry-run": ["run", "--dry-run", "--once", "--app", GOPAY, "--command", str(fake_list.program)],
    }
    outputs = {}
    for name, args in runs.items():
        done = subprocess.run([PYTHON39, str(copied), *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, (name, done.stderr)
        outputs[name] = done.stdout
    assert "usage: kasir_forward.py" in outputs["help"]
    assert "not paired" in outputs["status"]
    assert json.loads(outputs["dry-run"])["text"] == "Rp 18.017"
