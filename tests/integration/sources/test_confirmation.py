"""The confirmation rule (kasir.sources.confirmation): which channels of a merchant in a mode
have something reporting their credits by itself. Real database (SQLite and PostgreSQL): the
forwarder is a row, set up as ``POST /v1/forwarder`` sets it up.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from kasir.app import create_app
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.merchants.keys import Mode
from kasir.merchants.service import NewMerchant, authenticate
from kasir.payments import forwarders
from kasir.payments.sources import configured_sources
from kasir.sources.confirmation import Poller, automatic_sources, pollers_of
from tests.conftest import auth
from tests.integration.payments.fake_pollers import HERE, OvoOnly, Undeclared, built

ALL = ["qris", "qris_user", "gopay_qris", "ovo"]
NONE: dict[str, list[str]] = {method: [] for method in ALL}


def sources_of(
    db: Database, merchant: NewMerchant, mode: str, settings: Settings, pollers: Sequence[Poller] = ()
) -> dict[str, list[str]]:
    return db.read_sync(lambda conn: automatic_sources(conn, merchant.id, mode, settings, pollers))


def set_up_forwarder(db: Database, key: str) -> None:
    db.write_sync(lambda conn: forwarders.setup(conn, authenticate(conn, key), datetime.now(UTC)))


@pytest.mark.parametrize("mode", ["test", "live"])
def test_without_any_source_every_channel_is_manual(
    db: Database, settings: Settings, merchant: NewMerchant, mode: Mode
) -> None:
    assert sources_of(db, merchant, mode, settings) == NONE


def test_a_forwarder_covers_every_channel_of_its_merchant_in_its_mode_only(
    db: Database, settings: Settings, merchant: NewMerchant, other_merchant: NewMerchant
) -> None:
    set_up_forwarder(db, merchant.test_api_key)
    assert sources_of(db, merchant, "test", settings) == {method: ["forwarder"] for method in ALL}
    assert sources_of(db, merchant, "live", settings) == NONE
    assert sources_of(db, other_merchant, "test", settings) == NONE

    set_up_forwarder(db, merchant.live_api_key)
    assert sources_of(db, merchant, "live", settings) == {method: ["forwarder"] for method in ALL}
    # Rotating its secret does not make two forwarders of one.
    set_up_forwarder(db, merchant.test_api_key)
    assert sources_of(db, merchant, "test", settings) == {method: ["forwarder"] for method in ALL}


def test_sandbox_autopay_covers_test_mode_only(db: Database, settings: Settings, merchant: NewMerchant) -> None:
    autopay = settings.model_copy(update={"sandbox_autopay": 10.0})
    assert sources_of(db, merchant, "test", autopay) == {method: ["source:sandbox-autopay"] for method in ALL}
    assert sources_of(db, merchant, "live", autopay) == NONE


def test_a_poller_declaring_channels_covers_those_only(db: Database, settings: Settings, merchant: NewMerchant) -> None:
    [poller] = pollers_of([OvoOnly()])
    assert poller == Poller("ovo-alice", frozenset({"ovo"}))
    for mode in ("test", "live"):
        assert sources_of(db, merchant, mode, settings, [poller]) == {**NONE, "ovo": ["source:ovo-alice"]}


def test_a_poller_declaring_no_channels_covers_them_all(
    db: Database, settings: Settings, merchant: NewMerchant
) -> None:
    pollers = pollers_of([Undeclared()])
    assert pollers == (Poller("statements", None),)
    assert sources_of(db, merchant, "live", settings, pollers) == {method: ["source:statements"] for method in ALL}


def test_every_source_is_named_where_several_cover_a_channel(
    db: Database, settings: Settings, merchant: NewMerchant
) -> None:
    set_up_forwarder(db, merchant.test_api_key)
    autopay = settings.model_copy(update={"sandbox_autopay": 5.0})
    found = sources_of(db, merchant, "test", autopay, pollers_of([OvoOnly()]))
    assert found["ovo"] == ["source:ovo-alice", "forwarder", "source:sandbox-autopay"]
    assert found["qris"] == ["forwarder", "source:sandbox-autopay"]


def test_the_configured_sources_become_pollers_without_the_sandbox(db: Database, settings: Settings) -> None:
    configured = settings.model_copy(
        update={"sandbox_autopay": 10.0, "mutation_sources": [f"{HERE}:ovo_only", f"{HERE}:undeclared"]}
    )
    sources = configured_sources(configured, db)
    assert [source.name for source in sources] == ["sandbox-autopay", "ovo-alice", "statements"]
    # The autopay is the settings' business (test mode only), not a poller of every mode.
    assert pollers_of(sources) == (Poller("ovo-alice", frozenset({"ovo"})), Poller("statements", None))


def test_the_app_builds_the_pollers_once_and_a_no_worker_node_knows_them(
    db: Database, settings: Settings, merchant: NewMerchant
) -> None:
    """The factories run once, in the app's lifespan, however many requests ask; an API node
    started --no-worker (background off) reports the same channels as confirmed."""
    configured = settings.model_copy(update={"mutation_sources": [f"{HERE}:undeclared", f"{HERE}:ovo_only"]})
    built.clear()
    with TestClient(create_app(configured, database=db, background=False)) as client:
        for _ in range(3):
            answer = client.get("/api/get-payment-methods.php", headers=auth(merchant.test_api_key)).json()
            ovo = {m["id"]: m for m in answer["methods"]}["ovo"]
            assert ovo["sources"] == ["source:statements", "source:ovo-alice"]
    assert sorted(built) == ["ovo_only", "undeclared"]  # built once, though asked three times


def test_a_factory_that_fails_stops_the_app_at_start(db: Database, settings: Settings) -> None:
    """A poller that cannot be built confirms nothing; the server says so at start instead of
    promising buyers a confirmation that will never come."""
    configured = settings.model_copy(update={"mutation_sources": [f"{HERE}:broken"]})
    with pytest.raises(RuntimeError, match="login page changed"), TestClient(create_app(configured, database=db)):
        pass
