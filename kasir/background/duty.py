"""One background duty under supervision: a named task that outlives its own failures.

A duty is either long-running (the delivery worker: ``run`` returns only once it was asked to
stop) or periodic (a sweep, a poll: ``run`` is one pass, repeated every ``every`` seconds). Either
way, a failure is logged with its traceback and the duty starts again after a backoff that
doubles with each failure in a row, up to ``BACKOFF_MAX``; a pass that succeeds (a long-running
duty: a run that lasted ``HEALTHY_AFTER``) starts the count again. One failing duty never stops
another: each has a task of its own (docs/architecture.md, "Background duties").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger("kasir.background")

BACKOFF_FIRST = 1.0  # seconds before the first restart of a long-running duty
BACKOFF_MAX = 60.0
HEALTHY_AFTER = 60.0  # a long-running duty that ran this long before failing was healthy


@dataclass(frozen=True, slots=True)
class Duty:
    name: str
    run: Callable[[], Awaitable[object]]
    every: float | None = None  # periodic: seconds between passes; None: long-running

    def backoff(self, failures: int) -> float:
        """Seconds before trying again after ``failures`` failures in a row (at least one). A
        periodic duty waits at least its own interval: a poller asked to go slow stays slow."""
        first = self.every if self.every is not None else BACKOFF_FIRST
        return min(max(BACKOFF_MAX, first), first * 2.0 ** (failures - 1))


async def supervise(duty: Duty, stopping: asyncio.Event) -> None:
    """Run ``duty`` until ``stopping`` is set (a long-running duty: until it returns after being
    asked to stop) or the task is cancelled."""
    loop = asyncio.get_running_loop()
    failures = 0
    while not stopping.is_set():
        started = loop.time()
        error: Exception | None = None
        try:
            await duty.run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = exc
        if duty.every is None:
            if error is None and stopping.is_set():
                return
            failures = 1 if loop.time() - started >= HEALTHY_AFTER else failures + 1
            pause = duty.backoff(failures)
            what = "failed" if error is not None else "ended by itself"
            log.error("background duty %s %s; restarting it in %.1f s", duty.name, what, pause, exc_info=error)
        elif error is not None:
            failures += 1
            pause = duty.backoff(failures)
            log.error("background duty %s failed; trying again in %.1f s", duty.name, pause, exc_info=error)
        else:
            failures = 0
            pause = duty.every
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=pause)
