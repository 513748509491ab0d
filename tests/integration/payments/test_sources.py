"""Mutation sources: ``poll_once`` feeds what a source fetched to matching, the sandbox autopay
pays pending test payments, ``run_source`` survives a failing source, and ``configured_sources``
builds the list ``kasir serve`` polls. Real database (SQLite and PostgreSQL), no mocks of matching.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import anyio
import pytest

from kasir.config import Settings
from kasir.db.engine import Database
from kasir.errors import InvalidRequest
from kasir.merchants.service import NewMerchant
from kasir.payments.mutations import MAX_BATCH, Credit
from kasir.payments.sources import (
    MutationSource,
    Report,
    SandboxAutopay,
    Tally,
    configured_sources,
    poll_once,
    run_source,
)
from tests.conftest import row_counts, writes_nothing
from tests.payment_helpers import create, credit_rows, paid_events, stored

FACTORY = "tests.integration.payments.test_sources:make_source"


class ListSource:
    """A source that reports what it was given, every time it is asked (as a poller re-reading
    an overlapping window does)."""

    interval = 0.01

    def __init__(self, reports: Sequence[Report], name: str = "fake") -> None:
        self.name = name
        self.reports = list(reports)
        self.fetches = 0

    async def fetch(self) -> Sequence[Report]:
        self.fetches += 1
        return self.reports


class FlakySource(ListSource):
    """Fails on its first fetch, as a provider's login page sometimes does."""

    async def fetch(self) -> Sequence[Report]:
        self.fetches += 1
        if self.fetches == 1:
            raise ConnectionError("provider unreachable")
        return self.reports


class FactorySource:
    name = "from-factory"
    interval = 7.0

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db

    async def fetch(self) -> Sequence[Report]:
        return []


def make_source(settings: Settings, db: Database) -> MutationSource:
    """The factory ``KASIR_MUTATION_SOURCES`` names in these tests."""
    return FactorySource(settings, db)


def poll(db: Database, settings: Settings, source: MutationSource) -> Tally:
    return anyio.run(poll_once, db, settings, source)


# --- poll_once ------------------------------------------------------------------------------


def test_poll_once_pays_matching_payments_and_tallies(db: Database, settings: Settings, merchant: NewMerchant) -> None:
    first = create(db, settings, merchant.test_api_key, 50000)
    second = create(db, settings, merchant.test_api_key, 60000)
    other = create(db, settings, merchant.test_api_key, 70000)
    source = ListSource(
        [
            Report(
                "test",
                merchant.id,
                [
                    Credit("qris", first["final_amount"], "SRC-1", description="from Budi"),
                    Credit("qris", 1234, "SRC-2"),
                ],
            ),
            Report("test", merchant.id, [Credit("qris", second["final_amount"], "SRC-3")]),
        ]
    )
    assert poll(db, settings, source) == Tally(matched=2, unmatched=1, late=0, duplicate=0)

    for payment, reference in ((first, "SRC-1"), (second, "SRC-3")):
        row = stored(db, payment["invoice_id"])
        assert (row["status"], row["paid_reff_num"], row["paid_amount"]) == ("paid", reference, payment["final_amount"])
        assert paid_events(db, payment["invoice_id"]) == 1
    assert stored(db, other["invoice_id"])["status"] == "pending"
    rows = {r["reference"]: r for r in credit_rows(db)}
    assert {r["source"] for r in rows.values()} == {"source:fake"}
    assert rows["SRC-1"]["description"] == "from Budi"
    assert rows["SRC-2"]["status"] == "unmatched"

    # A source re-reading the same window: every credit is a repeat, and nothing changes.
    with writes_nothing(db):
        assert poll(db, settings, source) == Tally(duplicate=3)
    assert source.fetches == 2


def test_a_source_with_nothing_new_tallies_nothing(db: Database, settings: Settings) -> None:
    with writes_nothing(db):
        assert poll(db, settings, ListSource([])) == Tally()
        assert poll(db, settings, ListSource([Report("live", None, [])])) == Tally()


def test_the_operators_feed_pays_any_merchants_qris_payment_a_merchants_only_its_own(
    db: Database, settings: Settings, merchant: NewMerchant, other_merchant: NewMerchant
) -> None:
    mine = create(db, settings, merchant.live_api_key)
    theirs = create(db, settings, other_merchant.live_api_key, 60000)
    # Reported by the other merchant: it cannot pay mine.
    assert poll(
        db, settings, ListSource([Report("live", other_merchant.id, [Credit("qris", mine["final_amount"], "X-1")])])
    ) == Tally(unmatched=1)
    # The operator's feed of the shared QRIS pays whoever's payment it is.
    operator = ListSource(
        [
            Report(
                "live",
                None,
                [Credit("qris", mine["final_amount"], "X-2"), Credit("qris", theirs["final_amount"], "X-3")],
            )
        ]
    )
    assert poll(db, settings, operator) == Tally(matched=2)
    assert stored(db, mine["invoice_id"])["paid_reff_num"] == "X-2"
    assert stored(db, theirs["invoice_id"])["paid_reff_num"] == "X-3"


def test_a_live_report_never_pays_a_test_payment(db: Database, settings: Settings, merchant: NewMerchant) -> None:
    payment = create(db, settings, merchant.test_api_key)
    source = ListSource([Report("live", merchant.id, [Credit("qris", payment["final_amount"], "L-1")])])
    assert poll(db, settings, source) == Tally(unmatched=1)
    assert stored(db, payment["invoice_id"])["status"] == "pending"


def test_a_credit_older_than_its_payment_is_kept_unmatched(
    db: Database, settings: Settings, merchant: NewMerchant
) -> None:
    payment = create(db, settings, merchant.test_api_key)
    long_before = datetime.now(UTC) - timedelta(hours=1)
    source = ListSource([Report("test", merchant.id, [Credit("qris", payment["final_amount"], "OLD-1", long_before)])])
    assert poll(db, settings, source) == Tally(unmatched=1)
    assert stored(db, payment["invoice_id"])["status"] == "pending"


def test_an_own_channel_report_must_name_its_merchant(db: Database, settings: Settings) -> None:
    source = ListSource([Report("live", None, [Credit("ovo", 50000, "OVO-1")])])
    with writes_nothing(db), pytest.raises(InvalidRequest) as caught:
        poll(db, settings, source)
    assert caught.value.code == "merchant_required"


def test_more_credits_than_one_batch_are_all_ingested(db: Database, settings: Settings, merchant: NewMerchant) -> None:
    payment = create(db, settings, merchant.test_api_key)
    count = MAX_BATCH + 5
    # Amounts below the minimum payment never match; the last credit, in the second batch, pays.
    credits = [Credit("qris", 100 + i, f"BULK-{i}") for i in range(count - 1)]
    credits.append(Credit("qris", payment["final_amount"], "BULK-LAST"))
    source = ListSource([Report("test", merchant.id, credits)])
    assert poll(db, settings, source) == Tally(matched=1, unmatched=count - 1)
    assert row_counts(db)["mutations"] == count
    assert stored(db, payment["invoice_id"])["paid_reff_num"] == "BULK-LAST"


# --- run_source -----------------------------------------------------------------------------


def test_run_source_survives_a_failing_fetch_and_keeps_polling(
    db: Database, settings: Settings, merchant: NewMerchant
) -> None:
    payment = create(db, settings, merchant.test_api_key)
    source = FlakySource([Report("test", merchant.id, [Credit("qris", payment["final_amount"], "FLAKY-1")])])

    async def main() -> None:
        task = asyncio.create_task(run_source(db, settings, source))
        try:
            for _ in range(500):
                await asyncio.sleep(0.01)
                if source.fetches >= 3:
                    break
            assert not task.done(), task
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(main())
    assert source.fetches >= 3
    assert stored(db, payment["invoice_id"])["paid_reff_num"] == "FLAKY-1"
    assert paid_events(db, payment["invoice_id"]) == 1
    assert row_counts(db)["mutations"] == 1


# --- the sandbox autopay --------------------------------------------------------------------


def test_sandbox_autopay_pays_pending_test_payments_only(
    db: Database, settings: Settings, subscribed_merchant: NewMerchant, other_merchant: NewMerchant
) -> None:
    key = subscribed_merchant.test_api_key
    qris = create(db, settings, key, 50000)
    ovo = create(db, settings, key, 60000, method="ovo")
    someone_elses = create(db, settings, other_merchant.test_api_key, 70000)
    live = create(db, settings, subscribed_merchant.live_api_key, 50000)
    overdue = create(db, settings, key, 80000, at=datetime.now(UTC) - timedelta(seconds=settings.payment_ttl + 60))

    autopay = SandboxAutopay(db, delay=0)
    assert poll(db, settings, autopay) == Tally(matched=3)

    for payment in (qris, ovo, someone_elses):
        row = stored(db, payment["invoice_id"])
        assert row["status"] == "paid"
        assert row["paid_reff_num"] == f"SANDBOX-AUTO-{payment['invoice_id']}"
        assert row["paid_amount"] == payment["final_amount"]
        assert paid_events(db, payment["invoice_id"]) == 1
    assert stored(db, live["invoice_id"])["status"] == "pending"
    assert stored(db, overdue["invoice_id"])["status"] == "pending"  # over: not the autopay's to pay
    rows = credit_rows(db)
    assert {(r["mode"], r["source"], r["status"]) for r in rows} == {("test", "source:sandbox-autopay", "matched")}
    assert {r["channel"] for r in rows} == {"qris", "ovo"}

    # Nothing is pending any more: the next round has nothing to report.
    with writes_nothing(db):
        assert poll(db, settings, autopay) == Tally()


def test_sandbox_autopay_waits_its_delay(db: Database, settings: Settings, merchant: NewMerchant) -> None:
    fresh = create(db, settings, merchant.test_api_key, 50000)
    older = create(db, settings, merchant.test_api_key, 60000, at=datetime.now(UTC) - timedelta(seconds=120))
    assert poll(db, settings, SandboxAutopay(db, delay=60)) == Tally(matched=1)
    assert stored(db, fresh["invoice_id"])["status"] == "pending"
    assert stored(db, older["invoice_id"])["status"] == "paid"


def test_sandbox_autopay_reports_per_merchant_in_test_mode(
    db: Database, settings: Settings, merchant: NewMerchant, other_merchant: NewMerchant
) -> None:
    mine = create(db, settings, merchant.test_api_key, 50000)
    theirs = create(db, settings, other_merchant.test_api_key, 50000)
    create(db, settings, merchant.live_api_key, 50000)
    with writes_nothing(db):
        reports = anyio.run(SandboxAutopay(db, delay=0).fetch)
    assert sorted((r.mode, r.merchant_id) for r in reports) == sorted(
        [("test", merchant.id), ("test", other_merchant.id)]
    )
    by_merchant = {r.merchant_id: list(r.credits) for r in reports}
    [credit] = by_merchant[merchant.id]
    assert (credit.channel, credit.amount, credit.reference, credit.occurred_at) == (
        "qris",
        mine["final_amount"],
        f"SANDBOX-AUTO-{mine['invoice_id']}",
        None,
    )
    assert mine["invoice_id"] in (credit.description or "")
    assert [c.reference for c in by_merchant[other_merchant.id]] == [f"SANDBOX-AUTO-{theirs['invoice_id']}"]


def test_sandbox_autopay_ignores_a_payment_paid_meanwhile(
    db: Database, settings: Settings, merchant: NewMerchant
) -> None:
    payment = create(db, settings, merchant.test_api_key)
    assert poll(
        db, settings, ListSource([Report("test", merchant.id, [Credit("qris", payment["final_amount"], "REAL-1")])])
    ) == Tally(matched=1)
    with writes_nothing(db):
        assert poll(db, settings, SandboxAutopay(db, delay=0)) == Tally()
    assert stored(db, payment["invoice_id"])["paid_reff_num"] == "REAL-1"


# --- configured_sources ---------------------------------------------------------------------


def test_no_sources_by_default(settings: Settings, db: Database) -> None:
    assert configured_sources(settings, db) == []


def test_the_sandbox_autopay_when_enabled(settings: Settings, db: Database) -> None:
    [source] = configured_sources(settings.model_copy(update={"sandbox_autopay": 10.0}), db)
    assert isinstance(source, SandboxAutopay)
    assert source.delay == 10.0
    assert source.db is db
    assert source.name == "sandbox-autopay"


def test_a_factory_named_module_colon_attribute_is_loaded(settings: Settings, db: Database) -> None:
    configured = settings.model_copy(update={"sandbox_autopay": 5.0, "mutation_sources": [FACTORY, FACTORY]})
    sources = configured_sources(configured, db)
    assert [s.name for s in sources] == ["sandbox-autopay", "from-factory", "from-factory"]
    made = sources[1]
    # The factory got the settings and the database it was called with.
    assert getattr(made, "settings", None) is configured
    assert getattr(made, "db", None) is db
    assert made.interval == 7.0
    assert sources[1] is not sources[2]


def test_sources_are_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, database_url: str, db: Database
) -> None:
    monkeypatch.setenv("KASIR_MUTATION_SOURCES", f" {FACTORY} ,{FACTORY},")
    monkeypatch.setenv("KASIR_SANDBOX_AUTOPAY", "2.5")
    monkeypatch.setenv("KASIR_DATABASE_URL", database_url)
    sources = configured_sources(Settings(), db)
    assert [s.name for s in sources] == ["sandbox-autopay", "from-factory", "from-factory"]


@pytest.mark.parametrize("spec", ["tests.integration.payments.test_sources", "tests.x:", ":make_source", ":"])
def test_an_entry_that_is_not_module_colon_factory_is_refused(settings: Settings, db: Database, spec: str) -> None:
    with pytest.raises(ValueError, match="module:factory"):
        configured_sources(settings.model_copy(update={"mutation_sources": [spec]}), db)


def test_an_entry_naming_nothing_importable_fails_loudly(settings: Settings, db: Database) -> None:
    with pytest.raises(ImportError):
        configured_sources(settings.model_copy(update={"mutation_sources": ["kasir_no_such_module:factory"]}), db)
    with pytest.raises(AttributeError):
        configured_sources(settings.model_copy(update={"mutation_sources": ["kasir.payments.sources:nope"]}), db)
