"""The background component on a real database (SQLite and PostgreSQL): one task per duty, a
failing duty logged and tried again with backoff while the others go on, everything stopped and
waited for by ``stop()``; and the app runs it only when asked to (``kasir serve`` without
``--no-worker``)."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from kasir.app import create_app
from kasir.background import Background, Duty
from kasir.clock import utcnow
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.db.tables import payments
from kasir.merchants.service import NewMerchant, authenticate
from kasir.payments.service import NewPayment, create_payment
from kasir.payments.views import PaymentRow
from kasir.sources.confirmation import Poller
from tests.integration.background import pollers

SWEEPS = ["expiry", "source-health", "alerts", "housekeeping"]


def status_of(db: Database, invoice_id: str) -> str:
    return str(
        db.read_sync(
            lambda conn: conn.execute(
                sa.select(payments.c.status).where(payments.c.invoice_id == invoice_id)
            ).scalar_one()
        )
    )


def new_payment(db: Database, settings: Settings, key: str, amount: int, *, ago: float = 0) -> PaymentRow:
    def write(conn: sa.Connection) -> PaymentRow:
        return create_payment(
            conn, authenticate(conn, key), NewPayment(amount=amount), settings, utcnow() - timedelta(seconds=ago)
        )

    return db.write_sync(write)


async def until(predicate: Callable[[], bool], what: str, within: float = 30) -> None:
    """``tests.waiting.wait_until`` for a test that runs the loop itself."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"{what} not reached within {within} s")
        await asyncio.sleep(0.02)


@pytest.fixture
def fast(settings: Settings) -> Settings:
    return settings.model_copy(update={"sweep_interval": 0.2, "mutation_sources": [f"{pollers.HERE}:flaky"]})


def test_a_failing_duty_is_tried_again_with_backoff_and_the_others_go_on(
    db: Database, fast: Settings, merchant: NewMerchant, caplog: pytest.LogCaptureFixture
) -> None:
    key = merchant.test_api_key
    overdue = new_payment(db, fast, key, 31000, ago=fast.payment_ttl + 60)
    payment = new_payment(db, fast, key, 25000)
    credit = {"mode": "test", "merchant_id": merchant.id, "method": "qris", "amount": payment["final_amount"]}
    pollers.post(fast.home, {**credit, "reference": "FLAKY-1"})
    background = Background(db, fast)
    [flaky] = background.sources
    assert isinstance(flaky, pollers.Flaky)
    assert background.names == ["delivery", *SWEEPS, "poller:inbox"]

    async def main() -> None:
        background.start()
        try:
            # The poller fails its first fetches; the sweeps do not wait for it.
            await until(lambda: status_of(db, overdue["invoice_id"]) == "expired", "the overdue payment expired")
            await until(lambda: status_of(db, payment["invoice_id"]) == "paid", "the poller's credit, after retries")
            assert sorted(background.running()) == sorted(background.names)
        finally:
            await background.stop()
        assert background.running() == []

    with caplog.at_level(logging.ERROR, logger="kasir.background"):
        asyncio.run(main())
    failures = [r for r in caplog.records if r.getMessage().startswith("background duty poller:inbox failed")]
    assert [r.getMessage() for r in failures] == [
        "background duty poller:inbox failed; trying again in 0.2 s",
        "background duty poller:inbox failed; trying again in 0.4 s",
    ]
    assert all(r.exc_info and "provider unreachable" in str(r.exc_info[1]) for r in failures)
    assert flaky.fetches >= pollers.Flaky.failures


def test_a_long_running_duty_that_fails_is_restarted_and_stop_waits_for_all(db: Database, settings: Settings) -> None:
    background = Background(db, settings.model_copy(update={"sweep_interval": 0.2}))
    runs: list[float] = []

    async def crashing() -> None:
        runs.append(asyncio.get_running_loop().time())
        if len(runs) < 3:
            raise RuntimeError("lost the connection")
        await asyncio.Event().wait()  # then runs until cancelled

    background.duties = (*background.duties, Duty("crashing", crashing))

    async def main() -> None:
        async with background:
            await until(lambda: len(runs) == 3, "the third run", within=10)
            assert "crashing" in background.running()
        assert background.running() == []

    asyncio.run(main())
    # Restarted after one second, then two.
    assert [round(later - earlier) for earlier, later in itertools.pairwise(runs)] == [1, 2]


def test_backoff_doubles_from_the_duty_interval_up_to_a_minute() -> None:
    async def nothing() -> None:
        return None

    assert [Duty("d", nothing).backoff(n) for n in (1, 2, 3, 7, 20)] == [1, 2, 4, 60, 60]
    assert [Duty("p", nothing, every=5).backoff(n) for n in (1, 2, 5)] == [5, 10, 60]
    assert Duty("slow", nothing, every=300).backoff(3) == 300  # never faster than its own pace


def test_run_returns_after_request_stop(db: Database, settings: Settings) -> None:
    background = Background(db, settings)

    async def main() -> None:
        running = asyncio.create_task(background.run())
        await until(lambda: background.running() == background.names, "every duty running")
        background.request_stop()
        await asyncio.wait_for(running, timeout=30)

    asyncio.run(main())
    assert background.running() == []


@pytest.mark.parametrize("background", [True, False])
def test_the_app_runs_the_background_unless_told_not_to_and_knows_the_pollers_either_way(
    db: Database, settings: Settings, tmp_path: Path, background: bool
) -> None:
    configured = settings.model_copy(update={"mutation_sources": [f"{pollers.HERE}:inbox"]})
    app = create_app(configured, database=db, background=background)
    with TestClient(app) as client:
        assert client.portal is not None  # the client's event loop, there while it is open
        names = client.portal.call(lambda: {task.get_name() for task in asyncio.all_tasks()})
        assert app.state.kasir.pollers == (Poller("inbox", None),)
    duties = {f"kasir-{name}" for name in ["delivery", *SWEEPS, "poller:inbox"]}
    assert (duties <= names) if background else not (names & duties), names
