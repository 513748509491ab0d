"""Webhook endpoints: every statement on the ``endpoints`` table (docs/architecture.md,
"Aggregates and their owners"), and the state each row is in (``states.EndpointState``).

No rule of the API is here (kasir.delivery.service checks what a merchant asks for), and no
other table: failing an endpoint's queue when it is disabled is the service's, which calls the
queue for it."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, RowMapping, and_, bindparam, delete, insert, null, or_, select, update

from kasir.db import statements
from kasir.db.statements import Conn, Statement, in_list
from kasir.db.tables import endpoints
from kasir.delivery.states import DISABLED_BY_MERCHANT, EndpointState


def new_endpoint_id() -> str:
    return "ep_" + secrets.token_hex(10)


def mask_secret(secret: str) -> str:
    """What a ping may show of a secret (Digiflazz's ping shows the hook's config)."""
    return secret[:8] + "***" if len(secret) > 8 else "***"


def active_secrets(
    current: str, previous: str | None, previous_expires_at: datetime | None, now: datetime
) -> list[str]:
    """The secrets a delivery is signed with: the current one, and the previous one while its
    grace period runs (an endpoint's or the callback settings')."""
    if previous and previous_expires_at is not None and previous_expires_at > now:
        return [current, previous]
    return [current]


def active_endpoint_secrets(row: RowMapping, now: datetime) -> list[str]:
    return active_secrets(row["secret"], row["previous_secret"], row["previous_secret_expires_at"], now)


# --- states -----------------------------------------------------------------------------------

_STATES: dict[EndpointState, ColumnElement[bool]] = {
    EndpointState.ACTIVE: and_(endpoints.c.enabled.is_(True), endpoints.c.failing_since.is_(None)),
    EndpointState.FAILING: and_(endpoints.c.enabled.is_(True), endpoints.c.failing_since.is_not(None)),
    EndpointState.DISABLED: and_(endpoints.c.enabled.is_(False), endpoints.c.disabled_reason == DISABLED_BY_MERCHANT),
    EndpointState.AUTO_DISABLED: and_(
        endpoints.c.enabled.is_(False),
        or_(endpoints.c.disabled_reason.is_(None), endpoints.c.disabled_reason != DISABLED_BY_MERCHANT),
    ),
}


def in_state(*states: EndpointState) -> ColumnElement[bool]:
    """The SQL of ``states.endpoint_state(row) in states``."""
    return or_(*(_STATES[state] for state in states))


# --- one merchant's endpoints -----------------------------------------------------------------


def insert_endpoint(conn: Connection, values: dict[str, Any]) -> RowMapping:
    """A new endpoint row (``values`` checked by the caller); the row as stored."""
    return conn.execute(insert(endpoints).values(**values).returning(*endpoints.c)).mappings().one()


def get_by_public_id(conn: Connection, merchant_id: int, mode: str, public_id: str) -> RowMapping | None:
    return (
        conn.execute(
            select(endpoints).where(
                endpoints.c.public_id == public_id, endpoints.c.merchant_id == merchant_id, endpoints.c.mode == mode
            )
        )
        .mappings()
        .first()
    )


def of_merchant(conn: Connection, merchant_id: int, mode: str) -> list[RowMapping]:
    return list(
        conn.execute(
            select(endpoints)
            .where(endpoints.c.merchant_id == merchant_id, endpoints.c.mode == mode)
            .order_by(endpoints.c.id)
        ).mappings()
    )


def public_id_with(conn: Connection, merchant_id: int, mode: str, *, dialect: str, description: str) -> str | None:
    """The endpoint of this merchant and mode with this dialect and description (the one a
    provider's own API call manages, e.g. Xendit's ``POST /callback_urls``)."""
    value = conn.execute(
        select(endpoints.c.public_id)
        .where(
            endpoints.c.merchant_id == merchant_id,
            endpoints.c.mode == mode,
            endpoints.c.dialect == dialect,
            endpoints.c.description == description,
        )
        .order_by(endpoints.c.id)
        .limit(1)
    ).scalar()
    return None if value is None else str(value)


def troubled(conn: Connection, merchant_id: int, mode: str) -> list[dict[str, Any]]:
    """The merchant's lasting endpoints that are failing or disabled (the overview's list;
    ``kasir listen``'s temporary endpoints are a developer's and left out)."""
    rows = conn.execute(
        select(endpoints)
        .where(
            endpoints.c.merchant_id == merchant_id,
            endpoints.c.mode == mode,
            endpoints.c.expires_at.is_(None),
            in_state(EndpointState.FAILING, EndpointState.DISABLED, EndpointState.AUTO_DISABLED),
        )
        .order_by(endpoints.c.id)
    ).mappings()
    return [dict(row) for row in rows]


# --- by row id (the worker, the service) ------------------------------------------------------


def by_ids(conn: Connection, endpoint_ids: Iterable[int]) -> dict[int, RowMapping]:
    wanted = set(endpoint_ids)
    if not wanted:
        return {}
    return {row["id"]: row for row in conn.execute(select(endpoints).where(endpoints.c.id.in_(wanted))).mappings()}


def is_enabled(conn: Connection, endpoint_id: int) -> bool:
    return bool(conn.execute(select(endpoints.c.enabled).where(endpoints.c.id == endpoint_id)).scalar())


def target_of(conn: Connection, endpoint_id: int) -> tuple[str, str]:
    """(url, dialect) of the endpoint as it is now."""
    row = conn.execute(select(endpoints.c.url, endpoints.c.dialect).where(endpoints.c.id == endpoint_id)).one()
    return str(row.url), str(row.dialect)


def public_id_of(conn: Connection, endpoint_id: int | None) -> str | None:
    if endpoint_id is None:
        return None
    value = conn.execute(select(endpoints.c.public_id).where(endpoints.c.id == endpoint_id)).scalar()
    return None if value is None else str(value)


def change(conn: Connection, endpoint_id: int, values: dict[str, Any]) -> None:
    conn.execute(update(endpoints).where(endpoints.c.id == endpoint_id).values(**values))


def delete_endpoint(conn: Connection, endpoint_id: int) -> None:
    """The row goes, and its deliveries with it (ON DELETE CASCADE)."""
    conn.execute(delete(endpoints).where(endpoints.c.id == endpoint_id))


def disable(conn: Connection, endpoint_id: int, reason: str, now: datetime) -> RowMapping | None:
    """Kasir turns an enabled endpoint off (``AUTO_DISABLED``); the row as it is now, or None
    when it was off already. Guarded on ``enabled``, so of two workers disabling the same
    endpoint one gets the row (and tells the merchant)."""
    return (
        conn.execute(
            update(endpoints)
            .where(endpoints.c.id == endpoint_id, endpoints.c.enabled.is_(True))
            .values(enabled=False, disabled_reason=reason, disabled_at=now, updated_at=now)
            .returning(*endpoints.c)
        )
        .mappings()
        .first()
    )


# --- health: ACTIVE ⇄ FAILING, and what has failed too long ----------------------------------


# What one batch of recorded attempts says of their endpoints.
_SUCCEEDED: Statement[Any] = Statement(
    update(endpoints)
    .where(in_list(endpoints.c.id, "ids"))
    .values(last_success_at=bindparam("now", type_=endpoints.c.last_success_at.type), failing_since=null()),
    name="endpoints_succeeded",
)
_FAILED: Statement[Any] = Statement(
    update(endpoints)
    .where(in_list(endpoints.c.id, "ids"), endpoints.c.failing_since.is_(None))
    .values(failing_since=bindparam("now", type_=endpoints.c.failing_since.type)),
    name="endpoints_failed",
)
_FAILING_SINCE: Statement[dict[str, int]] = Statement(
    select(endpoints.c.id).where(
        in_list(endpoints.c.id, "ids"),
        in_state(EndpointState.FAILING),
        endpoints.c.failing_since <= bindparam("before", type_=endpoints.c.failing_since.type),
    ),
    name="endpoints_failing_since",
)


def note_results(conn: Conn, succeeded: set[int], failed: set[int], now: datetime) -> None:
    """A success makes an endpoint ``ACTIVE``; a failure (and no success in the same batch)
    makes it ``FAILING`` from now, unless it was failing already."""
    if succeeded:
        statements.execute(conn, _SUCCEEDED, {"ids": sorted(succeeded), "now": now})
    failed = failed - succeeded
    if failed:
        statements.execute(conn, _FAILED, {"ids": sorted(failed), "now": now})


def failing_since_before(conn: Conn, endpoint_ids: set[int], before: datetime) -> list[int]:
    """Of ``endpoint_ids``, those failing since ``before`` or earlier (the worker disables them)."""
    if not endpoint_ids:
        return []
    return statements.scalars(conn, _FAILING_SINCE, {"ids": sorted(endpoint_ids), "before": before})


def lasting_failing_before(conn: Connection, before: datetime) -> list[RowMapping]:
    """Every merchant's lasting endpoints failing since ``before`` or earlier, oldest endpoint
    first (the sweeper's callbacks-failing check; temporary endpoints are a developer's)."""
    return list(
        conn.execute(
            select(endpoints)
            .where(
                in_state(EndpointState.FAILING),
                endpoints.c.failing_since <= before,
                endpoints.c.expires_at.is_(None),
            )
            .order_by(endpoints.c.id)
        ).mappings()
    )
