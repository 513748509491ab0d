"""An endpoint's state (kasir.delivery.states.EndpointState) is read from its row, in Python
(``endpoint_state``) and in SQL (``endpoints.in_state``, what the overview, the callbacks-failing
check and the worker's disable select by); both say the same of every row, on both databases.
And the merchant's switch moves an endpoint between the states as the API promises."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from kasir.clock import utcnow
from kasir.db.engine import Database
from kasir.db.tables import endpoints as endpoint_table
from kasir.delivery import endpoints, service
from kasir.delivery.states import DISABLED_BY_MERCHANT, EndpointState, endpoint_state
from kasir.merchants.service import NewMerchant, authenticate
from tests.integration.delivery.conftest import add_endpoint


def test_sql_and_python_agree_on_every_state(db: Database, merchant: NewMerchant) -> None:
    now = utcnow()
    made = {
        EndpointState.ACTIVE: add_endpoint(db, merchant, "http://127.0.0.1:9/a"),
        EndpointState.FAILING: add_endpoint(db, merchant, "http://127.0.0.1:9/b", failing_since=now),
        EndpointState.DISABLED: add_endpoint(
            db, merchant, "http://127.0.0.1:9/c", enabled=False, disabled_reason=DISABLED_BY_MERCHANT
        ),
        EndpointState.AUTO_DISABLED: add_endpoint(
            db, merchant, "http://127.0.0.1:9/d", enabled=False, disabled_reason="the receiver answered 410 Gone"
        ),
    }
    rows = db.read_sync(lambda conn: endpoints.by_ids(conn, {e["id"] for e in made.values()}))
    assert {endpoint_state(rows[e["id"]]): e["id"] for e in made.values()} == {s: e["id"] for s, e in made.items()}
    for state, endpoint in made.items():

        def in_state(conn: sa.Connection, state: EndpointState = state) -> list[int]:
            return list(conn.execute(sa.select(endpoint_table.c.id).where(endpoints.in_state(state))).scalars())

        selected = db.read_sync(in_state)
        assert selected == [endpoint["id"]], state
    troubled = db.read_sync(lambda conn: endpoints.troubled(conn, merchant.id, "test"))
    assert [row["id"] for row in troubled] == [made[s]["id"] for s in list(EndpointState)[1:]]
    failing = db.read_sync(lambda conn: endpoints.lasting_failing_before(conn, now + timedelta(seconds=1)))
    assert [row["id"] for row in failing] == [made[EndpointState.FAILING]["id"]]


def test_the_merchants_switch_disables_and_enables_an_endpoint(db: Database, merchant: NewMerchant) -> None:
    endpoint = add_endpoint(db, merchant, "http://127.0.0.1:9/a", failing_since=utcnow())
    caller = db.read_sync(lambda conn: authenticate(conn, merchant.test_api_key))

    def switch(enabled: bool) -> EndpointState:
        row = db.write_sync(
            lambda conn: service.update_endpoint(
                conn, caller, endpoint["public_id"], service.EndpointChanges(enabled=enabled), {"enabled"}, utcnow()
            )
        )
        return endpoint_state(row)

    assert switch(False) is EndpointState.DISABLED
    assert switch(False) is EndpointState.DISABLED  # off twice is off once
    # Back on: active, the failure streak that had it failing forgotten.
    assert switch(True) is EndpointState.ACTIVE
