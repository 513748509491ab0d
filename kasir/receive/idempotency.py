"""Process each webhook once: deliveries are at-least-once, so a receiver sees some twice.

``once(event_id)`` is True the first time an id is seen and False after, for ``ttl`` seconds
(longer than Kasir retries: about three days by default). Mark an event only when its work
succeeded, or give the claim back: ``with store.processing(event.id) as first:`` does both.

    store = SQLiteOnce("webhooks.db")          # or RedisOnce("redis://localhost:6379/0")
    with store.processing(event.id) as first:
        if first:
            fulfil(event)                       # an exception here releases the claim
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import Any, Protocol

DEFAULT_TTL = 7 * 86400


class Once(Protocol):
    def once(self, event_id: str) -> bool: ...

    def forget(self, event_id: str) -> None: ...


class _Processing:
    @contextlib.contextmanager
    def processing(self: Any, event_id: str) -> Iterator[bool]:
        first = self.once(event_id)
        try:
            yield first
        except BaseException:
            if first:
                self.forget(event_id)  # the work failed: the retry must run it again
            raise


class SQLiteOnce(_Processing):
    """Seen ids in a SQLite file (``":memory:"`` for one process). Safe across threads and across
    processes sharing the file: the claim is one ``INSERT`` under the database's write lock."""

    def __init__(self, path: str = "kasir-webhooks.db", *, ttl: int = DEFAULT_TTL) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
        self._use_wal(deadline=time.monotonic() + 30)
        self._db.execute("CREATE TABLE IF NOT EXISTS kasir_once (event_id TEXT PRIMARY KEY, expires_at REAL NOT NULL)")
        self._claims = 0

    def _use_wal(self, deadline: float) -> None:
        # Switching to WAL ignores the busy timeout: while another process writes to a file not
        # yet in WAL, it fails at once. Several receivers opening one new file meet that.
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def once(self, event_id: str) -> bool:
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("DELETE FROM kasir_once WHERE event_id = ? AND expires_at <= ?", (event_id, now))
                claimed = self._db.execute(
                    "INSERT OR IGNORE INTO kasir_once (event_id, expires_at) VALUES (?, ?)", (event_id, now + self.ttl)
                ).rowcount
                self._claims += 1
                if self._claims % 1000 == 0:  # now and then, drop what expired
                    self._db.execute("DELETE FROM kasir_once WHERE expires_at <= ?", (now,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return claimed == 1

    def forget(self, event_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM kasir_once WHERE event_id = ?", (event_id,))

    def close(self) -> None:
        self._db.close()


class RedisOnce(_Processing):
    """Seen ids in Redis (``SET NX EX``): shared by every process and machine of the receiver.
    Needs the ``redis`` package; ``client`` is a URL or a ``redis.Redis``."""

    def __init__(self, client: Any, *, ttl: int = DEFAULT_TTL, prefix: str = "kasir:once:") -> None:
        if isinstance(client, str):
            import redis

            client = redis.Redis.from_url(client)
        self._redis = client
        self.ttl = ttl
        self.prefix = prefix

    def once(self, event_id: str) -> bool:
        return bool(self._redis.set(self.prefix + event_id, b"1", nx=True, ex=self.ttl))

    def forget(self, event_id: str) -> None:
        self._redis.delete(self.prefix + event_id)
