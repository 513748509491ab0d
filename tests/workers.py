"""A real delivery worker in a thread, for the tests that watch deliveries go out (the
``start_worker`` fixture of tests/conftest.py starts them and drains them after the test).

The worker gets a Database of its own on the same URL, built as ``kasir worker`` builds it (a
bookkeeping engine, docs/architecture.md "Background duties"): with the test's Database, whose
SQLite commits wait for the disk, a commit on the worker's loop under a busy disk stalled the
sends in flight past a one-second delivery timeout, and a healthy receiver's try was logged as
timed out."""

from __future__ import annotations

import asyncio
import threading

from kasir.config import Settings
from kasir.db.engine import Database, build_engine
from kasir.delivery.worker import Worker


class RunningWorker:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = Database(build_engine(db.engine.url.render_as_string(hide_password=False), bookkeeping=True))
        self.worker = Worker(self.db, settings)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self._loop.run_until_complete(self._work())

    async def _work(self) -> None:
        try:
            await self.worker.run()
        finally:
            await self.db.aclose()  # its loop's PostgreSQL connections (kasir.db.loop)

    def __enter__(self) -> RunningWorker:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._loop.call_soon_threadsafe(self.worker.stop)
        self._thread.join(timeout=60)
        assert not self._thread.is_alive(), "worker did not drain and stop"
        self.db.dispose()
