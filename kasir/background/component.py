"""``Background``: the one component that runs every background duty of a node (kasir.background.
duties), each as a supervised task of its own (kasir.background.duty), and stops them.

`kasir serve` runs it inside the app's lifespan (kasir.app), `kasir worker` on its own
(kasir/cli/server.py); `kasir serve --no-worker` runs none of it (docs/architecture.md,
"Background duties")::

    background = Background(db, settings)
    background.start()
    ...
    await background.stop()

or ``await background.run()``, which returns once ``request_stop()`` was called (a signal
handler's), or ``async with Background(db, settings):``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from types import TracebackType

from kasir.background.duties import DELIVERY, duties_of
from kasir.background.duty import Duty, supervise
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.delivery.metrics import DeliveryMetrics
from kasir.delivery.worker import Worker
from kasir.payments.sources import MutationSource, configured_sources

# After the delivery worker's own drain (in-flight attempts finish within delivery_timeout, then
# are recorded), how long stop() still waits for it before cancelling it.
DRAIN_MARGIN = 10.0


class Background:
    """``db``: what the sweeps and the pollers work on. ``worker_db``: the delivery worker's own
    Database (a bookkeeping engine, kasir.db.engine.build_engine), ``db`` when None; commits on
    ``db`` that create deliveries wake the worker either way. ``sources``: the mutation sources
    already built from the settings (``configured_sources``; the app builds them once for the
    confirmation rule too), built here when None. The caller owns and disposes of the
    databases."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        worker_db: Database | None = None,
        metrics: DeliveryMetrics | None = None,
        sources: Sequence[MutationSource] | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.sources = list(configured_sources(settings, db) if sources is None else sources)
        self.worker = Worker(db if worker_db is None else worker_db, settings, metrics)
        if self.worker.db is not db:
            db.on_new_deliveries(self.worker.wake)  # the Worker listens to its own db already
        self.duties: tuple[Duty, ...] = tuple(duties_of(db, settings, self.worker, self.sources))
        self._tasks: list[tuple[Duty, asyncio.Task[None]]] = []
        self._stopping = asyncio.Event()
        self._stop_requested = asyncio.Event()

    @property
    def names(self) -> list[str]:
        return [duty.name for duty in self.duties]

    def start(self) -> None:
        """Start every duty on the running loop."""
        if self._tasks:
            raise RuntimeError("the background is running already")
        self._tasks = [
            (duty, asyncio.create_task(supervise(duty, self._stopping), name=f"kasir-{duty.name}"))
            for duty in self.duties
        ]

    def running(self) -> list[str]:
        """The duties whose task is still running."""
        return [duty.name for duty, task in self._tasks if not task.done()]

    async def stop(self) -> None:
        """Stop every duty and wait for it: the delivery worker gracefully (it stops claiming,
        and what it has in flight finishes and is recorded), the others at once."""
        self._stopping.set()
        self.worker.stop()
        tasks = [task for _duty, task in self._tasks]
        delivery = [task for duty, task in self._tasks if duty.name == DELIVERY]
        for duty, task in self._tasks:
            if duty.name != DELIVERY:
                task.cancel()
        if delivery:
            await asyncio.wait(delivery, timeout=self.settings.delivery_timeout + DRAIN_MARGIN)
        for task in delivery:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def request_stop(self) -> None:
        """Make ``run`` stop the background and return (for a signal handler: it does not wait)."""
        self._stop_requested.set()

    async def run(self) -> None:
        """Start, run until ``request_stop()``, then stop."""
        self.start()
        try:
            await self._stop_requested.wait()
        finally:
            await self.stop()

    async def __aenter__(self) -> Background:
        self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.stop()
