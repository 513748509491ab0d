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
    not_,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.orm import aliased

from kasir.db import statements
from kasir.db.statements import BulkInsert, Conn, Statement, const, in_list, unnest, unset_columns
from kasir.db.tables import deliveries, delivery_attempts, endpoints, events, webhook_settings
from kasir.db.types import UTCDateTime
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
    # The event's data: given decoded, or as stored (``payload_json``) and decoded by
    # ``payload()`` only when something reads it; a dialect that embeds the data unchanged
    # (``standard``) splices the stored text instead (kasir.dialects.base.WebhookEvent.raw_data).
    event_payload: dict[str, Any] | None = None
    payload_json: str | None = None
    username: str = ""
    secrets: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    rate_limit: int | None = None
    endpoint_enabled: bool = True
    endpoint_public_id: str | None = None

    def payload(self) -> dict[str, Any]:
        if self.event_payload is None:
            self.event_payload = json.loads(self.payload_json) if self.payload_json else {}
        return self.event_payload


def lease_free(now: Any) -> ColumnElement[bool]:
    """No worker holds the delivery at ``now``: never claimed, or its lease has run out. A lease
    ending at ``now`` is over (``claimed_until <= now``), the same instant for every reader."""
    return or_(deliveries.c.claimed_until.is_(None), deliveries.c.claimed_until <= now)


def due(now: Any) -> ColumnElement[bool]:
    """The one rule of a due delivery, for the claim, the gauges and redelivery alike: pending,
    its next attempt at or before ``now`` (``next_attempt_at == now`` is due), and no lease
    held. ``now``: a time, or a bind parameter of one."""
    return and_(deliveries.c.status == const(PENDING), deliveries.c.next_attempt_at <= now, lease_free(now))


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
                        earlier.c.status == const(PENDING),
                        earlier.c.id < deliveries.c.id,
                    )
                ),
            ),
        )
        .order_by(deliveries.c.next_attempt_at)
        .limit(bindparam("limit"))
        .offset(const(0))  # SQLite's compiler binds an OFFSET 0 of its own otherwise
    )
    if dialect == "postgresql":
        candidates = candidates.with_for_update(of=deliveries, skip_locked=True)
        chosen = deliveries.c.id == any_(func.array(candidates.scalar_subquery()))
    else:
        chosen = deliveries.c.id.in_(candidates.scalar_subquery())
    return update(deliveries).where(chosen).values(claimed_until=bindparam("until", type_=UTCDateTime))


# What the claim returns of each delivery it takes, and reads of its endpoint (as
# ``endpoint_<column>``) or of its merchant's callback settings (``settings_<column>``).
_CLAIMED = ("id", "public_id", "url", "dialect", "attempts", "merchant_id", "mode", "endpoint_id", "event_id")
_SECRETS = ("secret", "previous_secret", "previous_secret_expires_at")
_ENDPOINT = ("url", "dialect", "headers", "rate_limit", "enabled", "public_id", *_SECRETS)


def _jobs_of(claimed: Any) -> Any:
    """What sending needs of each claimed delivery, in one read: its event, its merchant's
    username, and its endpoint as it is now (URL, headers, limits, secrets) or, for the callback
    URL, the merchant's callback settings (secrets). ``claimed``: the claim's rows."""
    c = claimed.c
    query = select(
        *(c[name] for name in _CLAIMED),
        events.c.event_id.label("event_public_id"),
        events.c.type.label("event_type"),
        events.c.created_at.label("event_created_at"),
        events.c.payload,
        *(endpoints.c[name].label(f"endpoint_{name}") for name in _ENDPOINT),
        *(webhook_settings.c[name].label(f"settings_{name}") for name in _SECRETS),
    ).select_from(
        claimed.join(events, events.c.id == c.event_id)
        .outerjoin(endpoints, endpoints.c.id == c.endpoint_id)
        .outerjoin(
            webhook_settings,
            and_(
                c.endpoint_id.is_(None),
                webhook_settings.c.merchant_id == c.merchant_id,
                webhook_settings.c.mode == c.mode,
            ),
        )
    )
    return lookup.with_merchant(query, c.merchant_id, username="username")


def _claim_returning(dialect: str) -> Any:
    return _claim_statement(dialect).returning(*(deliveries.c[name] for name in _CLAIMED))


# PostgreSQL: the claim and the read of what sending needs are one statement (the UPDATE as a
# CTE). SQLite has no UPDATE in a CTE: it claims, then reads the claimed rows by id; both are
# local calls there, not round trips.
CLAIM_JOBS: Statement[dict[str, Any]] = Statement(
    _jobs_of(_claim_returning("postgresql").cte("claimed")), name="claim_jobs"
)
CLAIM_IDS: Statement[dict[str, Any]] = Statement(
    _claim_statement("sqlite").returning(deliveries.c.id), name="claim_ids"
)
JOBS_BY_IDS: Statement[dict[str, Any]] = Statement(
    _jobs_of(deliveries).where(in_list(deliveries.c.id, "ids")), name="jobs_by_ids"
)


def claim(conn: Conn, now: datetime, limit: int, lease: timedelta) -> list[Job]:
    """Take up to ``limit`` due deliveries and lease them to this worker until ``now + lease``."""
    params = {"now": now, "limit": limit, "until": now + lease}
    if conn.dialect.name == "postgresql":
        rows = statements.rows(conn, CLAIM_JOBS, params)
    else:
        ids = statements.scalars(conn, CLAIM_IDS, params)
        rows = statements.rows(conn, JOBS_BY_IDS, {"ids": ids}) if ids else []
    return [_job(row, now) for row in rows]


def _job(row: dict[str, Any], now: datetime) -> Job:
    job = Job(
        id=row["id"],
        public_id=row["public_id"],
        url=row["url"],
        dialect=row["dialect"],
        attempts=row["attempts"],
        merchant_id=row["merchant_id"],
        mode=row["mode"],
        endpoint_id=row["endpoint_id"],
        event_id=row["event_public_id"],
        event_type=row["event_type"],
        event_created_at=int(row["event_created_at"].timestamp()),
        payload_json=row["payload"],
        username=row["username"] or "",
    )
    if row["endpoint_id"] is not None:
        if row["endpoint_public_id"] is None:  # the endpoint was deleted meanwhile
            return job
        # An endpoint's delivery goes where the endpoint points now: a merchant who fixes a
        # wrong URL expects the retries (and redeliveries) to follow.
        job.url = row["endpoint_url"]
        job.dialect = row["endpoint_dialect"]
        job.headers = json.loads(row["endpoint_headers"]) if row["endpoint_headers"] else {}
        job.rate_limit = row["endpoint_rate_limit"]
        job.endpoint_enabled = bool(row["endpoint_enabled"])
        job.endpoint_public_id = row["endpoint_public_id"]
        job.secrets = _secrets(row, "endpoint_", now)
    elif row["settings_secret"] is not None:
        job.secrets = _secrets(row, "settings_", now)
    return job


def _secrets(row: dict[str, Any], source: str, now: datetime) -> list[str]:
    current, previous, previous_expires_at = (row[source + name] for name in _SECRETS)
    return endpoint_rows.active_secrets(current, previous, previous_expires_at, now)


@dataclass(slots=True)
class Outcome:
    """What one attempt changed: an attempt row to append and the delivery's new state."""

    job: Job
    attempt: dict[str, Any] | None  # None for a deferral (rate limit): no try was made
    status: DeliveryStatus
    next_attempt_at: datetime | None
    endpoint_result: str | None = None  # success | failure | gone | None
    error: str | None = None  # why a delivery ended without a try (its endpoint is disabled)


INSERT_ATTEMPTS = BulkInsert(delivery_attempts)
_ATTEMPT_DEFAULTS = unset_columns(delivery_attempts)

# How an outcome moves its delivery on; each delivery's values come in parameters named as its
# columns. A tried delivery counts its try either way (the counter matches the attempt log); only
# one still pending takes its outcome. SET expressions all read the row as it was.
_TRIED = (
    "id",
    "status",
    "attempts",
    "next_attempt_at",
    "last_attempt_at",
    "last_status_code",
    "last_error",
    "completed_at",
)
_DEFERRED = ("id", "status", "next_attempt_at", "last_error", "completed_at")


def _tried(values: Any) -> Any:
    def if_pending(name: str) -> Any:
        return case((deliveries.c.status == const(PENDING), values[name]), else_=deliveries.c[name])

    return (
        update(deliveries)
        .where(deliveries.c.id == values["id"])
        .values(
            status=if_pending("status"),
            attempts=values["attempts"],
            next_attempt_at=if_pending("next_attempt_at"),
            claimed_until=null(),
            last_attempt_at=values["last_attempt_at"],
            last_status_code=values["last_status_code"],
            last_error=if_pending("last_error"),
            completed_at=if_pending("completed_at"),
        )
    )


def _deferred(values: Any) -> Any:
    return (
        update(deliveries)
        .where(deliveries.c.id == values["id"], deliveries.c.status == const(PENDING))
        .values(
            status=values["status"],
            next_attempt_at=values["next_attempt_at"],
            claimed_until=null(),
            last_error=values["last_error"],
            completed_at=values["completed_at"],
        )
    )


def _by_name(names: Sequence[str]) -> dict[str, Any]:
    return {name: bindparam(name, type_=deliveries.c[name].type) for name in names}


def _from_arrays(names: Sequence[str]) -> dict[str, Any]:
    """PostgreSQL: the values of a whole batch, one array per column (``UPDATE … FROM
    unnest(…)``): one statement however many rows."""
    rows = unnest(deliveries, names, name="v")
    return {name: rows.c[name] for name in names}


# SQLite: one statement run for each row (executemany); PostgreSQL: one statement for the batch.
MOVE_TRIED_ROW: Statement[Any] = Statement(_tried(_by_name(_TRIED)), name="move_tried")
MOVE_TRIED: Statement[Any] = Statement(_tried(_from_arrays(_TRIED)), name="move_tried_batch", binary=True)
MOVE_DEFERRED_ROW: Statement[Any] = Statement(_deferred(_by_name(_DEFERRED)), name="move_deferred")
MOVE_DEFERRED: Statement[Any] = Statement(_deferred(_from_arrays(_DEFERRED)), name="move_deferred_batch", binary=True)


def _move(
    conn: Conn, rows: list[dict[str, Any]], one: Statement[Any], batch: Statement[Any], names: Sequence[str]
) -> None:
    if not rows:
        return
    if isinstance(conn, Connection) and conn.dialect.name != "postgresql":
        statements.execute_many(conn, one, rows)
        return
    statements.execute(conn, batch, {name: [row[name] for row in rows] for name in names})


def record(conn: Conn, outcomes: Sequence[Outcome], now: datetime) -> None:
    """Append the attempts and move each delivery on, all in one transaction.

    Only a delivery still pending moves: one that ended while its attempt was in flight (its
    endpoint disabled by a 410 or by the merchant, which fails the endpoint's whole queue) stays
    where it ended, because the log, the dashboard and ``recover`` have already acted on that
    state. The late attempt is still logged and counted: the receiver did answer it."""
    attempts = [{**_ATTEMPT_DEFAULTS, **o.attempt} for o in outcomes if o.attempt is not None]
    statements.insert_many(conn, INSERT_ATTEMPTS, attempts)
    tried: list[dict[str, Any]] = []
    deferred: list[dict[str, Any]] = []
    for o in outcomes:
        row = {
            "id": o.job.id,
            "status": str(o.status),
            "next_attempt_at": o.next_attempt_at,
            "completed_at": now if o.status != PENDING else None,
        }
        if o.attempt is not None:
            row["attempts"] = o.job.attempts + 1
            row["last_attempt_at"] = o.attempt["started_at"]
            row["last_status_code"] = o.attempt["status_code"]
            row["last_error"] = o.attempt["error"]
            tried.append(row)
        else:
            row["last_error"] = o.error
            deferred.append(row)
    _move(conn, tried, MOVE_TRIED_ROW, MOVE_TRIED, _TRIED)
    _move(conn, deferred, MOVE_DEFERRED_ROW, MOVE_DEFERRED, _DEFERRED)
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
