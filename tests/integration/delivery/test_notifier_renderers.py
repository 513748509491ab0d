"""A notifier delivery whose event type no renderer claims (kasir.delivery.notifiers.renderers)
fails each try loudly: the attempt log names the event type and says no renderer writes it, the
worker logs it as an error, and the delivery follows the retry schedule like any failed try. It
is never skipped nor left pending. Real worker, real database, the log notifier."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from kasir.clock import utcnow
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.db.tables import deliveries, delivery_attempts
from kasir.delivery.notifiers import renderers
from kasir.delivery.outbox import record_event
from kasir.merchants.service import NewMerchant
from tests.waiting import wait_until
from tests.workers import RunningWorker

BUYER = "6281234567890"
StartWorker = Callable[[Settings], RunningWorker]


def notifier_deliveries(db: Database) -> list[sa.Row[tuple[object, ...]]]:
    return db.read_sync(
        lambda conn: list(
            conn.execute(sa.select(deliveries).where(deliveries.c.dialect == "notifier").order_by(deliveries.c.id))
        )
    )


def message_about(db: Database, merchant: NewMerchant, event_type: str) -> None:
    """A message to a buyer about an event of ``event_type``, queued as the outbox queues one."""
    db.write_sync(
        lambda conn: record_event(
            conn,
            merchant_id=merchant.id,
            mode="test",
            type=event_type,
            payload={"event": event_type},
            created_at=utcnow(),
            notify_phone=BUYER,
        )
    )


def test_a_message_no_renderer_writes_fails_each_try_with_the_reason(
    db: Database,
    settings: Settings,
    merchant: NewMerchant,
    start_worker: StartWorker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert renderers.renderer_for("source.silent") is None
    caplog.set_level(logging.ERROR, logger="kasir.worker")
    message_about(db, merchant, "source.silent")
    start_worker(settings.model_copy(update={"delivery_retry_schedule": [0, 0], "worker_poll_interval": 0.05}))

    wait_until(lambda: [d.status for d in notifier_deliveries(db)] == ["failed"], what="the schedule used up")
    [message] = notifier_deliveries(db)
    tries = db.read_sync(
        lambda conn: list(
            conn.execute(
                sa.select(delivery_attempts)
                .where(delivery_attempts.c.delivery_id == message.id)
                .order_by(delivery_attempts.c.attempt)
            )
        )
    )
    assert [t.outcome for t in tries] == ["retrying", "retrying", "failed"]
    for attempt in tries:
        assert attempt.error.startswith(
            "cannot write the message: NoRenderer: no message renderer for 'source.silent'"
        ), attempt.error
        assert BUYER not in attempt.error + attempt.url
    assert message.attempts == 3
    assert message.last_error == tries[-1].error
    errors = [r for r in caplog.records if r.name == "kasir.worker" and r.levelno == logging.ERROR]
    assert len(errors) == 3
    assert all("no message renderer for 'source.silent'" in r.getMessage() for r in errors)
