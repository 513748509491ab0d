"""Payment-source health end to end, on SQLite and PostgreSQL (docs/sources.md).

Proves that a phone which stops reporting is noticed and that the merchant is told:

* with the real app and its background tasks (sweeper and delivery worker) on a real socket, a
  source whose heartbeats stop goes ``silent`` and ``source.silent`` reaches a real receiver,
  signed (checked with the independent ``standardwebhooks`` library); a heartbeat brings
  ``source.recovered``; both payloads carry the source's id, name, state and channels;
* each state change is one event, also when two sweepers race or a heartbeat races a sweep;
* a ``new`` source (never heard from) and a source that only receives Moota's pushes never go
  silent;
* only dialects that can name a source event (standard, bayargg, xendit) get one, and endpoint
  filters (``payment.*`` / ``source.*``) are honoured;
* create-payment warns ``source_silent`` when no live source covers the payment's channel, and
  only then (another merchant's sources and the other mode's do not count), never refusing the sale;
* ``/metrics`` shows each watched source's age since it last spoke, and its silent flag.

Time is never waited out where it can be set: most tests move a source's ``last_seen_at`` into
the past and run one real sweep pass (``kasir.background.sweeps.sweep_once``); only the end-to-end test runs
the sweeper on its own clock, with a silence threshold of one second.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import anyio
import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from standardwebhooks import Webhook

from kasir.app import create_app
from kasir.background.sweeps import sweep_once
from kasir.clock import to_wire, utcnow
from kasir.config import Settings
from kasir.db.engine import Database, build_engine
from kasir.db.tables import deliveries, endpoints, events, payment_sources
from kasir.merchants.service import NewMerchant, authenticate
from kasir.sources import health, registry
from tests.conftest import LiveServer, auth
from tests.receivers import Received, Receiver
from tests.waiting import wait_until
from tests.workers import RunningWorker

SOURCES = "/v1/sources"
ENDPOINTS = "/v1/endpoints"
CREATE = "/api/create-payment.php"
CHECK = "/api/check-payment.php"
GOPAY_APP = "com.gojek.gopaymerchant"
BRIMO_APP = "id.co.bri.brimo"
OVO_APP = "ovo.id"
GOPAY = {GOPAY_APP: "gopay_qris"}
# Longer ago than any KASIR_SOURCE_SILENT_AFTER these tests use (the default is 120 s).
LONG_AGO = 600.0

Http = TestClient | httpx.Client


# --- helpers --------------------------------------------------------------------------------


def new_source(http: Http, key: str, apps: dict[str, str] | None = None, name: str = "HP kasir") -> dict[str, Any]:
    response = http.post(SOURCES, json={"name": name, "apps": apps or GOPAY}, headers=auth(key))
    assert response.status_code == 200, response.text
    source: dict[str, Any] = response.json()["source"]
    assert source["state"] == "new"
    return source


def heartbeat(http: Http, source: dict[str, Any], *, signed: bool = False) -> dict[str, Any]:
    """A heartbeat with the bearer token, or signed (``X-Kasir-Signature``) as the forwarder does."""
    url = f"{SOURCES}/{source['id']}/heartbeat"
    if signed:
        body = json.dumps({"forwarder": "kasir-forward/test", "queued": 0}).encode()
        response = http.post(
            url,
            content=body,
            headers={
                "Content-Type": "application/json",
                registry.SIGNATURE_HEADER: registry.sign(source["token"], body),
            },
        )
    else:
        response = http.post(url, headers={"Authorization": f"Bearer {source['token']}"})
    assert response.status_code == 200, response.text
    shown: dict[str, Any] = response.json()["source"]
    assert shown["state"] == "live"
    return shown


def notify(http: Http, source: dict[str, Any]) -> None:
    """A notification from the phone (a sign of life whatever it says)."""
    item = {
        "package": GOPAY_APP,
        "title": "GoPay Merchant",
        "text": "Ada info baru dari GoPay",
        "posted_at": int(time.time() * 1000),
    }
    response = http.post(
        f"{SOURCES}/{source['id']}/notifications",
        json=item,
        headers={"Authorization": f"Bearer {source['token']}"},
    )
    assert response.status_code == 200, response.text


def moota_push(http: Http, source: dict[str, Any]) -> None:
    """What Moota sends: a signed array of mutations (a debit here, which is ignored)."""
    body = json.dumps(
        [{"mutation_id": f"m-{time.time_ns()}", "date": to_wire(utcnow()), "type": "DB", "amount": 6500}]
    ).encode()
    response = http.post(
        f"{SOURCES}/{source['id']}/moota",
        content=body,
        headers={"Content-Type": "application/json", "Signature": registry.sign(source["token"], body)[7:]},
    )
    assert response.status_code == 200, response.text


def backdate(db: Database, source_id: str, seconds: float = LONG_AGO) -> None:
    """The source last spoke (or, never heard from, was created) ``seconds`` ago."""
    past = utcnow() - timedelta(seconds=seconds)

    def write(conn: sa.Connection) -> None:
        row = conn.execute(sa.select(payment_sources.c.last_seen_at).where(payment_sources.c.public_id == source_id))
        values: dict[str, Any] = {"created_at": past}
        if row.scalar_one() is not None:
            values["last_seen_at"] = past
        conn.execute(sa.update(payment_sources).where(payment_sources.c.public_id == source_id).values(**values))

    db.write_sync(write)


def sweep(db: Database, settings: Settings) -> None:
    """One pass of the real sweeper."""
    anyio.run(sweep_once, db, settings)


def state_of(db: Database, source_id: str) -> str:
    return str(
        db.read_sync(
            lambda conn: conn.execute(
                sa.select(payment_sources.c.state).where(payment_sources.c.public_id == source_id)
            ).scalar_one()
        )
    )


def source_events(db: Database) -> list[tuple[str, dict[str, Any]]]:
    """Every ``source.*`` event row, oldest first: (type, payload)."""
    rows = db.read_sync(
        lambda conn: conn.execute(
            sa.select(events.c.type, events.c.payload).where(events.c.type.like("source.%")).order_by(events.c.id)
        ).all()
    )
    return [(str(kind), json.loads(payload)) for kind, payload in rows]


def events_of(db: Database, source_id: str) -> list[str]:
    return [kind for kind, payload in source_events(db) if payload["source_id"] == source_id]


def create_payment(http: Http, key: str, method: str, amount: int) -> dict[str, Any]:
    response = http.post(CREATE, json={"amount": amount, "payment_method": method}, headers=auth(key))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["success"] is True
    assert body["payment"]["status"] == "pending"
    return body


def make_live_sources(db: Database, merchant: NewMerchant, apps: dict[str, str], count: int) -> list[dict[str, Any]]:
    """``count`` sources that were live and last spoke LONG_AGO, written straight to the database."""
    past = utcnow() - timedelta(seconds=LONG_AGO)

    def write(conn: sa.Connection) -> list[dict[str, Any]]:
        caller = authenticate(conn, merchant.test_api_key)
        made = []
        for i in range(count):
            row, token = registry.create(conn, caller, f"HP {i}", apps, past)
            conn.execute(
                sa.update(payment_sources)
                .where(payment_sources.c.id == row["id"])
                .values(state="live", last_seen_at=past - timedelta(seconds=i))
            )
            made.append({**row, "state": "live", "token": token})
        return made

    return db.write_sync(write)


@pytest.fixture
def fast(settings: Settings) -> Settings:
    """Sources go silent after one second without a word; the sweeper looks five times a second."""
    return settings.model_copy(update={"source_silent_after": 1.0, "sweep_interval": 0.2})


# --- 1. end to end: the real app, its sweeper and worker, a real receiver -------------------


def test_a_phone_that_stops_is_reported_silent_and_then_recovered_to_a_real_receiver(
    db: Database, fast: Settings, subscribed_merchant: NewMerchant
) -> None:
    key = subscribed_merchant.test_api_key
    with (
        Receiver() as receiver,
        LiveServer(create_app(fast, database=db)) as server,  # background tasks on
        httpx.Client(base_url=server.url, timeout=10) as http,
    ):
        created = http.post(ENDPOINTS, json={"url": receiver.url, "dialect": "standard"}, headers=auth(key))
        assert created.status_code == 201, created.text
        secret = created.json()["endpoint"]["secret"]
        source = new_source(http, key, name="HP kasir depan")
        heartbeat(http, source)
        beat_at = time.monotonic()

        # No more heartbeats: the app's own sweeper notices, its own worker delivers.
        [silent_request] = receiver.wait_for(1, timeout=15)
        assert time.monotonic() - beat_at >= fast.source_silent_after * 0.9  # not before its time
        silent = Webhook(secret).verify(silent_request.body.decode(), silent_request.headers)
        assert silent["type"] == "source.silent"
        data = silent["data"]
        assert data["source_id"] == source["id"]
        assert data["name"] == "HP kasir depan"
        assert data["state"] == "silent"
        assert data["channels"] == ["gopay_qris"]
        assert data["apps"] == [GOPAY_APP]
        assert data["mode"] == "test"
        assert data["silent_since"] is not None
        assert data["last_seen_at"] is not None
        shown = http.get(f"{SOURCES}/{source['id']}", headers=auth(key)).json()["source"]
        assert shown["state"] == "silent"
        assert shown["silent_since"] is not None

        # The phone speaks again (signed, as the forwarder sends): recovered, at once.
        assert heartbeat(http, source, signed=True)["silent_since"] is None

        def recovered_requests() -> list[Received]:
            return [r for r in receiver.requests if json.loads(r.body)["type"] == "source.recovered"]

        wait_until(lambda: bool(recovered_requests()), what="source.recovered delivered")
        [recovered_request] = recovered_requests()
        recovered = Webhook(secret).verify(recovered_request.body.decode(), recovered_request.headers)
        assert recovered["data"]["source_id"] == source["id"]
        assert recovered["data"]["name"] == "HP kasir depan"
        assert recovered["data"]["state"] == "live"
        assert recovered["data"]["channels"] == ["gopay_qris"]
        assert recovered["data"]["silent_since"] is None
        assert recovered_request.headers["webhook-id"] != silent_request.headers["webhook-id"]
    # The recovered source may have gone silent again since (nothing kept it alive), but every
    # event alternates: silent, recovered, silent, ...
    kinds = events_of(db, source["id"])
    assert kinds[:2] == ["source.silent", "source.recovered"]
    assert all(kind == ("source.silent" if i % 2 == 0 else "source.recovered") for i, kind in enumerate(kinds))


# --- 2. exactly once --------------------------------------------------------------------------


def test_two_sweepers_racing_record_each_silence_once(
    db: Database, database_url: str, settings: Settings, subscribed_merchant: NewMerchant
) -> None:
    sources = make_live_sources(db, subscribed_merchant, GOPAY, 40)
    barrier = threading.Barrier(2)

    def node(_: int) -> None:
        database = Database(build_engine(database_url))
        try:
            barrier.wait(timeout=10)
            anyio.run(sweep_once, database, settings)
        finally:
            database.dispose()

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(node, range(2)))
    silenced = Counter(payload["source_id"] for kind, payload in source_events(db) if kind == "source.silent")
    assert silenced == Counter(source["public_id"] for source in sources)  # each once, none missed
    assert {state_of(db, source["public_id"]) for source in sources} == {"silent"}
    sweep(db, settings)  # a later pass finds nothing new to say
    assert len(source_events(db)) == len(sources)


def test_heartbeats_racing_a_sweep_never_duplicate_an_event(
    db: Database,
    database_url: str,
    settings: Settings,
    subscribed_merchant: NewMerchant,
    client: TestClient,
    backend: str,
) -> None:
    sources = make_live_sources(db, subscribed_merchant, GOPAY, 30)
    barrier = threading.Barrier(2)

    def sweeper() -> None:
        database = Database(build_engine(database_url))
        try:
            barrier.wait(timeout=10)
            anyio.run(sweep_once, database, settings)
        finally:
            database.dispose()

    def phones() -> None:
        barrier.wait(timeout=10)
        for source in reversed(sources):  # from the other end of the sweep's order
            heartbeat(client, {"id": source["public_id"], "token": source["token"]})

    with ThreadPoolExecutor(max_workers=2) as pool:
        for future in [pool.submit(sweeper), pool.submit(phones)]:
            future.result(timeout=60)
    for source in sources:
        kinds = events_of(db, source["public_id"])
        # The heartbeat came before the sweep looked (nothing to say) or after it (silent, then
        # recovered); never an event twice, never recovered without silent before it.
        assert kinds in ([], ["source.silent"], ["source.silent", "source.recovered"]), kinds
        assert state_of(db, source["public_id"]) == "live"  # every phone spoke last
        if backend == "sqlite":
            # One writer at a time: each heartbeat is wholly before or after the sweep. (On
            # PostgreSQL the statements interleave; see the lost-recovery test below.)
            assert kinds in ([], ["source.silent", "source.recovered"]), kinds


def test_each_state_change_is_one_event(
    db: Database, settings: Settings, subscribed_merchant: NewMerchant, client: TestClient
) -> None:
    key = subscribed_merchant.test_api_key
    source = new_source(client, key)
    sid = source["id"]
    heartbeat(client, source)  # new -> live: nothing was missed, nothing to say
    heartbeat(client, source, signed=True)
    notify(client, source)
    assert events_of(db, sid) == []
    assert state_of(db, sid) == "live"

    backdate(db, sid)
    sweep(db, settings)
    sweep(db, settings)  # still silent: no second event
    assert events_of(db, sid) == ["source.silent"]
    assert state_of(db, sid) == "silent"

    heartbeat(client, source)
    heartbeat(client, source)  # still live: no second event
    assert events_of(db, sid) == ["source.silent", "source.recovered"]

    backdate(db, sid)
    sweep(db, settings)
    assert events_of(db, sid) == ["source.silent", "source.recovered", "source.silent"]
    notify(client, source)  # an ingest is a sign of life too
    notify(client, source)
    assert events_of(db, sid) == ["source.silent", "source.recovered", "source.silent", "source.recovered"]
    assert state_of(db, sid) == "live"
    [first_silent, first_recovered, *_] = [payload for _, payload in source_events(db)]
    assert first_silent["state"] == "silent"
    assert first_silent["silent_since"] is not None
    assert first_recovered["state"] == "live"
    assert first_recovered["silent_since"] is None


class _SweepBetweenStatements:
    """A Connection that, after the first statement run through it, lets a sweep run on another
    connection: the interleaving of a heartbeat racing the sweep on PostgreSQL, made certain."""

    def __init__(self, conn: sa.Connection, between: Callable[[], None]) -> None:
        self._conn = conn
        self._between: Callable[[], None] | None = between

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        result = self._conn.execute(*args, **kwargs)
        if self._between is not None:
            between, self._between = self._between, None
            between()
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def test_a_heartbeat_racing_the_sweep_still_reports_the_recovery(
    db: Database, settings: Settings, subscribed_merchant: NewMerchant, backend: str
) -> None:
    if backend == "sqlite":
        pytest.skip("SQLite takes the write lock at BEGIN IMMEDIATE: a sweep cannot run inside a heartbeat")
    [source] = make_live_sources(db, subscribed_merchant, GOPAY, 1)
    swept = threading.Event()

    def run_sweep() -> None:
        db.write_sync(lambda conn: health.sweep(conn, utcnow(), settings.source_silent_after))
        swept.set()

    sweeper = threading.Thread(target=run_sweep, daemon=True)

    def between() -> None:
        sweeper.start()
        # A sweep blocked by the heartbeat's row lock is a correct design: let it wait for us.
        swept.wait(timeout=1.0)

    now = utcnow()
    db.write_sync(lambda conn: health.sign_of_life(_SweepBetweenStatements(conn, between), source, now))  # type: ignore[arg-type]
    sweeper.join(timeout=10)
    assert swept.is_set()
    assert state_of(db, source["public_id"]) == "live"
    # Live now: either the sweep never saw it quiet (nothing said), or it said silent and the
    # heartbeat said recovered. "Silent" alone would leave the merchant waiting forever.
    assert events_of(db, source["public_id"]) in ([], ["source.silent", "source.recovered"])


# --- 3. who never goes silent -----------------------------------------------------------------


def test_a_new_source_and_a_moota_only_source_never_go_silent(
    db: Database, settings: Settings, subscribed_merchant: NewMerchant, client: TestClient
) -> None:
    key = subscribed_merchant.test_api_key
    never_heard = new_source(client, key, name="HP baru")
    moota_only = new_source(client, key, {registry.MOOTA_APP: "qris_user"}, name="Moota BRI")
    mixed = new_source(client, key, {registry.MOOTA_APP: "qris_user", **GOPAY}, name="HP + Moota")
    moota_push(client, moota_only)  # live: Moota pushed
    moota_push(client, mixed)
    for source in (never_heard, moota_only, mixed):
        backdate(db, source["id"])
    sweep(db, settings)
    sweep(db, settings)
    assert state_of(db, never_heard["id"]) == "new"
    assert state_of(db, moota_only["id"]) == "live"
    assert state_of(db, mixed["id"]) == "silent"  # the sweep did run; a phone in it is watched
    assert [(kind, payload["source_id"]) for kind, payload in source_events(db)] == [("source.silent", mixed["id"])]


def test_moota_only_sources_do_not_keep_phones_from_going_silent(
    db: Database, settings: Settings, subscribed_merchant: NewMerchant
) -> None:
    make_live_sources(db, subscribed_merchant, {registry.MOOTA_APP: "qris_user"}, health.SWEEP_BATCH)

    def make_phone(conn: sa.Connection) -> str:
        caller = authenticate(conn, subscribed_merchant.test_api_key)
        row, _ = registry.create(conn, caller, "HP kasir", GOPAY, utcnow())
        # Quiet for long enough, but less long than any Moota source (which pushed LONG_AGO).
        conn.execute(
            sa.update(payment_sources)
            .where(payment_sources.c.id == row["id"])
            .values(state="live", last_seen_at=utcnow() - timedelta(seconds=settings.source_silent_after + 60))
        )
        return str(row["public_id"])

    phone = db.write_sync(make_phone)
    for _ in range(3):  # several passes of the sweeper
        sweep(db, settings)
    assert state_of(db, phone) == "silent"


# --- 4. dialects and filters -----------------------------------------------------------------


def test_source_events_go_only_to_dialects_and_filters_that_take_them(
    db: Database,
    settings: Settings,
    subscribed_merchant: NewMerchant,
    client: TestClient,
    start_worker: Callable[[Settings], RunningWorker],
) -> None:
    key = subscribed_merchant.test_api_key
    # name: (dialect, event_types)
    specs: dict[str, tuple[str, list[str] | None]] = {
        "standard": ("standard", None),
        "standard_sources": ("standard", ["source.*"]),
        "standard_payments": ("standard", ["payment.*"]),
        "bayargg": ("bayargg", None),
        "xendit": ("xendit", None),
        "digiflazz": ("digiflazz", None),
        "ilenpay": ("ilenpay", None),
        "isikuota": ("isikuota", None),
    }
    receivers = {name: Receiver().__enter__() for name in specs}
    try:
        registered: dict[str, dict[str, Any]] = {}
        for name, (dialect, event_types) in specs.items():
            body: dict[str, Any] = {"url": receivers[name].url, "dialect": dialect}
            if event_types is not None:
                body["event_types"] = event_types
            response = client.post(ENDPOINTS, json=body, headers=auth(key))
            assert response.status_code == 201, response.text
            registered[name] = response.json()["endpoint"]
        start_worker(settings)

        source = new_source(client, key)
        heartbeat(client, source)
        backdate(db, source["id"])
        sweep(db, settings)
        heartbeat(client, source)
        assert events_of(db, source["id"]) == ["source.silent", "source.recovered"]
        # A payment event too: the endpoints that get no source event are alive and reachable.
        create_payment(client, key, "gopay_qris", 25000)

        expected = {
            "standard": ["payment.created", "source.recovered", "source.silent"],
            "standard_sources": ["source.recovered", "source.silent"],
            "standard_payments": ["payment.created"],
            "bayargg": ["payment.created", "source.recovered", "source.silent"],
            "xendit": ["payment.created", "source.recovered", "source.silent"],
            "digiflazz": ["payment.created"],  # Digiflazz says "create"; it has no word for a source
            "ilenpay": ["payment.created"],
            "isikuota": [],  # isikuota names only outcomes (paid, failed), and no source event
        }

        def queued() -> dict[str, list[str]]:
            rows = db.read_sync(
                lambda conn: conn.execute(
                    sa.select(endpoints.c.public_id, events.c.type, deliveries.c.status)
                    .join(endpoints, endpoints.c.id == deliveries.c.endpoint_id)
                    .join(events, events.c.id == deliveries.c.event_id)
                ).all()
            )
            by_endpoint: dict[str, list[str]] = {name: [] for name in specs}
            names = {endpoint["id"]: name for name, endpoint in registered.items()}
            for endpoint_id, kind, _status in rows:
                by_endpoint[names[endpoint_id]].append(kind)
            return {name: sorted(kinds) for name, kinds in by_endpoint.items()}

        assert queued() == expected
        for name, kinds in expected.items():
            receivers[name].wait_for(len(kinds))
        wait_until(
            lambda: (
                db.read_sync(
                    lambda conn: conn.execute(
                        sa.select(sa.func.count()).select_from(deliveries).where(deliveries.c.status != "succeeded")
                    ).scalar_one()
                )
                == 0
            ),
            what="every delivery succeeded",
        )
        for name, kinds in expected.items():
            assert len(receivers[name].requests) == len(kinds), name
        for name in ("standard", "standard_sources", "standard_payments"):
            secret = registered[name]["secret"]
            got = sorted(Webhook(secret).verify(r.body.decode(), r.headers)["type"] for r in receivers[name].requests)
            assert got == expected[name]
        for name in ("bayargg", "xendit"):
            bodies = [json.loads(r.body) for r in receivers[name].requests]
            named = sorted(b["event"] for b in bodies)
            assert named == expected[name]
            silent = next(b for b in bodies if b["event"] == "source.silent")
            assert source["id"] in json.dumps(silent)
        for name in ("digiflazz", "ilenpay", "isikuota"):
            assert all(source["id"].encode() not in r.body for r in receivers[name].requests)
    finally:
        for receiver in receivers.values():
            receiver.__exit__(None, None, None)


# --- 5. create-payment's warning ----------------------------------------------------------------


def test_create_payment_warns_when_no_live_source_covers_its_channel(
    db: Database,
    settings: Settings,
    subscribed_merchant: NewMerchant,
    other_merchant: NewMerchant,
    client: TestClient,
) -> None:
    key = subscribed_merchant.test_api_key
    amounts = iter(range(20000, 90000, 1000))

    def pay(method: str, api_key: str = key) -> dict[str, Any]:
        return create_payment(client, api_key, method, next(amounts))

    # No source at all: nothing to warn about (the shop confirms some other way).
    assert "warnings" not in pay("gopay_qris")

    gopay = new_source(client, key)
    # A source never heard from is not live: a payment on its channel will not confirm by itself.
    assert pay("gopay_qris")["warnings"] == ["source_silent"]
    heartbeat(client, gopay)
    assert "warnings" not in pay("gopay_qris")

    backdate(db, gopay["id"])
    sweep(db, settings)
    assert state_of(db, gopay["id"]) == "silent"
    answer = pay("gopay_qris")
    assert answer["warnings"] == ["source_silent"]
    # The sale is never refused: the payment exists and waits to be paid.
    invoice = answer["payment"]["invoice_id"]
    checked = client.get(CHECK, params={"invoice": invoice}, headers=auth(key))
    assert checked.status_code == 200, checked.text
    assert checked.json()["invoice_id"] == invoice
    assert checked.json()["status"] == "pending"
    # A method no source covers: nothing to warn about.
    assert "warnings" not in pay("qris_user")
    assert "warnings" not in pay("qris")

    # Another merchant's silent source on BRI QRIS is not this merchant's business.
    other = new_source(client, other_merchant.test_api_key, {BRIMO_APP: "qris_user"})
    heartbeat(client, other)
    backdate(db, other["id"])
    sweep(db, settings)
    assert state_of(db, other["id"]) == "silent"
    assert "warnings" not in pay("qris_user")

    # Nor is the live mode's silent OVO source the test mode's; in its own mode it warns.
    live_ovo = new_source(client, subscribed_merchant.live_api_key, {OVO_APP: "ovo"})
    heartbeat(client, live_ovo)
    backdate(db, live_ovo["id"])
    sweep(db, settings)
    assert state_of(db, live_ovo["id"]) == "silent"
    assert "warnings" not in pay("ovo")
    assert pay("ovo", subscribed_merchant.live_api_key)["warnings"] == ["source_silent"]

    # One live phone on the channel is enough, even with another one silent.
    spare = new_source(client, key, name="HP cadangan")
    heartbeat(client, spare)
    assert state_of(db, gopay["id"]) == "silent"
    assert "warnings" not in pay("gopay_qris")


# --- 6. /metrics ----------------------------------------------------------------------------------

_METRIC = re.compile(r'^(kasir_source_\w+)\{source="(\w+)",merchant="(\w+)",mode="(\w+)"\} (\S+)$', re.M)


def scrape(client: TestClient) -> dict[tuple[str, str], tuple[str, str, float]]:
    """(metric, source id) -> (merchant, mode, value)."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    return {
        (metric, source): (merchant, mode, float(value))
        for metric, source, merchant, mode, value in _METRIC.findall(response.text)
    }


AGE = "kasir_source_last_seen_age_seconds"
SILENT = "kasir_source_silent"


def test_metrics_show_each_sources_age_and_silent_flag(
    db: Database,
    settings: Settings,
    subscribed_merchant: NewMerchant,
    other_merchant: NewMerchant,
    client: TestClient,
) -> None:
    key = subscribed_merchant.test_api_key
    phone = new_source(client, key)
    heartbeat(client, phone)
    never_heard = new_source(client, key, name="HP baru")
    live_mode = new_source(client, subscribed_merchant.live_api_key, {OVO_APP: "ovo"})
    heartbeat(client, live_mode)
    foreign = new_source(client, other_merchant.test_api_key)
    heartbeat(client, foreign)
    moota_only = new_source(client, key, {registry.MOOTA_APP: "qris_user"})
    moota_push(client, moota_only)

    first = scrape(client)
    time.sleep(0.05)
    second = scrape(client)
    watched = {
        phone["id"]: ("toko_satu", "test"),
        never_heard["id"]: ("toko_satu", "test"),
        live_mode["id"]: ("toko_satu", "live"),
        foreign["id"]: ("toko_dua", "test"),
    }
    for sid, labels in watched.items():
        assert first[(SILENT, sid)] == (*labels, 0.0)
        assert second[(SILENT, sid)] == (*labels, 0.0)
        assert first[(AGE, sid)][:2] == labels
        assert 0.0 <= first[(AGE, sid)][2] < 30
        assert second[(AGE, sid)][2] - first[(AGE, sid)][2] >= 0.04  # the age grows between scrapes
    # A Moota-only source is not watched: no age, no silent flag (it never goes silent).
    assert not any(sid == moota_only["id"] for _, sid in second)

    backdate(db, phone["id"])
    sweep(db, settings)
    silent = scrape(client)
    assert silent[(SILENT, phone["id"])][2] == 1.0
    assert silent[(AGE, phone["id"])][2] >= LONG_AGO
    assert silent[(SILENT, foreign["id"])][2] == 0.0

    heartbeat(client, phone)
    back = scrape(client)
    assert back[(SILENT, phone["id"])][2] == 0.0
    assert back[(AGE, phone["id"])][2] < 30
