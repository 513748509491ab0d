"""Pollers and factories that ``KASIR_MUTATION_SOURCES`` names in the confirmation tests.

In a module of their own, not in a test module: pytest imports test modules under a name of its
own, and ``configured_sources`` imports the spec's module by its dotted name, so a factory in a
test module would count its calls in a second copy of that module.
"""

from __future__ import annotations

from collections.abc import Sequence

from kasir.config import Settings
from kasir.db.engine import Database
from kasir.payments.sources import MutationSource, Report

HERE = "tests.integration.payments.fake_pollers"


class OvoOnly:
    """A poller of one OVO account, as the docstring of kasir.payments.sources writes one."""

    name = "ovo-alice"
    interval = 5.0
    channels = frozenset({"ovo"})

    async def fetch(self) -> Sequence[Report]:
        return []


class Undeclared:
    """A poller written before ``channels`` existed: it may report any channel."""

    name = "statements"
    interval = 60.0

    async def fetch(self) -> Sequence[Report]:
        return []


built: list[str] = []  # the factories' calls, in order


def ovo_only(settings: Settings, db: Database) -> MutationSource:
    built.append("ovo_only")
    return OvoOnly()


def undeclared(settings: Settings, db: Database) -> MutationSource:
    built.append("undeclared")
    return Undeclared()


def broken(settings: Settings, db: Database) -> MutationSource:
    raise RuntimeError("the provider's login page changed")
