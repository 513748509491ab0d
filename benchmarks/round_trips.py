"""Round trips to PostgreSQL per unit of work, counted on the wire.

    .venv/bin/python benchmarks/round_trips.py [--pg-admin-url …] [--repeat 20] [--out FILE]

Kasir talks to PostgreSQL through a counting proxy on a loopback port: every message the server
sends is parsed by its type byte and length, and each ``ReadyForQuery`` (``Z``) ends one round
trip (a simple query, or an extended-protocol exchange up to its Sync). Counting there, not in
the client, holds for any driver: the figures before and after a change of driver or of
statements come from the same ruler.

The units, each run ``--repeat`` times after a warm-up (new connections are not counted), the
requests through the real app (Starlette's TestClient, lifespan and all):

- ``POST /api/create-payment.php`` (authenticate, the unit, its event and delivery);
- ``GET /api/check-payment.php`` and the pay page's ``GET /pay/status`` poll;
- ``POST /v1/mutations`` with 1 credit and with 100 credits that each pay a payment;
- the delivery worker's claim of 100 due deliveries and its record of their 100 outcomes
  (``kasir.delivery.queue``, as the worker runs them).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import struct
import sys
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from api_bench import PG_ADMIN_URL, fresh_database
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from kasir import secrets_at_rest
from kasir.app import create_app
from kasir.clock import utcnow
from kasir.config import Settings
from kasir.db.engine import Database, build_engine
from kasir.db.migrate import upgrade
from kasir.delivery import queue
from kasir.delivery.service import update_callback_settings
from kasir.delivery.states import AttemptOutcome, DeliveryStatus
from kasir.merchants.service import authenticate, create_merchant
from kasir.payments.service import NewPayment, create_payment

PG_HOST, PG_PORT = "127.0.0.1", 5432


class CountingProxy:
    """A TCP proxy to PostgreSQL that counts the server's ReadyForQuery messages."""

    def __init__(self) -> None:
        self.count = 0
        # What the clients asked, in order (simple queries, and the SQL of extended-protocol
        # Parse messages; a Bind to a statement prepared earlier is shown by its SQL too).
        self.queries: list[str] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.port = 0
        threading.Thread(target=self._run, daemon=True).start()
        self._ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    def take(self) -> int:
        with self._lock:
            count, self.count = self.count, 0
            self.queries = []
            return count

    def take_queries(self) -> list[str]:
        with self._lock:
            queries, self.queries = self.queries, []
            self.count = 0
            return queries

    def _note(self, kind: bytes, body: bytes, prepared: dict[bytes, str]) -> None:
        """``prepared``: the connection's named statements (names are per connection)."""
        if kind == b"Q":
            self.queries.append(body.rstrip(b"\0").decode(errors="replace"))
        elif kind == b"P":
            name, rest = body.split(b"\0", 1)
            sql = rest.split(b"\0", 1)[0].decode(errors="replace")
            if name:
                prepared[name] = sql  # its Bind, which follows, logs it
            else:
                self.queries.append(sql)
        elif kind == b"B":
            statement = body.split(b"\0", 2)[1]
            if statement:
                self.queries.append(prepared.get(statement, f"<statement {statement.decode()}>") + "  -- prepared")

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection(PG_HOST, PG_PORT)
        prepared: dict[bytes, str] = {}

        async def relay(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: Callable[[bytes, bytes], None]
        ) -> None:
            """Pass typed messages on, showing each to ``seen`` (kind, body) first."""
            try:
                while True:
                    header = await reader.readexactly(5)
                    kind, length = header[:1], struct.unpack("!I", header[1:])[0]
                    body = await reader.readexactly(length - 4)
                    with self._lock:
                        seen(kind, body)
                    writer.write(header + body)
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()

        def count(kind: bytes, _body: bytes) -> None:
            if kind == b"Z":
                self.count += 1

        async def from_client() -> None:
            # The client's first message (startup) has no type byte; every later one has. The
            # server's are typed from the first byte (no SSL or GSS negotiation: both are
            # disabled in the URL Kasir is given).
            try:
                header = await client_reader.readexactly(4)
                startup = await client_reader.readexactly(struct.unpack("!I", header)[0] - 4)
            except (asyncio.IncompleteReadError, ConnectionError):
                server_writer.close()
                return
            server_writer.write(header + startup)
            await relay(client_reader, server_writer, lambda kind, body: self._note(kind, body, prepared))

        await asyncio.gather(from_client(), relay(server_reader, client_writer, count), return_exceptions=True)


def through(proxy: CountingProxy, url: str) -> str:
    parsed = make_url(url)
    return parsed.set(
        host="127.0.0.1", port=proxy.port, query={"sslmode": "disable", "gssencmode": "disable"}
    ).render_as_string(hide_password=False)


EXPLAINED: dict[str, list[str]] = {}
SPREAD: dict[str, tuple[int, int]] = {}


def per_unit(
    proxy: CountingProxy,
    name: str,
    unit: Callable[[int], Any],
    repeat: int,
    setup: Callable[[int], Any] | None = None,
) -> float:
    """The round trips of the usual run of ``unit`` (the most frequent count of ``repeat`` runs
    after a warm-up whose new connections are not the unit's; the fewest and most in SPREAD);
    ``setup`` runs before each, uncounted. The queries of one more run are kept in EXPLAINED."""

    def once(n: int) -> int:
        if setup is not None:
            setup(n)
        proxy.take()
        unit(n)
        return proxy.take()

    once(-1)
    counts = [once(n) for n in range(repeat)]
    SPREAD[name] = (min(counts), max(counts))
    if setup is not None:
        setup(repeat)
    proxy.take()
    unit(repeat)
    EXPLAINED[name] = proxy.take_queries()
    # The usual run: a run or two pay more, once, where psycopg prepares the unit's statements
    # (it does after 5 executions of each, one round trip more per statement).
    return float(statistics.mode(counts))


def measure(args: argparse.Namespace) -> dict[str, float]:
    proxy = CountingProxy()
    figures: dict[str, float] = {}
    with fresh_database("postgresql", args.pg_admin_url) as target:
        url = through(proxy, target.url)
        settings = Settings(home=target.home, database_url=url, rate_limit=0, public_rate_limit=0, platform_qris="demo")
        db = Database(build_engine(settings.resolved_database_url))
        try:
            upgrade(db.engine)
            secrets_at_rest.load_key(db, settings)
            merchant = db.write_sync(lambda conn: create_merchant(conn, name="Bench Shop", username="bench"))
            principal = db.read_sync(lambda conn: authenticate(conn, merchant.test_api_key))
            db.write_sync(
                lambda conn: update_callback_settings(
                    conn, principal, {"default_callback_url": "http://127.0.0.1:9/hook"}, utcnow()
                )
            )
            headers = {"X-API-Key": merchant.test_api_key}
            with TestClient(create_app(settings, database=db, background=False)) as client:
                invoices: list[str] = []

                def create(n: int) -> None:
                    response = client.post(
                        "/api/create-payment.php", json={"amount": 20_000 + 1_000 * (n + 1)}, headers=headers
                    )
                    assert response.status_code == 200, response.text
                    invoices.append(response.json()["payment"]["invoice_id"])

                def check(n: int) -> None:
                    response = client.get(f"/api/check-payment.php?invoice={invoices[n]}", headers=headers)
                    assert response.status_code == 200, response.text

                def status(n: int) -> None:
                    response = client.get(f"/pay/status?invoice={invoices[n]}")
                    assert response.status_code == 200, response.text

                name = "create-payment (HTTP)"
                figures[name] = per_unit(proxy, name, create, args.repeat)
                for name, unit in (("check-payment (HTTP)", check), ("pay page status poll (HTTP)", status)):
                    figures[name] = per_unit(proxy, name, unit, args.repeat)

                for size in (1, 100):
                    credits: list[dict[str, Any]] = []

                    def pending(n: int, size: int = size, credits: list[dict[str, Any]] = credits) -> None:
                        now = utcnow()
                        payments = db.write_sync(
                            lambda conn: [
                                create_payment(conn, principal, NewPayment(amount=100_000 + 1_000 * i), settings, now)
                                for i in range(size)
                            ]
                        )
                        credits[:] = [
                            {"amount": p["final_amount"], "channel": "qris", "reference": f"RT-{n}-{size}-{i}"}
                            for i, p in enumerate(payments)
                        ]

                    def report(_n: int, credits: list[dict[str, Any]] = credits) -> None:
                        response = client.post("/v1/mutations", json={"mutations": credits}, headers=headers)
                        assert response.status_code == 200, response.text

                    name = f"POST /v1/mutations, {size} credit(s) paying as many payments (HTTP)"
                    figures[name] = per_unit(proxy, name, report, args.repeat, setup=pending)

            lease = timedelta(seconds=60)
            claimed: list[list[queue.Job]] = []
            # The worker's units run as the worker runs them: Database.unit on an event loop
            # (on PostgreSQL over asyncpg, kasir.db.loop), one loop for every run.
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, daemon=True).start()

            def on_loop(fn: Callable[[Any], Any]) -> Any:
                return asyncio.run_coroutine_threadsafe(db.unit(fn), loop).result()

            def release(_n: int) -> None:
                db.write_sync(queue.release_all_claims)

            def claim(_n: int) -> None:
                now = utcnow()
                claimed.append(on_loop(lambda conn: queue.claim(conn, now, 100, lease)))

            name = "worker: claim 100 due deliveries"
            figures[name] = per_unit(proxy, name, claim, args.repeat, setup=release)
            jobs = claimed[-1]
            assert len(jobs) >= 50, len(jobs)

            def record(_n: int) -> None:
                now = utcnow()
                outcomes = [
                    queue.Outcome(
                        job,
                        {
                            "delivery_id": job.id,
                            "attempt": job.attempts + 1,
                            "started_at": now,
                            "url": job.url,
                            "request_headers": "{}",
                            "status_code": 500,
                            "response_body": "",
                            "duration_ms": 3,
                            "error": None,
                            "outcome": AttemptOutcome.RETRYING.value,
                        },
                        DeliveryStatus.PENDING,
                        now + timedelta(seconds=60),
                        "failure",
                    )
                    for job in jobs
                ]
                on_loop(lambda conn: queue.record(conn, outcomes, now))

            name = f"worker: record {len(jobs)} outcomes"
            figures[name] = per_unit(proxy, name, record, args.repeat)
            asyncio.run_coroutine_threadsafe(db.aclose(), loop).result()
            loop.call_soon_threadsafe(loop.stop)
        finally:
            db.dispose()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg-admin-url", default=PG_ADMIN_URL)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--explain", action="store_true", help="print the queries of one run of each unit")
    args = parser.parse_args()
    figures = measure(args)
    for name, trips in figures.items():
        low, high = SPREAD[name]
        print(f"  {name:70} {trips:3.0f} round trips (of {args.repeat} runs: {low}–{high})")
        if args.explain:
            for query in EXPLAINED[name]:
                print(f"      {' '.join(query.split())[:150]}")
    if args.out:
        args.out.write_text(json.dumps({"round_trips": figures, "spread": SPREAD, "queries": EXPLAINED}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
