"""Which duties the background runs (docs/architecture.md, "Background duties"):

- ``delivery``: the delivery worker (kasir.delivery.worker), long-running; on SQLite one worker
  at a time serves the queue, and another node's stands by until the first stops;
- ``expiry``, ``source-health``, ``alerts``, ``housekeeping``: the sweeps of kasir.background.sweeps,
  every ``KASIR_SWEEP_INTERVAL``;
- ``poller:<name>``: each mutation source of ``KASIR_MUTATION_SOURCES`` (and the sandbox
  autopay), every ``interval`` of its own (kasir.payments.sources).

Every duty is safe to run on several nodes at once, so every node that runs the background
runs all of them: no topology leaves one to nobody.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from kasir.background.duty import Duty
from kasir.background.sweeps import SWEEPS
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.delivery.worker import Worker
from kasir.payments.sources import MutationSource, poll_and_log

DELIVERY = "delivery"
POLLER = "poller:"


def duties_of(db: Database, settings: Settings, worker: Worker, sources: Sequence[MutationSource]) -> list[Duty]:
    duties = [Duty(DELIVERY, worker.run)]
    duties += [
        Duty(name, partial(sweep, db, settings), every=settings.sweep_interval) for name, sweep in SWEEPS.items()
    ]
    duties += [
        Duty(POLLER + source.name, partial(poll_and_log, db, settings, source), every=source.interval)
        for source in sources
    ]
    return duties
