"""Claiming a payment link's use (kasir.links.service.claim), on SQLite and PostgreSQL.

Covered: a claim makes an ordinary payment through create-payment (unique code, payment.created
event naming the link); a use is held by a pending payment not past its expiry and by a paid one,
and freed by an expired or cancelled one (also one past its expiry that nobody has expired yet);
a capped link refuses the buyer past its cap and writes nothing; buyers racing for the last uses
in real threads get exactly as many payments as the cap allows, on both databases, even when each
transaction lingers after its claim; the same form sent twice is one payment; the owner is alerted
once when a reusable link's last use is taken, and never for a single-use link.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from kasir.clock import utcnow
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.db.tables import events, owner_alerts, payments
from kasir.errors import Conflict, KasirError
from kasir.links import service
from kasir.links.service import Buyer, LinkGone
from kasir.merchants.service import NewMerchant, Principal, authenticate
from kasir.payments import sandbox
from kasir.payments.service import cancel_payment
from kasir.payments.views import PaymentRow
from tests.conftest import row_counts


def caller(db: Database, merchant: NewMerchant) -> Principal:
    return db.read_sync(lambda conn: authenticate(conn, merchant.test_api_key))


def make_link(db: Database, merchant: NewMerchant, settings: Settings, **params: Any) -> dict[str, Any]:
    who = caller(db, merchant)
    fields = {"title": "Kopi Gayo 250 g", "amount": 85_000, **params}
    return db.write_sync(lambda conn: service.create_link(conn, who, fields, settings, utcnow()))


def claim(db: Database, link: dict[str, Any], settings: Settings, name: str = "Budi", **kw: Any) -> PaymentRow:
    at = kw.pop("at", None) or utcnow()
    buyer = Buyer(name=name, amount=kw.pop("amount", None), phone=kw.pop("phone", None))
    return db.write_sync(lambda conn: service.claim(conn, link["slug"], buyer, settings, at, **kw))


def held(db: Database, link: dict[str, Any], at: Any = None) -> int:
    now = at or utcnow()
    return db.read_sync(lambda conn: service.usage_of(conn, [link["public_id"]], now)[link["public_id"]].held)


def alerts_of(db: Database) -> list[dict[str, Any]]:
    return db.read_sync(
        lambda conn: [dict(r) for r in conn.execute(sa.select(owner_alerts).order_by(owner_alerts.c.id)).mappings()]
    )


def test_a_claim_is_an_ordinary_payment_naming_its_link(
    db: Database, merchant: NewMerchant, settings: Settings
) -> None:
    link = make_link(db, merchant, settings, redirect_url="https://toko.test/terima-kasih")
    row = claim(db, link, settings, name="Budi Santoso", phone="6281234567890")
    assert row["link_id"] == link["public_id"]
    assert (row["status"], row["amount"], row["payment_method"]) == ("pending", 85_000, "qris")
    assert row["final_amount"] == 85_000 + row["unique_code"]
    assert 1 <= row["unique_code"] <= 999
    assert (row["description"], row["customer_name"], row["customer_phone"]) == (
        "Kopi Gayo 250 g",
        "Budi Santoso",
        "6281234567890",
    )
    assert row["redirect_url"] == "https://toko.test/terima-kasih"
    payload = db.read_sync(
        lambda conn: conn.execute(sa.select(events.c.payload).where(events.c.type == "payment.created")).scalar_one()
    )
    assert json.loads(payload)["link_id"] == link["public_id"]
    stored = db.read_sync(
        lambda conn: conn.execute(sa.select(payments.c.link_id).where(payments.c.id == row["id"])).scalar_one()
    )
    assert stored == link["public_id"]


def test_an_open_amount_is_the_buyers_within_the_range(db: Database, merchant: NewMerchant, settings: Settings) -> None:
    link = make_link(db, merchant, settings, amount=None, amount_min=10_000, amount_max=100_000)
    assert claim(db, link, settings, amount=25_000)["amount"] == 25_000
    before = row_counts(db)
    for amount in (9_999, 100_001, None):
        with pytest.raises(KasirError) as refused:
            claim(db, link, settings, amount=amount)
        assert refused.value.status_code == 400
        assert refused.value.field == "amount"
    assert row_counts(db) == before


def test_pending_and_paid_hold_a_use_expired_and_cancelled_free_it(
    db: Database, merchant: NewMerchant, settings: Settings
) -> None:
    link = make_link(db, merchant, settings, max_paid_uses=2)
    first = claim(db, link, settings)
    second = claim(db, link, settings)
    assert held(db, link) == 2
    before = row_counts(db)
    with pytest.raises(Conflict) as used_up:
        claim(db, link, settings)
    assert used_up.value.code == "link_used_up"
    assert row_counts(db) == before  # nothing written, not even an event

    # Paid: still held. Cancelled: freed, and a new buyer gets it.
    db.write_sync(lambda conn: sandbox.pay(conn, first, settings, utcnow()))
    who = caller(db, merchant)
    db.write_sync(lambda conn: cancel_payment(conn, who, second["invoice_id"], settings.public_url, utcnow()))
    assert held(db, link) == 1
    third = claim(db, link, settings)
    with pytest.raises(Conflict):
        claim(db, link, settings)

    # Past its expiry the pending payment holds nothing, though nobody has expired it yet.
    later = third["expires_at"] + timedelta(seconds=1)
    assert (
        db.read_sync(
            lambda conn: conn.execute(sa.select(payments.c.status).where(payments.c.id == third["id"])).scalar_one()
        )
        == "pending"
    )
    assert held(db, link, later) == 1
    assert claim(db, link, settings, at=later)["link_id"] == link["public_id"]


def test_a_single_use_link_takes_one_buyer(db: Database, merchant: NewMerchant, settings: Settings) -> None:
    link = make_link(db, merchant, settings, reusable=False)
    claim(db, link, settings)
    with pytest.raises(Conflict) as used_up:
        claim(db, link, settings, name="Ani")
    assert used_up.value.code == "link_used_up"


def test_an_inactive_or_expired_link_takes_nobody(db: Database, merchant: NewMerchant, settings: Settings) -> None:
    who = caller(db, merchant)
    soon = utcnow() + timedelta(minutes=5)
    expiring = make_link(db, merchant, settings, expires_at=soon.isoformat())
    inactive = make_link(db, merchant, settings)
    db.write_sync(lambda conn: service.deactivate_link(conn, who, inactive["public_id"], utcnow()))
    before = row_counts(db)
    with pytest.raises(LinkGone) as gone:
        claim(db, inactive, settings)
    assert (gone.value.status_code, gone.value.code) == (410, "link_inactive")
    with pytest.raises(LinkGone) as gone:
        claim(db, expiring, settings, at=soon)
    assert gone.value.code == "link_expired"
    assert row_counts(db) == before
    assert claim(db, expiring, settings, at=soon - timedelta(seconds=1))["link_id"] == expiring["public_id"]


def test_the_same_form_sent_twice_is_one_payment(db: Database, merchant: NewMerchant, settings: Settings) -> None:
    link = make_link(db, merchant, settings, reusable=False)
    first = claim(db, link, settings, once="nonce-a")
    # The buyer tapped twice: the second send answers the first payment, the link used up by it.
    assert claim(db, link, settings, once="nonce-a")["invoice_id"] == first["invoice_id"]
    assert held(db, link) == 1
    with pytest.raises(Conflict):
        claim(db, link, settings, once="nonce-b")


def test_the_owner_hears_once_when_a_reusable_links_last_use_goes(
    db: Database, merchant: NewMerchant, settings: Settings
) -> None:
    single = make_link(db, merchant, settings, reusable=False)
    claim(db, single, settings)
    assert alerts_of(db) == []  # a single-use link used is what it is for

    capped = make_link(db, merchant, settings, title="Kopi Gayo edisi terbatas", max_paid_uses=2)
    first = claim(db, capped, settings)
    assert alerts_of(db) == []
    claim(db, capped, settings)
    [alert] = alerts_of(db)
    assert (alert["cause"], alert["subject"], alert["mode"]) == ("link_exhausted", capped["public_id"], "test")
    assert alert["page"] == f"/dashboard/links/{capped['public_id']}"
    assert "Kopi Gayo edisi terbatas" in alert["summary"]

    # A use freed and taken again within the hour: no second alert.
    who = caller(db, merchant)
    db.write_sync(lambda conn: cancel_payment(conn, who, first["invoice_id"], settings.public_url, utcnow()))
    claim(db, capped, settings)
    assert len(alerts_of(db)) == 1


# --- the race ------------------------------------------------------------------------------------


def race(db: Database, link: dict[str, Any], settings: Settings, buyers: int, linger: float) -> list[Any]:
    """``buyers`` threads claim at once, each in its own transaction that stays open ``linger``
    seconds after its claim (so an unlocked count would see none of the others' payments)."""
    start = threading.Barrier(buyers)
    outcomes: list[Any] = [None] * buyers

    def buyer(number: int) -> None:
        def work(conn: sa.Connection) -> PaymentRow:
            row = service.claim(conn, link["slug"], Buyer(name=f"Pembeli {number}"), settings, utcnow())
            time.sleep(linger)
            return row

        start.wait()
        try:
            outcomes[number] = db.write_sync(work)
        except KasirError as exc:
            outcomes[number] = exc

    threads = [threading.Thread(target=buyer, args=(n,)) for n in range(buyers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


@pytest.mark.parametrize("cap", [1, 3])
def test_buyers_racing_for_the_last_uses_get_only_what_the_cap_allows(
    db: Database, merchant: NewMerchant, settings: Settings, cap: int
) -> None:
    link = make_link(db, merchant, settings, max_paid_uses=cap)
    outcomes = race(db, link, settings, buyers=8, linger=0.05)
    made = [o for o in outcomes if isinstance(o, dict)]
    refused = [o for o in outcomes if isinstance(o, KasirError)]
    assert len(made) == cap, outcomes
    assert len(refused) == 8 - cap, outcomes
    assert {exc.code for exc in refused} == {"link_used_up"}, outcomes
    assert len({row["invoice_id"] for row in made}) == cap
    assert len({row["final_amount"] for row in made}) == cap  # and each its own unique code
    assert held(db, link) == cap
    stored = db.read_sync(
        lambda conn: conn.execute(
            sa.select(sa.func.count()).select_from(payments).where(payments.c.link_id == link["public_id"])
        ).scalar_one()
    )
    assert stored == cap
    assert len(alerts_of(db)) == 1  # the last use, taken once


def test_racing_for_the_last_use_of_a_link_with_uses_taken(
    db: Database, merchant: NewMerchant, settings: Settings
) -> None:
    link = make_link(db, merchant, settings, max_paid_uses=4)
    for name in ("Ani", "Budi", "Citra"):
        claim(db, link, settings, name=name)
    outcomes = race(db, link, settings, buyers=6, linger=0.05)
    assert sum(isinstance(o, dict) for o in outcomes) == 1, outcomes
    assert held(db, link) == 4
