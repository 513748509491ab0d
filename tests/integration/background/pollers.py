"""The poller ``KASIR_MUTATION_SOURCES`` names in the background tests: it reports the credits
listed in ``KASIR_HOME/inbox.json``, every time it is asked, as a poller re-reading an account's
statement does (a repeated reference is a no-op).

In a module of its own, not in a test module: ``configured_sources`` imports the spec's module by
its dotted name, and the `kasir` processes the tests start import it too.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from kasir.config import Settings
from kasir.db.engine import Database
from kasir.payments.mutations import Credit
from kasir.payments.sources import MutationSource, Report

HERE = "tests.integration.background.pollers"
INBOX = "inbox.json"


class Inbox:
    name = "inbox"
    interval = 0.2

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fetches = 0

    def _read(self) -> list[dict[str, object]]:
        try:
            entries: list[dict[str, object]] = json.loads(self.path.read_text())
        except FileNotFoundError:
            return []
        return entries

    async def fetch(self) -> Sequence[Report]:
        self.fetches += 1
        return [
            Report(
                str(entry["mode"]),
                int(str(entry["merchant_id"])),
                [Credit(str(entry["method"]), int(str(entry["amount"])), str(entry["reference"]))],
            )
            for entry in self._read()
        ]


def inbox(settings: Settings, db: Database) -> MutationSource:
    return Inbox(settings.home / INBOX)


def post(home: Path, *entries: dict[str, object]) -> None:
    """Put ``entries`` in the inbox at ``home`` (whole: a reader never sees half a file)."""
    staged = home / (INBOX + ".new")
    staged.write_text(json.dumps(list(entries)))
    staged.replace(home / INBOX)


class Flaky(Inbox):
    """Fails its first ``failures`` fetches, as a provider's login page sometimes does."""

    failures = 2

    async def fetch(self) -> Sequence[Report]:
        if self.fetches < self.failures:
            self.fetches += 1
            raise ConnectionError("provider unreachable")
        return await super().fetch()


def flaky(settings: Settings, db: Database) -> MutationSource:
    return Flaky(settings.home / INBOX)
