"""The delivery queue's SQL, in one place: claim due deliveries, load what sending needs, record
outcomes. Every function takes the Connection of the caller's transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, any_, bindparam, case, delete, exists, func, insert, not_, or_, select, update
from sqlalchemy.orm import aliased

from kasir.db.tables import deliveries, delivery_attempts, endpoints, events, merchants, webhook_settings
from kasir.db.types import UTCDateTime


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


def _claim_statement(dialect: str) -> Any:
    """The claim, built once per dialect (it runs every time the worker wakes): FIFO endpoints
    give out only their oldest pending delivery, so a failing head holds the rest back. On
    PostgreSQL the candidates are locked with SKIP LOCKED, so workers never wait on each other
    nor take the same row, and ``= ANY(ARRAY(…))`` keeps the planner from scanning every
    delivery ever made (an ``IN`` subquery became a hash join over the table)."""
    earlier = aliased(deliveries)
    now = bindparam("now", type_=UTCDateTime)
    candidates = (
        select(deliveries.c.id)
        .select_from(deliveries.outerjoin(endpoints, endpoints.c.id == deliveries.c.endpoint_id))
        .where(
            deliveries.c.status == "pending",
            deliveries.c.next_attempt_at <= now,
            or_(deliveries.c.claimed_until.is_(None), deliveries.c.claimed_until < now),
            or_(
                endpoints.c.id.is_(None),
                not_(endpoints.c.fifo),
                not_(
                    exists().where(
                        earlier.c.endpoint_id == deliveries.c.endpoint_id,
                        earlier.c.status == "pending",
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
    event_rows = {
        r.id: r
        for r in conn.execute(
            select(events.c.id, events.c.event_id, events.c.type, events.c.created_at, events.c.payload).where(
                events.c.id.in_({row.event_id for row in rows})
            )
        )
    }
    usernames = dict(
        conn.execute(
            select(merchants.c.id, merchants.c.username).where(merchants.c.id.in_({r.merchant_id for r in rows}))
        ).all()
    )
    endpoint_rows = {
        e.id: e
        for e in conn.execute(
            select(endpoints).where(endpoints.c.id.in_({r.endpoint_id for r in rows if r.endpoint_id is not None}))
        )
    }
    setting_rows = {
        (s.merchant_id, s.mode): s
        for s in conn.execute(
            select(webhook_settings).where(
                webhook_settings.c.merchant_id.in_({r.merchant_id for r in rows if r.endpoint_id is None})
            )
        )
    }
    payloads: dict[int, dict[str, Any]] = {}
    jobs = []
    for row in rows:
        event = event_rows[row.event_id]
        if row.event_id not in payloads:
            payloads[row.event_id] = json.loads(event.payload)
        job = Job(
            id=row.id,
            public_id=row.public_id,
            url=row.url,
            dialect=row.dialect,
            attempts=row.attempts,
            merchant_id=row.merchant_id,
            mode=row.mode,
            endpoint_id=row.endpoint_id,
            event_id=event.event_id,
            event_type=event.type,
            event_created_at=int(event.created_at.timestamp()),
            event_payload=payloads[row.event_id],
            username=usernames.get(row.merchant_id, ""),
        )
        source = endpoint_rows.get(row.endpoint_id) if row.endpoint_id is not None else None
        if source is not None:
            # An endpoint's delivery goes where the endpoint points now: a merchant who fixes a
            # wrong URL expects the retries (and redeliveries) to follow.
            job.url = source.url
            job.dialect = source.dialect
            job.headers = json.loads(source.headers) if source.headers else {}
            job.rate_limit = source.rate_limit
            job.endpoint_enabled = bool(source.enabled)
            job.endpoint_public_id = source.public_id
        else:
            source = setting_rows.get((row.merchant_id, row.mode))
        if source is not None:
            job.secrets = active_secrets(source.secret, source.previous_secret, source.previous_secret_expires_at, now)
        jobs.append(job)
    return jobs


def active_secrets(
    current: str, previous: str | None, previous_expires_at: datetime | None, now: datetime
) -> list[str]:
    if previous and previous_expires_at is not None and previous_expires_at > now:
        return [current, previous]
    return [current]


@dataclass(slots=True)
class Outcome:
    """What one attempt changed: an attempt row to append and the delivery's new state."""

    job: Job
    attempt: dict[str, Any] | None  # None for a deferral (rate limit): no try was made
    status: str  # pending | succeeded | failed
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
            "b_completed": now if o.status != "pending" else None,
        }
        for o in outcomes
    ]
    tried = [u for u, o in zip(updates, outcomes, strict=True) if o.attempt is not None]
    deferred = any(o.attempt is None for o in outcomes)
    if tried:
        # The try is counted either way (the counter matches the attempt log); only a delivery
        # still pending takes its outcome. SET expressions all read the row as it was.
        still_pending = deliveries.c.status == "pending"

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
            .where(deliveries.c.id == bindparam("b_id"), deliveries.c.status == "pending")
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
    failed = {o.job.endpoint_id for o in outcomes if o.endpoint_result == "failure" and o.job.endpoint_id} - succeeded
    if succeeded:
        conn.execute(
            update(endpoints).where(endpoints.c.id.in_(succeeded)).values(last_success_at=now, failing_since=None)
        )
    if failed:
        conn.execute(
            update(endpoints)
            .where(endpoints.c.id.in_(failed), endpoints.c.failing_since.is_(None))
            .values(failing_since=now)
        )


def endpoints_failing_since(conn: Connection, endpoint_ids: set[int], before: datetime) -> list[int]:
    if not endpoint_ids:
        return []
    return list(
        conn.execute(
            select(endpoints.c.id).where(
                endpoints.c.id.in_(endpoint_ids),
                endpoints.c.enabled.is_(True),
                endpoints.c.failing_since.is_not(None),
                endpoints.c.failing_since <= before,
            )
        ).scalars()
    )


def fail_pending_of_endpoint(conn: Connection, endpoint_id: int, reason: str, now: datetime) -> int:
    """A disabled endpoint's queue fails at once; `recover` brings it back."""
    result = conn.execute(
        update(deliveries)
        .where(deliveries.c.endpoint_id == endpoint_id, deliveries.c.status == "pending")
        .values(status="failed", last_error=reason, completed_at=now, claimed_until=None, next_attempt_at=None)
    )
    return int(result.rowcount or 0)


def release_all_claims(conn: Connection) -> int:
    """For the one SQLite worker at start-up: no one else can hold a lease, so any lease left is
    a crashed predecessor's and can be taken back now instead of when it runs out."""
    result = conn.execute(
        update(deliveries)
        .where(and_(deliveries.c.status == "pending", deliveries.c.claimed_until.is_not(None)))
        .values(claimed_until=None)
    )
    return int(result.rowcount or 0)


def forget_attempts_older_than(conn: Connection, cutoff: datetime, batch: int = 5000) -> int:
    """Trim the attempt log (kept for ``attempt_retention_days``), a batch at a time so a large
    backlog never holds the write lock for long."""
    oldest = select(delivery_attempts.c.id).where(delivery_attempts.c.started_at < cutoff).limit(batch)
    result = conn.execute(delete(delivery_attempts).where(delivery_attempts.c.id.in_(oldest.scalar_subquery())))
    return int(result.rowcount or 0)
