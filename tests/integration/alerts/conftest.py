"""Fixtures for the owner-alert tests: a Cloud-API-shaped WhatsApp server and a real SMTP server
on loopback ports, settings that send to both (a one-second retry schedule), an owner whose
sign-in address gets the emails and whose WhatsApp number is set, and the real delivery worker."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa

from kasir.alerts import recipients
from kasir.clock import utcnow
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.db.tables import dashboard_users, deliveries, delivery_attempts, owner_alerts
from kasir.merchants.service import NewMerchant, authenticate
from kasir.sources import health, registry
from tests.conftest import free_port
from tests.mailbox import Mailbox
from tests.receivers import Receiver, Reply
from tests.workers import RunningWorker

StartWorker = Callable[[Settings], RunningWorker]

PHONE_NUMBER_ID = "106540352242922"
TOKEN = "EAAGm0PX4ZCpsBAKasirAlertToken7c1dZBq9ZAxQ"
OWNER_EMAIL = "pemilik@toko-satu.test"
OWNER_PHONE = "6281298765432"  # "0812-9876-5432"
SMTP_USER = "kasir-alerts"
SMTP_PASSWORD = "smtp-Rahasia-pw-7731"
SENDER = "Kasir <alerts@kasir.test>"
GOPAY = {"com.gojek.gopaymerchant": "gopay_qris"}


def cloud_success() -> Reply:
    body = {
        "messaging_product": "whatsapp",
        "contacts": [{"input": OWNER_PHONE, "wa_id": OWNER_PHONE}],
        "messages": [{"id": "wamid.HBgLNjI4MTI5ODc2NTQzMhUCABIYFjNFQjBGQjc4QkRBMDM2RkQ4MjM2AA=="}],
    }
    return Reply(200, json.dumps(body).encode())


@pytest.fixture
def cloud_port() -> int:
    return free_port()


@pytest.fixture
def cloud(cloud_port: int) -> Iterator[Receiver]:
    """The WhatsApp Cloud API at ``cloud_port``, answering every message with success."""
    with Receiver(lambda _n, _r: cloud_success(), port=cloud_port) as api:
        yield api


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """A real SMTP server that wants AUTH (over plain SMTP on loopback) and accepts every message."""
    with Mailbox(login=(SMTP_USER, SMTP_PASSWORD)) as box:
        yield box


def alert_settings(settings: Settings, cloud_port: int, smtp_port: int, **changes: Any) -> Settings:
    """The suite's settings sending WhatsApp to the local Cloud API and email to the local SMTP
    server (validated: built, not copied)."""
    return Settings(
        **{
            **settings.model_dump(),
            "notifier": "whatsapp",
            "whatsapp_api_url": f"http://127.0.0.1:{cloud_port}",
            "whatsapp_phone_number_id": PHONE_NUMBER_ID,
            "whatsapp_token": TOKEN,
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_port,
            "smtp_security": "none",
            "smtp_username": SMTP_USER,
            "smtp_password": SMTP_PASSWORD,
            "smtp_from": SENDER,
            "delivery_retry_schedule": [1, 1, 1],
            **changes,
        }
    )


def add_user(conn: sa.Connection, merchant_id: int, email: str, role: str = "owner") -> int:
    """A dashboard user who never signs in in these tests: written straight to the table (an
    Argon2 hash costs a tenth of a second, and only the address and the role matter here)."""
    now = utcnow()
    return int(
        conn.execute(
            sa.insert(dashboard_users)
            .values(
                merchant_id=merchant_id,
                email=email,
                password_hash="$argon2id$unused",
                role=role,
                must_change_password=False,
                created_at=now,
                password_changed_at=now,
            )
            .returning(dashboard_users.c.id)
        ).scalar_one()
    )


@pytest.fixture
def owner(db: Database, merchant: NewMerchant) -> int:
    """The merchant's owner (its user id), whose sign-in address gets the emails (no list of
    the owner's own), with a WhatsApp number for the alerts."""

    def write(conn: sa.Connection) -> int:
        user_id = add_user(conn, merchant.id, OWNER_EMAIL)
        recipients.save_recipients(conn, merchant.id, whatsapp=OWNER_PHONE, emails=None, now=utcnow())
        return user_id

    return db.write_sync(write)


def live_source(db: Database, merchant: NewMerchant, seen_at: datetime, *, mode: str = "test") -> dict[str, Any]:
    """A phone source that last spoke at ``seen_at``."""

    def write(conn: sa.Connection) -> dict[str, Any]:
        caller = authenticate(conn, merchant.test_api_key if mode == "test" else merchant.live_api_key)
        row, _token = registry.create(conn, caller, "HP kasir depan", GOPAY, seen_at)
        health.sign_of_life(conn, row, seen_at)
        return dict(row)

    return db.write_sync(write)


def sweep_sources(db: Database, settings: Settings, now: datetime) -> int:
    """One health sweep, on the clock the test gives it."""
    return db.write_sync(lambda conn: health.sweep(conn, now, settings.source_silent_after))


def alert_rows(db: Database) -> list[dict[str, Any]]:
    return db.read_sync(
        lambda conn: [dict(r) for r in conn.execute(sa.select(owner_alerts).order_by(owner_alerts.c.id)).mappings()]
    )


def alert_deliveries(db: Database) -> list[dict[str, Any]]:
    """The deliveries of every alert, oldest first."""
    return db.read_sync(
        lambda conn: [
            dict(r)
            for r in conn.execute(
                sa.select(deliveries)
                .join(owner_alerts, owner_alerts.c.event_id == deliveries.c.event_id)
                .order_by(deliveries.c.id)
            ).mappings()
        ]
    )


def attempts_of(db: Database, delivery_id: int) -> list[dict[str, Any]]:
    return db.read_sync(
        lambda conn: [
            dict(r)
            for r in conn.execute(
                sa.select(delivery_attempts)
                .where(delivery_attempts.c.delivery_id == delivery_id)
                .order_by(delivery_attempts.c.attempt)
            ).mappings()
        ]
    )


def all_sent(db: Database, count: int) -> Callable[[], bool]:
    """``count`` alert messages exist and none is pending."""

    def check() -> bool:
        found = alert_deliveries(db)
        return len(found) == count and all(d["status"] != "pending" for d in found)

    return check
