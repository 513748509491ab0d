"""A merchant's callback settings (seed 004's Pengaturan → Webhook): every statement on the
``webhook_settings`` table, one row per merchant and mode (docs/architecture.md, "Aggregates and
their owners"). The rules of what may be stored are kasir.delivery.service's."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, insert, select, update

from kasir.db.tables import webhook_settings


def create(conn: Connection, merchant_id: int, secrets_by_mode: dict[str, str], now: datetime) -> None:
    """A new merchant's callback settings, one row per mode with its webhook secret and no
    callback URL yet (kasir.merchants.service.merchant_created)."""
    for mode, secret in secrets_by_mode.items():
        conn.execute(insert(webhook_settings).values(merchant_id=merchant_id, mode=mode, secret=secret, updated_at=now))


def get(conn: Connection, merchant_id: int, mode: str) -> RowMapping | None:
    return (
        conn.execute(
            select(webhook_settings).where(
                webhook_settings.c.merchant_id == merchant_id, webhook_settings.c.mode == mode
            )
        )
        .mappings()
        .first()
    )


def change(conn: Connection, merchant_id: int, mode: str, values: dict[str, Any]) -> None:
    conn.execute(
        update(webhook_settings)
        .where(webhook_settings.c.merchant_id == merchant_id, webhook_settings.c.mode == mode)
        .values(**values)
    )


def of_merchants(conn: Connection, merchant_ids: Iterable[int]) -> dict[tuple[int, str], RowMapping]:
    """Both modes' settings of each merchant, by (merchant id, mode)."""
    wanted = set(merchant_ids)
    if not wanted:
        return {}
    return {
        (row["merchant_id"], row["mode"]): row
        for row in conn.execute(select(webhook_settings).where(webhook_settings.c.merchant_id.in_(wanted))).mappings()
    }
