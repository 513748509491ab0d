"""Mutation sources: pollers that read an account's incoming credits and feed them to matching.

Seed 004's OVO integration "checks the OVO mutations every few seconds". Kasir ships the
interface and the runner, and no scraper of any real account: reading a bank or e-wallet is
between the account holder and their provider. To connect one, write a class with this shape
and name its factory in ``KASIR_MUTATION_SOURCES=package.module:factory`` (see
docs/mutations.md)::

    class MyOvoSource:
        name = "ovo-alice"
        interval = 5.0
        channels = frozenset({"ovo"})   # optional: the channels it reports (absent/None: any)

        async def fetch(self) -> list[Report]:
            rows = await read_my_statement()          # the last hour, say: overlap is fine
            return [Report(mode="live", merchant_id=ALICE, credits=[
                Credit("ovo", row.amount, row.reference, row.time) for row in rows if row.is_credit
            ])]

    def factory(settings: Settings, db: Database) -> MutationSource:
        return MyOvoSource()

The one rule for a source: the same credit must come with the same ``reference`` every time.
Then a source may re-read overlapping windows, restart, or run on several nodes: a repeated
reference is a no-op, so nothing is paid twice and nothing needs a cursor kept anywhere. It does
run on several: every node that runs the background (``kasir serve`` without ``--no-worker``,
every ``kasir worker``) polls every configured source (docs/architecture.md, "Background duties").

``channels``, optional, says which payment methods' credits the source reports. It is what lets
the pay page promise a buyer that a payment on those channels confirms by itself
(kasir.sources.confirmation): a source without it (or with None) may report any channel, so
every channel counts as covered; one that reads only an OVO account should say
``frozenset({"ovo"})``, and the QRIS methods' pages then tell the buyer the seller confirms.

The sandbox source below is the example, and is useful on its own: with
``KASIR_SANDBOX_AUTOPAY=10``, every test-mode payment is paid ten seconds after it was created,
as a patient customer would.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import Connection, select

from kasir.clock import utcnow
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.db.tables import payments
from kasir.payments.matching import ingest
from kasir.payments.mutations import MAX_BATCH, Credit, Reporter

log = logging.getLogger("kasir.sources")


@dataclass(frozen=True, slots=True)
class Report:
    """Credits one account holder reports: ``merchant_id`` None for the operator's shared QRIS."""

    mode: str
    merchant_id: int | None
    credits: Sequence[Credit] = field(default_factory=list)


class MutationSource(Protocol):
    name: str  # recorded on every credit as source "source:<name>"
    interval: float  # seconds between two fetches
    # Optional ``channels: frozenset[str] | None`` (see the module's docstring), read with
    # ``declared_channels``. Not declared here: a protocol member is required of every source,
    # and sources written before it existed must keep type-checking.

    async def fetch(self) -> Sequence[Report]:
        """The credits seen since about the last fetch (overlap is harmless, gaps are not)."""
        ...


def declared_channels(source: MutationSource) -> frozenset[str] | None:
    """The channels ``source`` says it reports; None when it does not say (it may report any)."""
    channels = getattr(source, "channels", None)
    if channels is None:
        return None
    if isinstance(channels, str):  # channels = "ovo": one channel, not the letters o, v, o
        return frozenset({channels})
    return frozenset(str(channel) for channel in channels)


@dataclass(frozen=True, slots=True)
class Tally:
    matched: int = 0
    unmatched: int = 0
    late: int = 0
    duplicate: int = 0


async def poll_once(db: Database, settings: Settings, source: MutationSource) -> Tally:
    counts = {"matched": 0, "unmatched": 0, "late": 0, "duplicate": 0}
    for report in await source.fetch():
        reporter = Reporter(mode=report.mode, merchant_id=report.merchant_id, source=f"source:{source.name}")
        credits = list(report.credits)
        for start in range(0, len(credits), MAX_BATCH):
            batch = credits[start : start + MAX_BATCH]

            def work(conn: Connection, batch: list[Credit] = batch, reporter: Reporter = reporter) -> list[Any]:
                return ingest(conn, reporter, batch, settings, utcnow())

            for outcome in await db.write(work, retry_conflicts=True):
                counts["duplicate" if outcome.duplicate else outcome.mutation["status"]] += 1
    return Tally(**counts)


async def poll_and_log(db: Database, settings: Settings, source: MutationSource) -> Tally:
    """One poll of ``source``, and a log line when it brought anything new: the pass the
    background runs every ``source.interval`` (kasir/background), as its duty ``poller:<name>``."""
    tally = await poll_once(db, settings, source)
    if tally.matched or tally.unmatched or tally.late:
        log.info(
            "source %s: %d matched, %d unmatched, %d late, %d repeated",
            source.name,
            tally.matched,
            tally.unmatched,
            tally.late,
            tally.duplicate,
        )
    return tally


async def run_source(db: Database, settings: Settings, source: MutationSource) -> None:
    """Poll ``source`` until cancelled, on its own (the background runs ``poll_and_log`` under
    its supervision instead). A failing source is logged and retried; what it missed it reports
    again on the next fetch."""
    while True:
        try:
            await poll_and_log(db, settings, source)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("source %s failed; retrying in %.0f s", source.name, source.interval)
        await asyncio.sleep(source.interval)


class SandboxAutopay:
    """Test mode only: pays each pending test payment ``delay`` seconds after its creation, with
    a credit of its exact final amount and the stable reference ``SANDBOX-AUTO-<invoice>``."""

    name = "sandbox-autopay"
    channels: frozenset[str] | None = None  # every test payment, whatever its method

    def __init__(self, db: Database, delay: float, interval: float = 1.0) -> None:
        self.db = db
        self.delay = delay
        self.interval = interval

    async def fetch(self) -> list[Report]:
        cutoff = utcnow() - timedelta(seconds=self.delay)

        def due(conn: Connection) -> list[Any]:
            return list(
                conn.execute(
                    select(
                        payments.c.merchant_id,
                        payments.c.invoice_id,
                        payments.c.payment_method,
                        payments.c.final_amount,
                    )
                    .where(
                        payments.c.mode == "test",
                        payments.c.status == "pending",
                        payments.c.created_at <= cutoff,
                        payments.c.expires_at > utcnow(),
                    )
                    .order_by(payments.c.id)
                    .limit(MAX_BATCH)
                ).all()
            )

        reports: dict[int, list[Credit]] = {}
        for merchant_id, invoice_id, method, final_amount in await self.db.read(due):
            reports.setdefault(merchant_id, []).append(
                Credit(
                    method, final_amount, f"SANDBOX-AUTO-{invoice_id}", description=f"sandbox autopay of {invoice_id}"
                )
            )
        return [Report("test", merchant_id, credits) for merchant_id, credits in reports.items()]


def configured_sources(settings: Settings, db: Database) -> list[MutationSource]:
    """The sandbox autopay when enabled, then each ``module:factory`` of KASIR_MUTATION_SOURCES."""
    sources: list[MutationSource] = []
    if settings.sandbox_autopay > 0:
        sources.append(SandboxAutopay(db, settings.sandbox_autopay))
    for spec in settings.mutation_sources:
        module_name, _, attribute = spec.partition(":")
        if not module_name or not attribute:
            raise ValueError(f"KASIR_MUTATION_SOURCES entry {spec!r} is not 'module:factory'")
        factory = getattr(importlib.import_module(module_name), attribute)
        sources.append(factory(settings, db))
    return sources
