"""The delivery queue: which deliveries are due (one rule, :func:`due`), claiming them, loading
what sending needs, recording outcomes, and the queue's gauges. Every statement that moves a
delivery on is here (the outbox only adds them; docs/architecture.md, "Aggregates and their
owners"); the rows of other tables it needs come from their modules (endpoints,
callback_settings, callback_log). Every function takes the Connection of the caller's
transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    any_,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    not_,
    or_,
    select,
    update,
)
from sqlalchemy.orm import aliased

from kasir.db.tables import deliveries, delivery_attempts, endpoints
from kasir.db.types import UTCDateTime
from kasir.delivery import callback_log, callback_settings
from kasir.delivery import endpoints as endpoint_rows
from kasir.delivery.notifiers import CHANNEL
from kasir.delivery.states import DeliveryStatus
from kasir.merchants import lookup

PENDING = DeliveryStatus.PENDING


@dataclass(slots=True)
class Job:
    """One delivery to attempt now, with everything the attempt needs."""

    id: int
    public_id: str
    url: str
    dialect: str
    attempts: int
    merchant_id: int
    mode: str
    endpoint_id: int | None
    event_id: str = ""
    event_type: str = ""
    event_created_at: int = 0
    event_payload: dict[str, Any] = field(default_factory=dict)
    username: str = ""
    secrets: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    rate_limit: int | None = None
    endpoint_enabled: bool = True
    endpoint_public_id: str | None = None


def lease_free(now: Any) -> ColumnElement[bool]:
    """No worker holds the delivery at ``now``: never claimed, or its lease has run out. A lease
    ending at ``now`` is over (``claimed_until <= now``), the same instant for every reader."""
    return or_(deliveries.c.claimed_until.is_(None), deliveries.c.claimed_until <= now)


def due(now: Any) -> ColumnElement[bool]:
    """The one rule of a due delivery, for the claim, the gauges and redelivery alike: pending,
    its next attempt at or before ``now`` (``next_attempt_at == now`` is due), and no lease
    held. ``now``: a time, or a bind parameter of one."""
    return and_(deliveries.c.status == PENDING, deliveries.c.next_attempt_at <= now, lease_free(now))


def _claim_statement(dialect: str) -> Any:
    """The claim, built once per dialect (it runs every time the worker wakes): FIFO endpoints
    give out only their oldest pending delivery, so a failing head holds the rest back. On
    PostgreSQL the candidates are locked with SKIP LOCKED, so workers never wait on each other
    nor take the same row, and ``= ANY(ARRAY(…))`` keeps the planner from scanning every
    delivery ever made (an ``IN`` subquery became a hash join over the table)."""
    earlier = aliased(deliveries)
    now = bindparam("now", type_=UTCDateTime)
    # The one read of endpoints outside kasir/delivery/endpoints.py: the FIFO rule is part of the
    # claim's single statement, so it is decided on the rows the claim locks and takes.
    candidates = (
        select(deliveries.c.id)
        .select_from(deliveries.outerjoin(endpoints, endpoints.c.id == deliveries.c.endpoint_id))
        .where(
            due(now),
            or_(
                endpoints.c.id.is_(None),
                not_(endpoints.c.fifo),
                not_(
                    exists().where(
                        earlier.c.endpoint_id == deliveries.c.endpoint_id,
                        earlier.c.status == PENDING,
                        earlier.c.id < deliveries.c.id,
                    )
                ),
            ),
        )
        .order_by(deliveries.c.next_attempt_at)
        .limit(bindparam("limit"))
    )
    if dialect == "postgresql":
        candidates = candidates.with_for_update(of=deliveries, skip_locked=True)
        chosen = deliveries.c.id == any_(func.array(candidates.scalar_subquery()))
    else:
        chosen = deliveries.c.id.in_(candidates.scalar_subquery())
    return (
        update(deliveries)
        .where(chosen)
        .values(claimed_until=bindparam("until", type_=UTCDateTime))
        .returning(
            deliveries.c.id,
            deliveries.c.public_id,
            deliveries.c.url,
            deliveries.c.dialect,
            deliveries.c.attempts,
            deliveries.c.merchant_id,
            deliveries.c.mode,
            deliveries.c.endpoint_id,
            deliveries.c.event_id,
        )
    )


_CLAIM = {dialect: _claim_statement(dialect) for dialect in ("sqlite", "postgresql")}


def claim(conn: Connection, now: datetime, limit: int, lease: timedelta) -> list[Job]:
    """Take up to ``limit`` due deliveries and lease them to this worker until ``now + lease``."""
    rows = conn.execute(_CLAIM[conn.dialect.name], {"now": now, "limit": limit, "until": now + lease}).all()
    if not rows:
        return []
    return _load(conn, rows, now)


def _load(conn: Connection, rows: Sequence[Any], now: datetime) -> list[Job]:
    event_rows = callback_log.events_by_row_ids(conn, {row.event_id for row in rows})
    usernames = lookup.usernames_of(conn, {r.merchant_id for r in rows})
    endpoint_by_id = endpoint_rows.by_ids(conn, {r.endpoint_id for r in rows if r.endpoint_id is not None})
    setting_rows = callback_settings.of_merchants(conn, {r.merchant_id for r in rows if r.endpoint_id is None})
    payloads: dict[int, dict[str, Any]] = {}
    jobs = []
    for row in rows:
        event = event_rows[row.event_id]
        if row.event_id not in payloads:
            payloads[row.event_id] = json.loads(event["payload"])
        job = Job(
            id=row.id,
            public_id=row.public_id,
            url=row.url,
            dialect=row.dialect,
            attempts=row.attempts,
            merchant_id=row.merchant_id,
            mode=row.mode,
            endpoint_id=row.endpoint_id,
            event_id=event["event_id"],
            event_type=event["type"],
            event_created_at=int(event["created_at"].timestamp()),
            event_payload=payloads[row.event_id],
            username=usernames.get(row.merchant_id, ""),
        )
        source = endpoint_by_id.get(row.endpoint_id) if row.endpoint_id is not None else None
        if source is not None:
            # An endpoint's delivery goes where the endpoint points now: a merchant who fixes a
            # wrong URL expects the retries (and redeliveries) to follow.
            job.url = source["url"]
            job.dialect = source["dialect"]
            job.headers = json.loads(source["headers"]) if source["headers"] else {}
            job.rate_limit = source["rate_limit"]
            job.endpoint_enabled = bool(source["enabled"])
            job.endpoint_public_id = source["public_id"]
        else:
            source = setting_rows.get((row.merchant_id, row.mode))
        if source is not None:
            job.secrets = endpoint_rows.active_secrets(
                source["secret"], source["previous_secret"], source["previous_secret_expires_at"], now
            )
        jobs.append(job)
    return jobs


@dataclass(slots=True)
class Outcome:
    """What one attempt changed: an attempt row to append and the delivery's new state."""

    job: Job
    attempt: dict[str, Any] | None  # None for a deferral (rate limit): no try was made
    status: DeliveryStatus
    next_attempt_at: datetime | None
    endpoint_result: str | None = None  # success | failure | gone | None
    error: str | None = None  # why a delivery ended without a try (its endpoint is disabled)


def record(conn: Connection, outcomes: Sequence[Outcome], now: datetime) -> None:
    """Append the attempts and move each delivery on, all in one transaction.

    Only a delivery still pending moves: one that ended while its attempt was in flight (its
    endpoint disabled by a 410 or by the merchant, which fails the endpoint's whole queue) stays
    where it ended, because the log, the dashboard and ``recover`` have already acted on that
    state. The late attempt is still logged and counted: the receiver did answer it."""
    attempts = [o.attempt for o in outcomes if o.attempt is not None]
    if attempts:
        conn.execute(insert(delivery_attempts), attempts)
    updates = [
        {
            "b_id": o.job.id,
            "b_status": o.status,
            "b_attempts": o.job.attempts + (1 if o.attempt is not None else 0),
            "b_next": o.next_attempt_at,
            "b_last_at": o.attempt["started_at"] if o.attempt else None,
            "b_code": o.attempt["status_code"] if o.attempt else None,
            "b_error": o.attempt["error"] if o.attempt else None,
            "b_completed": now if o.status != PENDING else None,
        }
        for o in outcomes
    ]
    tried = [u for u, o in zip(updates, outcomes, strict=True) if o.attempt is not None]
    deferred = any(o.attempt is None for o in outcomes)
    if tried:
        # The try is counted either way (the counter matches the attempt log); only a delivery
        # still pending takes its outcome. SET expressions all read the row as it was.
        still_pending = deliveries.c.status == PENDING

        def if_pending(value: Any, column: Any) -> Any:
            return case((still_pending, value), else_=column)

        conn.execute(
            update(deliveries)
            .where(deliveries.c.id == bindparam("b_id"))
            .values(
                status=if_pending(bindparam("b_status"), deliveries.c.status),
                attempts=bindparam("b_attempts"),
                next_attempt_at=if_pending(bindparam("b_next", type_=UTCDateTime), deliveries.c.next_attempt_at),
                claimed_until=None,
                last_attempt_at=bindparam("b_last_at", type_=UTCDateTime),
                last_status_code=bindparam("b_code"),
                last_error=if_pending(bindparam("b_error"), deliveries.c.last_error),
                completed_at=if_pending(bindparam("b_completed", type_=UTCDateTime), deliveries.c.completed_at),
            ),
            tried,
        )
    if deferred:
        conn.execute(
            update(deliveries)
            .where(deliveries.c.id == bindparam("b_id"), deliveries.c.status == PENDING)
            .values(
                status=bindparam("b_status"),
                next_attempt_at=bindparam("b_next"),
                claimed_until=None,
                last_error=bindparam("b_error"),
                completed_at=bindparam("b_completed"),
            ),
            [
                {**u, "b_error": o.error if o.error else u["b_error"]}
                for u, o in zip(updates, outcomes, strict=True)
                if o.attempt is None
            ],
        )
    succeeded = {o.job.endpoint_id for o in outcomes if o.endpoint_result == "success" and o.job.endpoint_id}
    failed = {o.job.endpoint_id for o in outcomes if o.endpoint_result == "failure" and o.job.endpoint_id}
    endpoint_rows.note_results(conn, succeeded, failed, now)


def fail_pending_of_endpoint(conn: Connection, endpoint_id: int, reason: str, now: datetime) -> int:
    """A disabled endpoint's queue fails at once; `recover` brings it back."""
    result = conn.execute(
        update(deliveries)
        .where(deliveries.c.endpoint_id == endpoint_id, deliveries.c.status == PENDING)
        .values(
            status=DeliveryStatus.FAILED, last_error=reason, completed_at=now, claimed_until=None, next_attempt_at=None
        )
    )
    return int(result.rowcount or 0)


def release_all_claims(conn: Connection) -> int:
    """For the one SQLite worker at start-up: no one else can hold a lease, so any lease left is
    a crashed predecessor's and can be taken back now instead of when it runs out."""
    result = conn.execute(
        update(deliveries)
        .where(and_(deliveries.c.status == PENDING, deliveries.c.claimed_until.is_not(None)))
        .values(claimed_until=None)
    )
    return int(result.rowcount or 0)


def forget_attempts_older_than(conn: Connection, cutoff: datetime, batch: int = 5000) -> int:
    """Trim the attempt log (kept for ``attempt_retention_days``), a batch at a time so a large
    backlog never holds the write lock for long."""
    oldest = select(delivery_attempts.c.id).where(delivery_attempts.c.started_at < cutoff).limit(batch)
    result = conn.execute(delete(delivery_attempts).where(delivery_attempts.c.id.in_(oldest.scalar_subquery())))
    return int(result.rowcount or 0)


def make_due_now(conn: Connection, delivery_id: int, now: datetime) -> None:
    """A pending delivery tried at once (a redelivery of one still retrying), unless a worker
    holds it at this moment: that attempt goes on."""
    conn.execute(
        update(deliveries)
        .where(deliveries.c.id == delivery_id, deliveries.c.status == PENDING, lease_free(now))
        .values(next_attempt_at=now)
    )


def events_to_recover(conn: Connection, endpoint_id: int, since: datetime) -> list[int]:
    """The events (row ids, in event order, for FIFO endpoints) whose delivery to this endpoint
    failed since ``since`` and that no later delivery has sent or is still sending."""
    failed_events = set(
        conn.execute(
            select(deliveries.c.event_id).where(
                deliveries.c.endpoint_id == endpoint_id,
                deliveries.c.status == DeliveryStatus.FAILED,
                deliveries.c.created_at >= since,
            )
        ).scalars()
    )
    settled = set(
        conn.execute(
            select(deliveries.c.event_id).where(
                deliveries.c.endpoint_id == endpoint_id,
                deliveries.c.status.in_((PENDING, DeliveryStatus.SUCCEEDED)),
                deliveries.c.event_id.in_(failed_events),
            )
        ).scalars()
    )
    return sorted(failed_events - settled)


@dataclass(frozen=True, slots=True)
class FailingCallbackUrl:
    """A merchant's default callback URL (no endpoint row of its own) that has been failing: its
    oldest delivery tried and still pending stands for it."""

    merchant_id: int
    mode: str
    url: str
    since: datetime


def failing_callback_urls(conn: Connection, created_before: datetime) -> list[FailingCallbackUrl]:
    """Per merchant and mode, the oldest delivery to the default callback URL created at or
    before ``created_before``, tried, and still pending. Kasir's own messages (dialect
    ``notifier``: buyer messages, alerts) are not callbacks."""
    tried_and_pending = (
        deliveries.c.status == PENDING,
        deliveries.c.endpoint_id.is_(None),
        deliveries.c.dialect != CHANNEL,
        deliveries.c.attempts > 0,
        deliveries.c.created_at <= created_before,
    )
    found = []
    for merchant_id, mode in conn.execute(
        select(deliveries.c.merchant_id, deliveries.c.mode).where(*tried_and_pending).distinct()
    ).all():
        oldest = conn.execute(
            select(deliveries.c.url, deliveries.c.created_at)
            .where(*tried_and_pending, deliveries.c.merchant_id == merchant_id, deliveries.c.mode == mode)
            .order_by(deliveries.c.created_at)
            .limit(1)
        ).first()
        if oldest is not None:
            found.append(FailingCallbackUrl(merchant_id, mode, oldest.url, oldest.created_at))
    return found


def count_due(conn: Connection, now: datetime) -> tuple[int, int, float]:
    """(pending, due now, age in seconds of the oldest due delivery) across all merchants.

    A delivery a worker holds (its lease not yet run out) is pending but not due: it is being
    sent, and counting it would show a queue waiting for workers that are in fact busy with it.
    Due is :func:`due`, the rule the claim takes deliveries by."""
    pending = int(
        conn.execute(select(func.count()).select_from(deliveries).where(deliveries.c.status == PENDING)).scalar_one()
    )
    due_now = due(now)
    count = int(conn.execute(select(func.count()).select_from(deliveries).where(due_now)).scalar_one())
    oldest = conn.execute(select(func.min(deliveries.c.next_attempt_at)).where(due_now)).scalar()
    if oldest is not None and not isinstance(oldest, datetime):  # SQLite's min() returns text
        oldest = UTCDateTime().process_result_value(datetime.fromisoformat(str(oldest)), conn.dialect)
    elif isinstance(oldest, datetime) and oldest.tzinfo is None:
        oldest = UTCDateTime().process_result_value(oldest, conn.dialect)
    age = (now - oldest).total_seconds() if oldest is not None else 0.0
    return pending, count, max(0.0, age)
