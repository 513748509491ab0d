"""Waiting for what a background task (the delivery worker, a sweeper, a receiver) does: poll
until it holds, and fail with what was awaited. The deadline only matters when the wait fails."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"{what} not reached within {timeout} s")
