"""The delivery queue's SQL on its own (kasir/delivery/queue.py), on SQLite and PostgreSQL: what a
lease means for the queue gauges, and a final state that a late attempt must not undo."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from kasir.clock import utcnow
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.db.tables import deliveries, delivery_attempts
from kasir.delivery import dispatch, queue
from kasir.delivery.hooks import DisableCause
from kasir.delivery.queue import count_due
from kasir.delivery.service import disable_endpoint
from kasir.merchants.service import NewMerchant
from tests.integration.delivery.conftest import add_endpoint, delivery_rows, make_payments

LEASE = timedelta(seconds=60)


def claim_all(db: Database) -> list[queue.Job]:
    return db.write_sync(lambda conn: queue.claim(conn, utcnow(), 100, LEASE))


def answered(job: queue.Job, status_code: int, settings: Settings) -> queue.Outcome:
    """What the worker decides for an attempt the receiver answered with ``status_code``."""
    request = dispatch.prepare(job, int(utcnow().timestamp()))
    result = dispatch.Result(status_code, "ok", 0.01, None)
    return dispatch.decide(job, request, result, utcnow(), settings)


def test_a_leased_delivery_is_pending_but_not_due(db: Database, merchant: NewMerchant, settings: Settings) -> None:
    add_endpoint(db, merchant, "http://127.0.0.1:9/hook", event_types='["payment.created"]')
    make_payments(db, merchant, settings, 2)
    assert db.read_sync(lambda conn: count_due(conn, utcnow()))[:2] == (2, 2)

    jobs = claim_all(db)
    assert len(jobs) == 2
    pending, due, oldest_age = db.read_sync(lambda conn: count_due(conn, utcnow()))
    assert (pending, due, oldest_age) == (2, 0, 0.0)

    # A lease that ran out (its worker died) is due again.
    later = utcnow() + LEASE + timedelta(seconds=1)
    assert db.read_sync(lambda conn: count_due(conn, later))[:2] == (2, 2)


def test_a_delivery_failed_while_its_attempt_was_in_flight_stays_failed(
    db: Database, merchant: NewMerchant, settings: Settings
) -> None:
    """A 410 from one delivery disables the endpoint and fails its queue, including a delivery
    whose attempt is still out; that attempt's 200 (or 500) is logged and counted but moves
    nothing."""
    endpoint = add_endpoint(db, merchant, "http://127.0.0.1:9/hook", event_types='["payment.created"]')
    make_payments(db, merchant, settings, 3)
    gone, late_success, late_failure = claim_all(db)

    def the_410_comes_back(conn: sa.Connection) -> None:
        queue.record(conn, [answered(gone, 410, settings)], utcnow())
        disable_endpoint(conn, endpoint["id"], DisableCause.GONE, utcnow())

    db.write_sync(the_410_comes_back)
    ended = {row.id: (row.status, row.completed_at, row.next_attempt_at, row.last_error) for row in delivery_rows(db)}
    assert [status for status, _, _, _ in ended.values()] == ["failed"] * 3

    db.write_sync(
        lambda conn: queue.record(
            conn, [answered(late_success, 200, settings), answered(late_failure, 500, settings)], utcnow()
        )
    )
    after = delivery_rows(db)
    assert {row.id: (row.status, row.completed_at, row.next_attempt_at, row.last_error) for row in after} == ended
    # The late tries are counted, as they are logged: the counter matches the attempt log.
    assert {row.id: row.attempts for row in after} == {gone.id: 1, late_success.id: 1, late_failure.id: 1}
    assert {row.id: row.last_status_code for row in after} == {gone.id: 410, late_success.id: 200, late_failure.id: 500}
    logged = db.read_sync(
        lambda conn: conn.execute(
            sa.select(delivery_attempts.c.delivery_id, delivery_attempts.c.status_code).order_by(delivery_attempts.c.id)
        ).all()
    )
    assert [tuple(row) for row in logged] == [(gone.id, 410), (late_success.id, 200), (late_failure.id, 500)]


def test_a_pending_delivery_still_moves_on(db: Database, merchant: NewMerchant, settings: Settings) -> None:
    """The guard only spares ended deliveries: a pending one takes its attempt's outcome."""
    add_endpoint(db, merchant, "http://127.0.0.1:9/hook", event_types='["payment.created"]')
    make_payments(db, merchant, settings, 2)
    ok, retried = claim_all(db)
    db.write_sync(
        lambda conn: queue.record(conn, [answered(ok, 200, settings), answered(retried, 500, settings)], utcnow())
    )
    rows = {row.id: row for row in delivery_rows(db)}
    assert (rows[ok.id].status, rows[ok.id].attempts, rows[ok.id].claimed_until) == ("succeeded", 1, None)
    assert (rows[retried.id].status, rows[retried.id].attempts, rows[retried.id].claimed_until) == (
        "pending",
        1,
        None,
    )
    assert db.read_sync(lambda conn: conn.execute(sa.select(sa.func.count()).select_from(deliveries)).scalar_one()) == 2


def test_due_is_one_rule_for_the_claim_and_the_gauges(db: Database, merchant: NewMerchant, settings: Settings) -> None:
    """A delivery is due when its next attempt is at or before now and no lease is held at now;
    a lease ending exactly now is over. The claim and ``count_due`` read the same rule: before,
    the claim took a lease ending at ``now`` as still held (``<``) while the gauges counted the
    delivery as due (``<=``), so the metrics showed work no worker would take."""
    add_endpoint(db, merchant, "http://127.0.0.1:9/hook", event_types='["payment.created"]')
    make_payments(db, merchant, settings, 2)
    leased, waiting = claim_all(db)
    lease_end = db.read_sync(
        lambda conn: conn.execute(sa.select(deliveries.c.claimed_until).where(deliveries.c.id == leased.id)).scalar()
    )
    assert lease_end is not None
    # The other one is released and scheduled for exactly that instant.
    db.write_sync(
        lambda conn: conn.execute(
            sa.update(deliveries)
            .where(deliveries.c.id == waiting.id)
            .values(claimed_until=None, next_attempt_at=lease_end)
        )
    )
    just_before = lease_end - timedelta(microseconds=1)
    assert db.read_sync(lambda conn: count_due(conn, just_before))[:2] == (2, 0)
    assert db.write_sync(lambda conn: queue.claim(conn, just_before, 100, LEASE)) == []

    assert db.read_sync(lambda conn: count_due(conn, lease_end))[:2] == (2, 2)
    taken = db.write_sync(lambda conn: queue.claim(conn, lease_end, 100, LEASE))
    assert sorted(job.id for job in taken) == sorted([leased.id, waiting.id])
