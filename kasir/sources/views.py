"""A payment source as it is shown to its merchant, with what to paste into each forwarder shops
already run (QRIS Hook, MacroDroid/Tasker/Automate, Moota): the API's source view and the
dashboard's source pages are this one view (docs/sources.md). And the reads of the sources'
notifications that other pages show with the source's name (a payment's credit, the
reconciliation page's review list), scoped to one merchant in one mode."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from kasir.db.tables import payment_sources, source_notifications
from kasir.merchants.service import Principal
from kasir.sources import automation, registry

SOURCES_PREFIX = "/v1/sources"


def source_view(row: Mapping[str, Any], public_url: str, now: datetime, token: str | None = None) -> dict[str, Any]:
    """``registry.view`` plus the forwarders' instructions; ``token`` only when it was just made
    (created or rotated): then the token, the pairing URL, and the instructions with it in place."""
    shown = registry.view(row, public_url, now, token)
    base = f"{public_url}{SOURCES_PREFIX}/{row['public_id']}"
    shown["automation"] = {
        "url": f"{base}/automation",
        "content_type": automation.CONTENT_TYPE,
        "body": automation.template(token or "<token>", row["token_hash"]),
    }
    shown["qrishook"] = {"url": f"{base}/qrishook", "secret": "the token" if token is None else token}
    shown["moota"] = {
        "url": f"{base}/moota",
        "secret_token": "the token" if token is None else token,
        "maps": f'apps["{registry.MOOTA_APP}"]',
    }
    return shown


# A notification with the public id and the name of the source that sent it.
_NAMED = select(
    source_notifications,
    payment_sources.c.public_id.label("source_public_id"),
    payment_sources.c.name.label("source_name"),
).join(payment_sources, payment_sources.c.id == source_notifications.c.source_id)


def _scope(principal: Principal) -> tuple[Any, ...]:
    return (
        source_notifications.c.merchant_id == principal.merchant_id,
        source_notifications.c.mode == principal.mode,
    )


def notification_of_credit(conn: Connection, principal: Principal, mutation_id: int) -> dict[str, Any] | None:
    """The phone notification a credit (a mutation's row id) came from, with its source's name."""
    row = (
        conn.execute(
            _NAMED.where(source_notifications.c.mutation_id == mutation_id, *_scope(principal))
            .order_by(source_notifications.c.id)
            .limit(1)
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def notifications_with_outcomes(
    conn: Connection, principal: Principal, outcomes: Sequence[str], *, page: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """A page of the principal's notifications, all sources together, whose outcome is one of
    ``outcomes``, newest first, each with its source's name; and how many there are in all."""
    where = (*_scope(principal), source_notifications.c.outcome.in_(outcomes))
    total = int(conn.execute(select(func.count()).select_from(source_notifications).where(*where)).scalar_one())
    rows = conn.execute(
        _NAMED.where(*where).order_by(source_notifications.c.id.desc()).limit(limit).offset((page - 1) * limit)
    ).mappings()
    return [dict(row) for row in rows], total
