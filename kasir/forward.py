"""kasir-forward: send a shop phone's payment notifications to a Kasir source.

Runs on the merchant's Android phone under Termux (docs/forwarder.md). Every second it reads the
notifications on screen with ``termux-notification-list`` (Termux:API), keeps those of the apps
the source watches (the server names them in every heartbeat answer; any other app's notification
never leaves the phone), and queues each distinct one in a SQLite database before anything is
sent. A sender thread posts the queue, oldest first, in signed batches of up to 500, and deletes
an item only once the server has answered 200 with a result for it. Network errors, timeouts,
429 and 5xx are retried with exponential backoff; 401 and 404 stop the sending (the queue is
kept) until the source is paired again. A heartbeat goes out every 30 seconds, with or without
anything to send.

One file, standard library only, Python 3.9+: copy it onto the phone and run
``python kasir_forward.py --help``. The same file is ``kasir forward`` in Kasir's CLI and the
``kasir-forward`` distribution (forwarder/).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import logging
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

__version__ = "0.1.0"
USER_AGENT = f"kasir-forward/{__version__}"

MAX_BATCH = 500
POLL_INTERVAL = 1.0
HEARTBEAT_INTERVAL = 30.0
BACKOFF_BASE = 1.0
BACKOFF_CAP = 60.0
RETRY_AFTER_CAP = 3600.0
PAUSED_PROBE_INTERVAL = 600.0
HTTP_TIMEOUT = 20.0
LIST_TIMEOUT = 15.0
SEEN_KEEP_MS = 30 * 24 * 3600 * 1000
MAX_ANSWER_BYTES = 4 * 1024 * 1024
LIST_COMMAND = "termux-notification-list"
DATA_DIR_ENV = "KASIR_FORWARD_HOME"
DEFAULT_DATA_DIR = "~/.kasir-forward"
# A `when` before this (2001-09-09) is no real posting time: apps that leave it unset show 0.
EARLIEST_WHEN_MS = 1_000_000_000_000

log = logging.getLogger("kasir-forward")

Transport = Callable[[str, bytes, dict[str, str], float], "Answer"]


class ForwardError(Exception):
    """A problem the user can act on; its message says what to do."""


# --- pairing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pairing:
    """Where to send and the key to sign with. The token is never shown (repr, logs, status)."""

    base_url: str
    source_id: str
    token: str = field(repr=False)

    def url(self, endpoint: str) -> str:
        return f"{self.base_url}/v1/sources/{urllib.parse.quote(self.source_id, safe='')}/{endpoint}"

    def to_json(self) -> dict[str, str]:
        return {"base_url": self.base_url, "source_id": self.source_id, "token": self.token}


def parse_pair_url(url: str) -> Pairing:
    """``https://host[/prefix]/v1/sources/src_abc#token=kst_…`` → base URL, source id, token."""
    url = url.strip()
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ForwardError(f"not a pairing URL (it must start with https:// or http://): {_shown_url(url)}")
    marker = "/v1/sources/"
    where = parts.path.rfind(marker)
    if where < 0:
        raise ForwardError(f"not a pairing URL (no /v1/sources/<id> in it): {_shown_url(url)}")
    source_id = urllib.parse.unquote(parts.path[where + len(marker) :].strip("/"))
    if not source_id or "/" in source_id:
        raise ForwardError(f"not a pairing URL (no source id after /v1/sources/): {_shown_url(url)}")
    tokens = urllib.parse.parse_qs(parts.fragment).get("token", [])
    token = tokens[0].strip() if tokens else ""
    if not token:
        raise ForwardError(
            "the pairing URL has no token (the part after #token=): copy the whole URL Kasir printed "
            "when the source was created, in quotes"
        )
    base = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path[:where], "", ""))
    return Pairing(base_url=base.rstrip("/"), source_id=source_id, token=token)


def _shown_url(url: str) -> str:
    """A URL as it may be printed: without its fragment, where the token is."""
    return url.split("#", 1)[0]


def sign(body: bytes, token: str) -> str:
    """The ``X-Kasir-Signature`` value: HMAC-SHA256 of the raw body, keyed by the token."""
    return "sha256=" + hmac.new(token.encode("utf-8"), body, hashlib.sha256).hexdigest()


def encode_body(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# --- notifications ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Notification:
    """One entry of ``termux-notification-list``, as the server is sent it."""

    package: str
    title: str
    text: str
    when: str
    big_text: str | None = None

    @property
    def fingerprint(self) -> str:
        """What makes it distinct: (package, title, text, when). Not the key: some apps keep one
        key and re-post with a new ``when`` for every payment."""
        material = json.dumps([self.package, self.title, self.text, self.when], ensure_ascii=False)
        return hashlib.sha256(material.encode("utf-8")).hexdigest()

    def item(self, seen_at_ms: int) -> dict[str, Any]:
        posted_at = parse_when(self.when)
        if posted_at is None or posted_at < EARLIEST_WHEN_MS:
            posted_at = seen_at_ms
        item: dict[str, Any] = {
            "id": self.fingerprint,
            "package": self.package,
            "title": self.title,
            "text": self.text,
        }
        if self.big_text:
            item["big_text"] = self.big_text
        item["posted_at"] = posted_at
        return item


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def notification_from(entry: Any) -> Notification | None:
    """Termux:API prints ``packageName``, ``title``, ``content`` (the big text when there is one,
    else the text), ``when`` (local time, ``yyyy-MM-dd HH:mm:ss``) and, for inbox-style
    notifications, ``lines``. Anything that is not an object with a package is skipped."""
    if not isinstance(entry, dict):
        return None
    package = _text(entry.get("packageName"))
    if not package:
        return None
    lines = entry.get("lines")
    big_text = None
    if isinstance(lines, list) and lines:
        big_text = "\n".join(_text(line) for line in lines)
    return Notification(
        package=package,
        title=_text(entry.get("title")),
        text=_text(entry.get("content")),
        when=_text(entry.get("when")),
        big_text=big_text,
    )


def _ascii_digits(value: str) -> str:
    return "".join(str(unicodedata.digit(c)) if c.isdigit() else c for c in value)


def parse_when(when: str) -> int | None:
    """Unix ms of a ``when``: Termux:API's local ``yyyy-MM-dd HH:mm:ss`` (digits of any script),
    or already a number of ms or s. None when it is neither."""
    value = _ascii_digits(when.strip())
    if not value:
        return None
    if value.isdigit():
        number = int(value)
        return number if number >= 10**11 else number * 1000
    for pattern in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"):
        try:
            moment = time.strptime(value, pattern)
        except ValueError:
            continue
        return int(time.mktime(moment)) * 1000
    return None


def list_notifications(command: Sequence[str], timeout: float = LIST_TIMEOUT) -> list[Any]:
    """The notifications on screen now, as ``termux-notification-list`` prints them."""
    try:
        done = subprocess.run(  # noqa: S603 - the command is the user's own setting
            list(command), capture_output=True, timeout=timeout, check=False
        )
    except FileNotFoundError:
        raise ForwardError(
            f"{command[0]} not found: install it with `pkg install termux-api` (and the Termux:API app)"
        ) from None
    except subprocess.TimeoutExpired:
        raise ForwardError(
            f"{command[0]} gave no answer in {timeout:g} s: is the Termux:API app installed (from F-Droid)?"
        ) from None
    except OSError as exc:
        raise ForwardError(f"{command[0]} could not run: {exc}") from None
    output = done.stdout.decode("utf-8", "replace").strip()
    if done.returncode != 0:
        said = (done.stderr.decode("utf-8", "replace").strip() or output)[:200]
        raise ForwardError(f"{command[0]} failed (exit {done.returncode}): {said}")
    if not output:
        raise ForwardError(
            f"{command[0]} printed nothing: give Termux:API notification access (Android settings, Notification access)"
        )
    try:
        listed = json.loads(output)
    except ValueError:
        raise ForwardError(f"{command[0]} printed something that is not JSON: {output[:120]!r}") from None
    if not isinstance(listed, list):
        raise ForwardError(f"{command[0]} printed JSON that is not a list: {output[:120]!r}")
    return listed


# --- the queue -------------------------------------------------------------------------------

SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    queued_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS seen (
    id TEXT PRIMARY KEY,
    first_seen INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rejected (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    reason TEXT NOT NULL,
    rejected_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""


def now_ms() -> int:
    return int(time.time() * 1000)


def make_private_dir(path: Path) -> None:
    """The data folder, 0700 whatever the umask (it holds the token and the queue)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def write_private(path: Path, data: bytes) -> None:
    """Write a file 0600, atomically: a reader sees the old or the new content, never half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class Store:
    """The SQLite queue, the fingerprints already queued, and the state ``status`` shows.

    One instance per thread (sqlite3 connections are not shared). WAL and synchronous=FULL: a
    notification is on disk once ``enqueue`` has returned, whatever happens to the phone next."""

    FILE = "queue.sqlite3"

    def __init__(self, data_dir: Path) -> None:
        make_private_dir(data_dir)
        self.path = data_dir / self.FILE
        if not self.path.exists():
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        self.db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.chmod(f"{self.path}{suffix}", 0o600)

    def close(self) -> None:
        self.db.close()

    @contextlib.contextmanager
    def _transaction(self) -> Any:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def known(self, fingerprint: str) -> bool:
        return self.db.execute("SELECT 1 FROM seen WHERE id = ?", (fingerprint,)).fetchone() is not None

    def enqueue(self, items: Sequence[dict[str, Any]], at_ms: int | None = None) -> list[dict[str, Any]]:
        """Queue the items whose id was never queued before; returns those it queued."""
        at = now_ms() if at_ms is None else at_ms
        queued: list[dict[str, Any]] = []
        with self._transaction():
            for item in items:
                cursor = self.db.execute("INSERT OR IGNORE INTO seen (id, first_seen) VALUES (?, ?)", (item["id"], at))
                if cursor.rowcount:
                    self.db.execute(
                        "INSERT OR IGNORE INTO queue (id, body, queued_at) VALUES (?, ?, ?)",
                        (item["id"], json.dumps(item, ensure_ascii=False), at),
                    )
                    queued.append(item)
        return queued

    def oldest(self, limit: int) -> list[tuple[int, dict[str, Any]]]:
        rows = self.db.execute("SELECT seq, body FROM queue ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [(int(seq), json.loads(body)) for seq, body in rows]

    def delete(self, seqs: Sequence[int]) -> None:
        with self._transaction():
            self.db.executemany("DELETE FROM queue WHERE seq = ?", [(seq,) for seq in seqs])

    def reject(self, seq: int, reason: str) -> None:
        """Set aside an item the server will never take (too large alone), so the rest can go."""
        with self._transaction():
            row = self.db.execute("SELECT id, body FROM queue WHERE seq = ?", (seq,)).fetchone()
            if row is not None:
                self.db.execute(
                    "INSERT OR REPLACE INTO rejected (id, body, reason, rejected_at) VALUES (?, ?, ?, ?)",
                    (row[0], row[1], reason, now_ms()),
                )
                self.db.execute("DELETE FROM queue WHERE seq = ?", (seq,))

    def count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM queue").fetchone()[0])

    def rejected_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM rejected").fetchone()[0])

    def oldest_queued_at(self) -> int | None:
        row = self.db.execute("SELECT MIN(queued_at) FROM queue").fetchone()
        return None if row[0] is None else int(row[0])

    def prune_seen(self, keep_ms: int = SEEN_KEEP_MS) -> None:
        """Forget fingerprints older than a month (still listed after that, one is sent again and
        the server answers ``duplicate``)."""
        with self._transaction():
            self.db.execute(
                "DELETE FROM seen WHERE first_seen < ? AND id NOT IN (SELECT id FROM queue)", (now_ms() - keep_ms,)
            )

    def get(self, key: str) -> Any:
        row = self.db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def put(self, **values: Any) -> None:
        with self._transaction():
            for key, value in values.items():
                self.db.execute(
                    "INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)",
                    (key, json.dumps(value, ensure_ascii=False)),
                )


def read_state(data_dir: Path) -> dict[str, Any] | None:
    """The stored state and queue figures, read-only (``status``, ``--dry-run``): creates nothing."""
    path = data_dir / Store.FILE
    if not path.exists():
        return None
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    try:
        state = {key: json.loads(value) for key, value in db.execute("SELECT key, value FROM state")}
        count, oldest = db.execute("SELECT COUNT(*), MIN(queued_at) FROM queue").fetchone()
        state["queued"] = int(count)
        state["oldest_queued_at"] = oldest
        state["rejected"] = int(db.execute("SELECT COUNT(*) FROM rejected").fetchone()[0])
    except sqlite3.Error:
        return None
    finally:
        db.close()
    return state


# --- configuration ---------------------------------------------------------------------------

CONFIG_FILE = "config.json"


def data_dir_of(option: str | None) -> Path:
    return Path(option or os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR).expanduser()


def save_pairing(data_dir: Path, pairing: Pairing) -> None:
    make_private_dir(data_dir)
    config = dict(pairing.to_json(), paired_at=now_ms())
    write_private(data_dir / CONFIG_FILE, (json.dumps(config, indent=2) + "\n").encode("utf-8"))


def load_pairing(data_dir: Path) -> Pairing | None:
    try:
        config = json.loads((data_dir / CONFIG_FILE).read_text("utf-8"))
        return Pairing(base_url=config["base_url"], source_id=config["source_id"], token=config["token"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ForwardError(f"{data_dir / CONFIG_FILE} is unreadable ({exc}): pair again") from None


# --- HTTP ------------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    body: Any
    retry_after: float | None = None
    location: str | None = None

    def error(self) -> str:
        """The server's words for a failure, for one log line."""
        if 300 <= self.status < 400:
            return (
                f"HTTP {self.status}, redirected to {_shown_url(self.location or '?')}: pair with a URL on that address"
            )
        if isinstance(self.body, dict) and (self.body.get("error") or self.body.get("code")):
            return f"{self.body.get('code') or 'error'}: {str(self.body.get('error') or '')[:200]}"
        return f"HTTP {self.status}"


class NetworkError(Exception):
    """No HTTP answer: refused, reset, unreachable, timed out, TLS failed."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect would turn the POST into a GET without its body: treat it as the answer."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects())


def retry_after_of(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None:
        return None
    return max(0.0, moment.timestamp() - time.time())


def http_post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
    answered: Any = None
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - http(s) only
    try:
        with _opener.open(request, timeout=timeout) as response:
            status, raw, answered = response.status, response.read(MAX_ANSWER_BYTES), response.headers
    except urllib.error.HTTPError as exc:
        status, answered = exc.code, exc.headers
        try:
            raw = exc.read(MAX_ANSWER_BYTES)
        except Exception:  # the body of an error may be cut off; its status is what counts
            raw = b""
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise NetworkError(str(reason) or type(exc).__name__) from None
    except Exception as exc:  # http.client.HTTPException and kin: a broken answer is no answer
        raise NetworkError(f"{type(exc).__name__}: {exc}") from None
    try:
        parsed = json.loads(raw.decode("utf-8")) if raw else None
    except ValueError:
        parsed = None
    return Answer(
        status=status,
        body=parsed,
        retry_after=retry_after_of(answered.get("Retry-After") if answered else None),
        location=answered.get("Location") if answered else None,
    )


class Client:
    """Signed POSTs to one source."""

    def __init__(self, pairing: Pairing, transport: Transport = http_post, timeout: float = HTTP_TIMEOUT) -> None:
        self.pairing = pairing
        self.transport = transport
        self.timeout = timeout

    def post(self, endpoint: str, payload: Any) -> Answer:
        body = encode_body(payload)
        headers = {
            "Content-Type": "application/json",
            "X-Kasir-Signature": sign(body, self.pairing.token),
            "User-Agent": USER_AGENT,
        }
        return self.transport(self.pairing.url(endpoint), body, headers, self.timeout)

    def heartbeat(self, queued: int, oldest_queued_at: int | None) -> Answer:
        return self.post("heartbeat", {"forwarder": USER_AGENT, "queued": queued, "oldest_queued_at": oldest_queued_at})

    def notifications(self, items: Sequence[dict[str, Any]]) -> Answer:
        return self.post("notifications", list(items))


def apps_of(answer: Answer) -> dict[str, str] | None:
    """The packages to forward, from a heartbeat answer: the keys of ``source.apps``."""
    if answer.status != 200 or not isinstance(answer.body, dict):
        return None
    source = answer.body.get("source")
    apps = source.get("apps") if isinstance(source, dict) else None
    if not isinstance(apps, dict):
        return None
    return {str(package): _text(parser) for package, parser in apps.items()}


# --- the forwarder ---------------------------------------------------------------------------


class Backoff:
    """Exponential, with jitter (each wait between half and all of min(cap, base * 2^n))."""

    def __init__(self, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP) -> None:
        self.base, self.cap, self.failures = base, cap, 0

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * float(2 ** min(self.failures, 30)))
        self.failures += 1
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def reset(self) -> None:
        self.failures = 0


class _Quiet:
    """One log line per distinct problem, repeated at most every ``every`` seconds while it lasts."""

    def __init__(self, every: float = 300.0) -> None:
        self.every, self.last, self.at = every, "", 0.0

    def warn(self, message: str) -> None:
        now = time.monotonic()
        if message != self.last or now - self.at >= self.every:
            log.warning("%s", message)
            self.last, self.at = message, now

    def clear(self, recovered: str) -> None:
        if self.last:
            log.info("%s", recovered)
        self.last = ""


def _one_line(value: str, limit: int = 120) -> str:
    shown = json.dumps(value, ensure_ascii=False)
    return shown if len(shown) <= limit else shown[: limit - 4] + '…"'


class Forwarder:
    """The poller (``poll_once``, every second, local only) and the sender (``heartbeat`` and
    ``flush``, in a thread of its own so that a slow network never delays the reading)."""

    def __init__(
        self,
        data_dir: Path,
        pairing: Pairing,
        *,
        command: Sequence[str] = (LIST_COMMAND,),
        transport: Transport = http_post,
        poll_interval: float = POLL_INTERVAL,
        heartbeat_interval: float = HEARTBEAT_INTERVAL,
        backoff_cap: float = BACKOFF_CAP,
        batch_size: int = MAX_BATCH,
    ) -> None:
        self.data_dir = data_dir
        self.pairing = pairing
        self.command = list(command)
        self.transport = transport
        self.poll_interval = poll_interval
        self.heartbeat_interval = heartbeat_interval
        self.max_batch = max(1, min(MAX_BATCH, batch_size))
        self.batch_limit = self.max_batch
        self.backoff = Backoff(cap=backoff_cap)
        self.stop = threading.Event()
        self.wake = threading.Event()
        self.store = Store(data_dir)
        stored = self.store.get("apps")
        self._apps: dict[str, str] = stored if isinstance(stored, dict) else {}
        self._apps_lock = threading.Lock()
        self._listed: set[str] = set()
        self._list_problem = _Quiet()
        self._heartbeat_problem = _Quiet()
        self.paused: str | None = None
        self.retry_at = 0.0  # monotonic: no notification POST before it (backoff)
        self.hold_until = 0.0  # monotonic: no request at all before it (Retry-After)
        self.next_heartbeat = 0.0
        self._config_stamp = self._stamp()

    # -- state shared by the two threads

    @property
    def apps(self) -> dict[str, str]:
        with self._apps_lock:
            return dict(self._apps)

    def _set_apps(self, store: Store, apps: dict[str, str]) -> None:
        with self._apps_lock:
            changed, self._apps = apps != self._apps, apps
        if changed:
            store.put(apps=apps)
            if apps:
                log.info("forwarding notifications of: %s", ", ".join(sorted(apps)))
            else:
                log.warning("the source watches no app: nothing will be forwarded (add apps to it in Kasir)")

    # -- the poller

    def poll_once(self, store: Store | None = None) -> list[dict[str, Any]]:
        """Read the notifications once, queue the new ones of watched apps; returns those."""
        store = store or self.store
        try:
            entries = list_notifications(self.command)
        except ForwardError as exc:
            self._list_problem.warn(str(exc))
            return []
        self._list_problem.clear(f"{self.command[0]} works again")
        watched = self.apps
        listed: set[str] = set()
        fresh: list[dict[str, Any]] = []
        fresh_ids: set[str] = set()
        seen_at = now_ms()
        for entry in entries:
            notification = notification_from(entry)
            if notification is None or notification.package not in watched:
                continue
            fingerprint = notification.fingerprint
            listed.add(fingerprint)
            if fingerprint in self._listed or fingerprint in fresh_ids:
                continue
            if not store.known(fingerprint):
                fresh.append(notification.item(seen_at))
                fresh_ids.add(fingerprint)
        queued = store.enqueue(fresh, seen_at) if fresh else []
        self._listed = listed
        for item in queued:
            log.info(
                "queued %s %s %s (%s)",
                item["package"],
                _one_line(item["title"]),
                _one_line(item["text"]),
                item["id"][:12],
            )
        if queued:
            self.wake.set()
        return queued

    def poll_forever(self) -> None:
        self.store.prune_seen()
        pruned_at = time.monotonic()
        next_poll = time.monotonic()
        while not self.stop.is_set():
            self.poll_once()
            if time.monotonic() - pruned_at > 3600:
                self.store.prune_seen()
                pruned_at = time.monotonic()
            next_poll = max(next_poll + self.poll_interval, time.monotonic())
            self.stop.wait(max(0.0, next_poll - time.monotonic()))

    # -- the sender

    def _stamp(self) -> float | None:
        try:
            return (self.data_dir / CONFIG_FILE).stat().st_mtime
        except OSError:
            return None

    def _reload_pairing(self) -> None:
        """A ``pair`` while running: take the new source and start again from a clean slate."""
        stamp = self._stamp()
        if stamp == self._config_stamp:
            return
        self._config_stamp = stamp
        try:
            pairing = load_pairing(self.data_dir)
        except ForwardError as exc:
            log.error("%s", exc)
            return
        if pairing is not None and pairing != self.pairing:
            self.pairing = pairing
            self.paused = None
            self.backoff.reset()
            self.retry_at = self.hold_until = self.next_heartbeat = 0.0
            log.info("paired again: now source %s at %s", pairing.source_id, pairing.base_url)

    def _client(self) -> Client:
        return Client(self.pairing, self.transport)

    def _unpaired(self, store: Store, answer: Answer, what: str) -> None:
        reason = answer.error()
        if self.paused != reason:
            log.error(
                "%s refused (%s): the source must be paired again: create a pairing URL in Kasir and run "
                "`kasir-forward pair URL`. Sending stopped; the %d queued notification(s) are kept",
                what,
                reason,
                store.count(),
            )
        self.paused = reason
        self.next_heartbeat = time.monotonic() + PAUSED_PROBE_INTERVAL  # a rare probe, no more
        store.put(last_error=f"{what}: {reason}: pair again", last_error_at=now_ms(), paused=reason)

    def _hold(self, store: Store, what: str, answer: Answer | None, error: str) -> None:
        """After a failure: wait (Retry-After if the server said, else the backoff) and say so."""
        if answer is not None and answer.status == 429 and answer.retry_after is not None:
            delay = min(RETRY_AFTER_CAP, answer.retry_after) + random.uniform(0, 1)
            self.hold_until = time.monotonic() + delay
            self.backoff.failures += 1
        else:
            delay = self.backoff.next_delay()
        self.retry_at = time.monotonic() + delay
        log.warning("%s failed (%s): %d queued, next try in %.0f s", what, error, store.count(), delay)
        store.put(last_error=f"{what}: {error}", last_error_at=now_ms())

    def heartbeat(self, store: Store | None = None) -> Answer | None:
        """One heartbeat; refreshes the apps to forward. None when the server could not be reached."""
        store = store or self.store
        try:
            answer = self._client().heartbeat(store.count(), store.oldest_queued_at())
        except NetworkError as exc:
            self._heartbeat_problem.warn(f"heartbeat failed: {exc}")
            store.put(last_error=f"heartbeat: {exc}", last_error_at=now_ms())
            return None
        if answer.status in (401, 404):
            self._unpaired(store, answer, "heartbeat")
        elif answer.status == 429:
            self.hold_until = time.monotonic() + min(RETRY_AFTER_CAP, answer.retry_after or self.heartbeat_interval)
            self._heartbeat_problem.warn(f"heartbeat: too many requests (429), waiting {answer.retry_after or 0:.0f} s")
        elif answer.status != 200 or apps_of(answer) is None:
            self._heartbeat_problem.warn(f"heartbeat failed: {answer.error()}")
            store.put(last_error=f"heartbeat: {answer.error()}", last_error_at=now_ms())
        else:
            self._heartbeat_problem.clear("heartbeat answered again")
            if self.paused:
                log.info("the source answers again: sending resumes")
                self.paused = None
                store.put(paused=None)
            apps = apps_of(answer)
            assert apps is not None
            self._set_apps(store, apps)
            store.put(last_heartbeat_at=now_ms())
            if self.backoff.failures and time.monotonic() >= self.hold_until:
                self.backoff.reset()  # the server is back: send what waits now, not after the backoff
                self.retry_at = 0.0
                self.wake.set()
        return answer

    def flush(self, store: Store | None = None) -> bool:
        """Send the queue, oldest first, until it is empty or a request fails. True if emptied."""
        store = store or self.store
        while not self.stop.is_set() and self.paused is None:
            batch = store.oldest(self.batch_limit)
            if not batch:
                self.batch_limit = self.max_batch  # split after a 413 until the queue is empty
                return True
            items = [item for _, item in batch]
            what = f"sending {len(items)} notification(s)"
            try:
                answer = self._client().notifications(items)
            except NetworkError as exc:
                self._hold(store, what, None, str(exc))
                return False
            if answer.status == 200:
                results = answer.body.get("results") if isinstance(answer.body, dict) else None
                if not isinstance(results, list) or not results or len(results) > len(items):
                    self._hold(store, what, answer, "the answer has no result per notification")
                    return False
                self._delivered(store, batch[: len(results)], results)
                self.backoff.reset()
                continue
            if answer.status == 413:
                if len(items) > 1:
                    self.batch_limit = max(1, len(items) // 2)
                    log.warning("the server found %d notifications too large for one request: splitting", len(items))
                    continue
                seq, item = batch[0]
                store.reject(seq, answer.error())
                log.error("notification %s is too large for the server even alone: set aside", item["id"][:12])
                continue
            if answer.status in (401, 404):
                self._unpaired(store, answer, what)
                return False
            self._hold(store, what, answer, answer.error())
            return False
        return False

    def _delivered(self, store: Store, batch: Sequence[tuple[int, dict[str, Any]]], results: Sequence[Any]) -> None:
        store.delete([seq for seq, _ in batch])
        summary: dict[str, int] = {}
        for index, (_, item) in enumerate(batch):
            result = results[index]
            outcome = _text(result.get("outcome")) if isinstance(result, dict) else "?"
            summary[outcome] = summary.get(outcome, 0) + 1
            if outcome == "matched":
                log.info(
                    "matched: Rp %s paid invoice %s (%s)",
                    result.get("amount"),
                    result.get("invoice_id"),
                    item["id"][:12],
                )
            elif outcome == "invalid":
                log.warning("the server found notification %s invalid (%s)", item["id"][:12], result.get("code"))
        said = ", ".join(f"{outcome} {count}" for outcome, count in sorted(summary.items()))
        log.info("delivered %d notification(s): %s; %d queued", len(batch), said, store.count())
        store.put(last_success=f"delivered {len(batch)}: {said}", last_success_at=now_ms())

    def send_forever(self) -> None:
        store = Store(self.data_dir)
        try:
            while not self.stop.is_set():
                self._reload_pairing()
                now = time.monotonic()
                if now >= self.hold_until and now >= self.next_heartbeat:
                    interval = PAUSED_PROBE_INTERVAL if self.paused else self.heartbeat_interval
                    self.next_heartbeat = now + interval
                    self.heartbeat(store)
                now = time.monotonic()
                if self.paused is None and now >= self.retry_at and now >= self.hold_until:
                    self.wake.clear()
                    self.flush(store)
                now = time.monotonic()
                wait = self.next_heartbeat - now
                if self.paused is None and store.count():
                    wait = min(wait, max(self.retry_at, self.hold_until) - now)
                self.wake.wait(min(max(0.05, wait), 5.0))
                self.wake.clear()
        finally:
            store.close()

    def run(self) -> None:
        sender = threading.Thread(target=self.send_forever, name="sender", daemon=True)
        sender.start()
        try:
            self.poll_forever()
        finally:
            self.stop.set()
            self.wake.set()
            sender.join(HTTP_TIMEOUT + 5)
            self.store.close()


# --- commands --------------------------------------------------------------------------------


def _lock(data_dir: Path) -> Any:
    """One ``run`` per data folder. Returns the open lock file (kept open while running)."""
    import fcntl

    fd = os.open(data_dir / "run.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise ForwardError(f"another kasir-forward run is already using {data_dir}") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def _running(data_dir: Path) -> int | None:
    """The pid of the ``run`` holding the data folder's lock, if one does."""
    import fcntl

    try:
        fd = os.open(data_dir / "run.lock", os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        try:
            return int(os.read(fd, 32).decode().strip() or 0) or -1
        except ValueError:
            return -1
    finally:
        os.close(fd)
    return None


def _ago(ms: Any) -> str:
    if not isinstance(ms, (int, float)):
        return "never"
    seconds = max(0, int(time.time() - ms / 1000))
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000))
    if seconds < 120:
        return f"{stamp} ({seconds} s ago)"
    if seconds < 7200:
        return f"{stamp} ({seconds // 60} min ago)"
    return f"{stamp} ({seconds // 3600} h ago)"


def _print_apps(apps: dict[str, str]) -> None:
    if not apps:
        print("the source watches no app yet: nothing will be forwarded until apps are added to it in Kasir")
        return
    print("notifications of these apps will be forwarded (no other app's):")
    for package, parser in sorted(apps.items()):
        print(f"  {package}" + (f"  ({parser})" if parser else ""))


def cmd_pair(args: argparse.Namespace) -> int:
    pairing = parse_pair_url(args.url)
    data_dir = data_dir_of(args.data_dir)
    state = read_state(data_dir) or {}
    client = Client(pairing)
    try:
        answer = client.heartbeat(int(state.get("queued") or 0), state.get("oldest_queued_at"))
    except NetworkError as exc:
        raise ForwardError(f"could not reach {pairing.base_url}: {exc} (check the URL and the network)") from None
    if answer.status in (401, 404):
        raise ForwardError(
            f"{pairing.base_url} refused this pairing ({answer.error()}): the URL is outdated or mistyped; "
            "create a new one in Kasir"
        )
    apps = apps_of(answer)
    if apps is None:
        raise ForwardError(f"{pairing.base_url} did not answer as Kasir does ({answer.error()}): check the URL")
    save_pairing(data_dir, pairing)
    store = Store(data_dir)
    try:
        store.put(apps=apps, paused=None, last_heartbeat_at=now_ms())
    finally:
        store.close()
    source = answer.body.get("source", {})
    name = source.get("name") if isinstance(source, dict) else None
    print(f"paired with source {pairing.source_id}" + (f" ({name})" if name else "") + f" at {pairing.base_url}")
    print(f"configuration saved in {data_dir / CONFIG_FILE}")
    _print_apps(apps)
    if state.get("queued"):
        print(f"{state['queued']} notification(s) already queued will be sent to this source")
    print("next: kasir-forward run")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    data_dir = data_dir_of(args.data_dir)
    pairing = load_pairing(data_dir)
    state = read_state(data_dir) or {}
    pid = _running(data_dir)
    report: dict[str, Any] = {
        "paired": pairing is not None,
        "base_url": pairing.base_url if pairing else None,
        "source_id": pairing.source_id if pairing else None,
        "running_pid": pid,
        "apps": state.get("apps") or {},
        "queued": int(state.get("queued") or 0),
        "oldest_queued_at": state.get("oldest_queued_at"),
        "rejected": int(state.get("rejected") or 0),
        "last_success": state.get("last_success"),
        "last_success_at": state.get("last_success_at"),
        "last_heartbeat_at": state.get("last_heartbeat_at"),
        "last_error": state.get("last_error"),
        "last_error_at": state.get("last_error_at"),
        "paused": state.get("paused"),
    }
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return 0
    if pairing is None:
        print(f"not paired (data folder {data_dir}): run kasir-forward pair '<pairing URL>'")
    else:
        print(f"source:         {pairing.source_id} at {pairing.base_url}")
    print(f"forwarder:      {'running (pid ' + str(pid) + ')' if pid else 'not running'}")
    print(f"apps:           {', '.join(sorted(report['apps'])) or 'none'}")
    oldest = report["oldest_queued_at"]
    print(f"queued:         {report['queued']}" + (f", oldest queued {_ago(oldest)}" if oldest else ""))
    if report["rejected"]:
        print(f"set aside:      {report['rejected']} (too large for the server)")
    print(
        f"last success:   {_ago(report['last_success_at'])}"
        + (f": {report['last_success']}" if report["last_success"] else "")
    )
    print(f"last heartbeat: {_ago(report['last_heartbeat_at'])}")
    if report["last_error_at"]:
        print(f"last error:     {_ago(report['last_error_at'])}: {report['last_error']}")
    if report["paused"]:
        print(f"sending stopped: the server refused the source ({report['paused']}): pair again")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    data_dir = data_dir_of(args.data_dir)
    command = [args.command]
    if args.dry_run:
        return _dry_run(data_dir, command, args)
    pairing = load_pairing(data_dir)
    if pairing is None:
        raise ForwardError(f"not paired (no {data_dir / CONFIG_FILE}): run kasir-forward pair '<pairing URL>' first")
    lock = _lock(data_dir)
    forwarder = Forwarder(
        data_dir,
        pairing,
        command=command,
        poll_interval=args.poll_interval,
        heartbeat_interval=args.heartbeat_interval,
        backoff_cap=args.max_backoff,
    )

    def stop(signum: int, _frame: Any) -> None:
        log.info("%s: stopping", signal.Signals(signum).name)
        forwarder.stop.set()
        forwarder.wake.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    log.info(
        "%s started: source %s at %s, %d queued, data in %s",
        USER_AGENT,
        pairing.source_id,
        pairing.base_url,
        forwarder.store.count(),
        data_dir,
    )
    try:
        forwarder.run()
    finally:
        os.close(lock)
    log.info("stopped")
    return 0


def _dry_run(data_dir: Path, command: list[str], args: argparse.Namespace) -> int:
    """Print what would be sent, one JSON line each; send nothing, store nothing."""
    apps = set(args.app or [])
    if not apps:
        stored = (read_state(data_dir) or {}).get("apps")
        apps = set(stored) if isinstance(stored, dict) else set()
    if not apps:
        raise ForwardError("not paired, so no app is known: pair first, or name apps with --app PACKAGE")
    log.info("dry run: printing what would be sent for %s; nothing is sent or stored", ", ".join(sorted(apps)))
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    printed: set[str] = set()
    while not stop.is_set():
        try:
            entries = list_notifications(command)
        except ForwardError as exc:
            log.warning("%s", exc)
            entries = []
        seen_at = now_ms()
        for entry in entries:
            notification = notification_from(entry)
            if notification is None or notification.package not in apps or notification.fingerprint in printed:
                continue
            printed.add(notification.fingerprint)
            print(json.dumps(notification.item(seen_at), ensure_ascii=False), flush=True)
        if args.once:
            break
        stop.wait(args.poll_interval)
    return 0


def _positive(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return number


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir",
        metavar="DIR",
        help=f"where the configuration and the queue are kept (default ${DATA_DIR_ENV} or {DEFAULT_DATA_DIR})",
    )
    common.add_argument("-v", "--verbose", action="store_true", help="log debug lines too")
    parser = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Forward a shop phone's payment notifications (Termux:API) to a Kasir source. "
            "Only the apps the source watches are forwarded."
        ),
        epilog="Set up: kasir-forward pair '<pairing URL>', then kasir-forward run. See docs/forwarder.md.",
    )
    parser.add_argument("--version", action="version", version=USER_AGENT)
    commands = parser.add_subparsers(dest="cmd", metavar="COMMAND")
    pair = commands.add_parser(
        "pair", parents=[common], help="store a source's pairing URL and check it with one heartbeat"
    )
    pair.add_argument("url", metavar="URL", help="the pairing URL Kasir printed (quote it: it has a #)")
    run = commands.add_parser("run", parents=[common], help="read notifications every second and forward them")
    run.add_argument(
        "--dry-run", action="store_true", help="print what would be sent, one JSON line each; send and store nothing"
    )
    run.add_argument("--once", action="store_true", help="with --dry-run: read the notifications once, then exit")
    run.add_argument("--app", action="append", metavar="PACKAGE", help="with --dry-run: an app to show (repeatable)")
    run.add_argument(
        "--command", default=LIST_COMMAND, metavar="PROGRAM", help=f"what lists the notifications ({LIST_COMMAND})"
    )
    run.add_argument(
        "--poll-interval", type=_positive, default=POLL_INTERVAL, metavar="SECONDS", help="seconds between readings (1)"
    )
    run.add_argument(
        "--heartbeat-interval",
        type=_positive,
        default=HEARTBEAT_INTERVAL,
        metavar="SECONDS",
        help="seconds between heartbeats (30)",
    )
    run.add_argument(
        "--max-backoff",
        type=_positive,
        default=BACKOFF_CAP,
        metavar="SECONDS",
        help="longest wait between retries (60)",
    )
    status = commands.add_parser("status", parents=[common], help="queue length, oldest item, last success, last error")
    status.add_argument("--json", action="store_true", help="print it as JSON")
    return parser


def _configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S%z"))
    log.handlers[:] = [handler]
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    log.propagate = False


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    parser = build_parser(prog)
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # --help, --version, a usage error: argparse has printed it
        return exc.code if isinstance(exc.code, int) else 2
    if args.cmd is None:
        parser.print_help()
        return 2
    _configure_logging(args.verbose)
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {"pair": cmd_pair, "run": cmd_run, "status": cmd_status}
    try:
        return handlers[args.cmd](args)
    except ForwardError as exc:
        print(f"kasir-forward: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def console_main() -> None:
    sys.exit(main())


if __name__ == "__main__":
    sys.exit(main())
