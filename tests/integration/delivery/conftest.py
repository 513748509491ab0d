"""Fixtures for delivery tests: a running worker, endpoints and callback settings."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from kasir.clock import utcnow
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.db.tables import deliveries, endpoints, webhook_settings
from kasir.delivery.endpoints import new_endpoint_id
from kasir.merchants.keys import new_webhook_secret
from kasir.merchants.service import NewMerchant, authenticate
from kasir.payments.service import NewPayment, create_payment


def set_callback(
    db: Database, merchant: NewMerchant, url: str, dialect: str = "bayargg", events: list[str] | None = None
) -> str:
    """The seed-004 way: a default callback URL in the webhook settings. Returns the secret."""

    def write(conn: sa.Connection) -> str:
        conn.execute(
            sa.update(webhook_settings)
            .where(webhook_settings.c.merchant_id == merchant.id, webhook_settings.c.mode == "test")
            .values(
                default_callback_url=url,
                dialect=dialect,
                event_types=json.dumps(
                    events or ["payment.created", "payment.paid", "payment.expired", "payment.cancelled"]
                ),
            )
        )
        return str(
            conn.execute(
                sa.select(webhook_settings.c.secret).where(
                    webhook_settings.c.merchant_id == merchant.id, webhook_settings.c.mode == "test"
                )
            ).scalar_one()
        )

    return db.write_sync(write)


def add_endpoint(db: Database, merchant: NewMerchant, url: str, **options: Any) -> dict[str, Any]:
    now = utcnow()
    values = {
        "public_id": new_endpoint_id(),
        "merchant_id": merchant.id,
        "mode": "test",
        "url": url,
        "dialect": options.pop("dialect", "standard"),
        "secret": new_webhook_secret(),
        "created_at": now,
        "updated_at": now,
        **options,
    }
    for key in ("event_types", "headers"):
        if key in values and not isinstance(values[key], str):
            values[key] = json.dumps(values[key])
    row_id = db.write_sync(
        lambda conn: conn.execute(sa.insert(endpoints).values(**values).returning(endpoints.c.id)).scalar_one()
    )
    return {**values, "id": row_id}


def make_payments(
    db: Database, merchant: NewMerchant, settings: Settings, count: int, amount: int = 10000
) -> list[str]:
    caller = db.read_sync(lambda conn: authenticate(conn, merchant.test_api_key))

    def write(conn: sa.Connection) -> list[str]:
        return [
            str(create_payment(conn, caller, NewPayment(amount=amount + i), settings, utcnow())["invoice_id"])
            for i in range(count)
        ]

    return db.write_sync(write)


def delivery_rows(db: Database) -> Sequence[sa.Row[Any]]:
    return db.read_sync(lambda conn: conn.execute(sa.select(deliveries).order_by(deliveries.c.id)).all())
