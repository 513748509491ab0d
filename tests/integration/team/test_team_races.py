"""The team's rules when two people act at once, on both databases (kasir.team.users,
kasir.team.invitations).

Covered: two owners demoting (or removing) each other at the same moment leave the merchant one
owner, never none: the second waits for the first's lock and then finds it is no longer an owner;
two browsers accepting the same invitation at once make one user, and the other gets the invalid
link, not a database error.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from kasir.clock import utcnow
from kasir.db.engine import Database
from kasir.db.tables import dashboard_users
from kasir.errors import Forbidden, KasirError
from kasir.merchants.service import NewMerchant
from kasir.team import invitations, sessions, users
from tests.dashboard_helpers import PASSWORD


def two_owners(db: Database, merchant: NewMerchant) -> tuple[int, int]:
    now = utcnow()

    def make(conn: sa.Connection) -> tuple[int, int]:
        first = users.create_user(conn, merchant.username, "satu@toko.test", now, password=PASSWORD)
        second = users.create_user(conn, merchant.username, "dua@toko.test", now, password=PASSWORD)
        return first.id, second.id

    return db.write_sync(make)


def owners(db: Database, merchant: NewMerchant) -> int:
    return db.read_sync(
        lambda conn: int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(dashboard_users)
                .where(dashboard_users.c.merchant_id == merchant.id, dashboard_users.c.role == "owner")
            ).scalar_one()
        )
    )


def race(db: Database, first: Callable[[sa.Connection], Any], second: Callable[[sa.Connection], Any]) -> list[Any]:
    """``first`` runs and holds its transaction open while ``second`` starts; then ``first``
    commits. What each ended with (its result or its exception)."""
    outcomes: list[Any] = [None, None]
    holding = threading.Event()
    release = threading.Event()

    def run_first() -> None:
        def hold(conn: sa.Connection) -> Any:
            result = first(conn)
            holding.set()
            release.wait(10)
            return result

        try:
            outcomes[0] = db.write_sync(hold)
        except KasirError as exc:
            outcomes[0] = exc

    def run_second() -> None:
        try:
            outcomes[1] = db.write_sync(second)
        except KasirError as exc:
            outcomes[1] = exc

    one = threading.Thread(target=run_first)
    one.start()
    assert holding.wait(10)
    two = threading.Thread(target=run_second)
    two.start()
    time.sleep(0.5)  # the second is now waiting for the first's lock (or would have gone ahead)
    release.set()
    one.join(20)
    two.join(20)
    return outcomes


@pytest.mark.parametrize("action", ["demote", "remove"])
def test_two_owners_acting_on_each_other_leave_one_owner(db: Database, merchant: NewMerchant, action: str) -> None:
    first, second = two_owners(db, merchant)

    def on(actor: int, target: int) -> Callable[[sa.Connection], Any]:
        if action == "demote":
            return lambda conn: users.change_role(conn, merchant.id, actor, target, "developer")
        return lambda conn: users.remove_user(conn, merchant.id, actor, target)

    done, refused = race(db, on(first, second), on(second, first))
    assert isinstance(done, dict)
    assert done["id"] == second
    assert isinstance(refused, Forbidden)
    assert owners(db, merchant) == 1


def test_the_same_invitation_accepted_twice_at_once_makes_one_user(db: Database, merchant: NewMerchant) -> None:
    now = utcnow()

    def invite(conn: sa.Connection) -> str:
        owner = users.create_user(conn, merchant.username, "owner@toko.test", now, password=PASSWORD)
        token = sessions.start(conn, owner.id, now, 3600, None)
        found = sessions.find(conn, token, now, 3600)
        assert found is not None
        return invitations.invite(conn, found[0], "kasir@toko.test", "cashier", now, 3600).token

    token = db.write_sync(invite)

    def join(conn: sa.Connection) -> str:
        return invitations.accept(
            conn, token, "sandi-kasir-baru-9", utcnow(), session_lifetime=3600, idle_timeout=3600, address=None
        )

    done, refused = race(db, join, join)
    assert isinstance(done, str)
    assert isinstance(refused, invitations.InvitationInvalid)
    made = db.read_sync(
        lambda conn: conn.execute(
            sa.select(sa.func.count()).select_from(dashboard_users).where(dashboard_users.c.email == "kasir@toko.test")
        ).scalar_one()
    )
    assert made == 1
