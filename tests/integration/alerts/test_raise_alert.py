"""``raise_alert`` on SQLite and PostgreSQL (docs/alerts.md): one alert, one event and one
delivery per recipient, in the caller's transaction; at most one per (mode, cause, subject) an
hour, also when two transactions raise it at once; test and live mode apart; where the messages
go (a WhatsApp number, the owners' sign-in addresses by default, a list, or no email)."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from kasir.alerts import recipients
from kasir.alerts.service import raise_alert
from kasir.clock import utcnow
from kasir.db.engine import Database
from kasir.db.tables import events, owner_alerts
from kasir.merchants.service import NewMerchant
from tests.conftest import writes_nothing
from tests.integration.alerts.conftest import OWNER_EMAIL, OWNER_PHONE, add_user, alert_deliveries, alert_rows

SUBJECT = "src_00112233445566778899aabb"


def alert(db: Database, merchant: NewMerchant, now: datetime, **changes: Any) -> bool:
    values: dict[str, Any] = {
        "merchant_id": merchant.id,
        "mode": "test",
        "cause": "source_silent",
        "subject": SUBJECT,
        "summary": "Sumber «HP kasir» tidak melapor.",
        "page": f"/dashboard/sources/{SUBJECT}",
        "now": now,
        **changes,
    }
    return bool(db.write_sync(lambda conn: raise_alert(conn, **values)))


def test_one_alert_an_hour_per_mode_cause_and_subject(db: Database, merchant: NewMerchant, owner: int) -> None:
    now = utcnow()
    assert alert(db, merchant, now) is True
    assert alert(db, merchant, now + timedelta(minutes=59, seconds=59)) is False
    # Another subject, another cause, the other mode: each its own alert.
    assert alert(db, merchant, now + timedelta(minutes=1), subject="src_other") is True
    assert alert(db, merchant, now + timedelta(minutes=1), cause="endpoint_disabled") is True
    assert alert(db, merchant, now + timedelta(minutes=1), mode="live") is True
    assert alert(db, merchant, now + timedelta(minutes=2), mode="live") is False
    # An hour after the first: again.
    assert alert(db, merchant, now + timedelta(hours=1)) is True
    assert [(a["mode"], a["cause"], a["subject"]) for a in alert_rows(db)] == [
        ("test", "source_silent", SUBJECT),
        ("test", "source_silent", "src_other"),
        ("test", "endpoint_disabled", SUBJECT),
        ("live", "source_silent", SUBJECT),
        ("test", "source_silent", SUBJECT),
    ]
    # Each alert's messages: the owner's WhatsApp and sign-in address, in the alert's mode.
    sent = alert_deliveries(db)
    assert len(sent) == 10
    assert {d["url"] for d in sent} == {f"whatsapp:{OWNER_PHONE}", f"email:{OWNER_EMAIL}"}
    assert [d["mode"] for d in sent].count("live") == 2


def test_a_refused_repeat_writes_nothing(db: Database, merchant: NewMerchant, owner: int) -> None:
    now = utcnow()
    alert(db, merchant, now)
    with writes_nothing(db):
        assert alert(db, merchant, now + timedelta(minutes=5)) is False


def test_the_alert_event_carries_what_the_message_needs_and_goes_to_no_endpoint(
    db: Database, merchant: NewMerchant, owner: int
) -> None:
    from tests.integration.delivery.conftest import add_endpoint

    add_endpoint(db, merchant, "http://127.0.0.1:9/hook")  # takes every event type there is
    now = utcnow()
    alert(db, merchant, now)
    [row] = alert_rows(db)
    kind, payload = db.read_sync(
        lambda conn: conn.execute(
            sa.select(events.c.type, events.c.payload).where(events.c.id == row["event_id"])
        ).one()
    )
    assert kind == "alert.source_silent"
    body = json.loads(payload)
    assert body["alert_id"] == row["public_id"]
    assert body["merchant_name"] == "Toko Satu"
    assert body["page"] == f"/dashboard/sources/{SUBJECT}"
    assert body["mode"] == "test"
    # Only the owner's two messages hang on it: the merchant's endpoint gets no alert event.
    assert {d["dialect"] for d in alert_deliveries(db)} == {"notifier"}
    assert len(alert_deliveries(db)) == 2


def test_without_any_recipient_the_alert_is_kept_for_the_dashboard(db: Database, merchant: NewMerchant) -> None:
    assert alert(db, merchant, utcnow()) is True  # no owner, no WhatsApp number
    assert len(alert_rows(db)) == 1
    assert alert_deliveries(db) == []


@pytest.mark.parametrize(
    ("whatsapp", "emails", "expected"),
    [
        (None, None, {"email:pemilik@toko-satu.test", "email:kedua@toko-satu.test"}),
        ("6281211112222", [], {"whatsapp:6281211112222"}),
        (None, ["ops@toko.id", "admin@toko.id"], {"email:ops@toko.id", "email:admin@toko.id"}),
    ],
    ids=["owners-by-default", "whatsapp-only", "a-list"],
)
def test_where_the_messages_go(
    db: Database,
    merchant: NewMerchant,
    other_merchant: NewMerchant,
    whatsapp: str | None,
    emails: list[str] | None,
    expected: set[str],
) -> None:
    now = utcnow()

    def team(conn: sa.Connection) -> None:
        add_user(conn, merchant.id, OWNER_EMAIL)
        add_user(conn, merchant.id, "kedua@toko-satu.test")
        add_user(conn, merchant.id, "dev@toko-satu.test", role="developer")
        add_user(conn, merchant.id, "kasir@toko-satu.test", role="cashier")
        add_user(conn, other_merchant.id, "pemilik@toko-dua.test")
        recipients.save_recipients(conn, merchant.id, whatsapp=whatsapp, emails=emails, now=now)

    db.write_sync(team)
    alert(db, merchant, now)
    assert {d["url"] for d in alert_deliveries(db)} == expected


def test_two_transactions_raising_the_same_alert_at_once_record_it_once(
    database_url: str, db: Database, merchant: NewMerchant, owner: int
) -> None:
    """Two nodes' sweeps, say: both raise in their own transaction; one alert, one set of messages."""
    from kasir.db.engine import build_engine

    other = Database(build_engine(database_url))
    now = utcnow()
    # PostgreSQL: both transactions read before either writes. SQLite takes its write lock at
    # BEGIN, so there the second simply waits for the first, which is the point of its design.
    barrier = threading.Barrier(2 if not db.is_sqlite else 1, timeout=10)
    results: list[bool] = []
    errors: list[BaseException] = []

    def race(database: Database) -> None:
        def work(conn: sa.Connection) -> bool:
            # Both read the cooldown as free before either writes.
            conn.execute(sa.select(owner_alerts.c.id)).all()
            barrier.wait()
            return raise_alert(
                conn,
                merchant_id=merchant.id,
                mode="test",
                cause="source_silent",
                subject=SUBJECT,
                summary="x",
                page="/dashboard/sources",
                now=now,
            )

        try:
            results.append(bool(database.write_sync(work)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=race, args=(d,)) for d in (db, other)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        other.dispose()
    assert not errors, errors
    assert sorted(results) == [False, True]
    assert len(alert_rows(db)) == 1
    assert len(alert_deliveries(db)) == 2


def test_an_unknown_cause_or_a_page_outside_the_dashboard_is_refused(db: Database, merchant: NewMerchant) -> None:
    with writes_nothing(db):
        with pytest.raises(ValueError, match="unknown alert cause"):
            alert(db, merchant, utcnow(), cause="disk_full")
        with pytest.raises(ValueError, match="under /dashboard"):
            alert(db, merchant, utcnow(), page="https://evil.example/")
        with pytest.raises(ValueError, match="unknown mode"):
            alert(db, merchant, utcnow(), mode="prod")
