"""A real delivery worker in a thread, for the tests that watch deliveries go out (the
``start_worker`` fixture of tests/conftest.py starts them and drains them after the test)."""

from __future__ import annotations

import asyncio
import threading

from kasir.config import Settings
from kasir.db.engine import Database
from kasir.delivery.worker import Worker


class RunningWorker:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.worker = Worker(db, settings)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self._loop.run_until_complete(self.worker.run())

    def __enter__(self) -> RunningWorker:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._loop.call_soon_threadsafe(self.worker.stop)
        self._thread.join(timeout=60)
        assert not self._thread.is_alive(), "worker did not drain and stop"
