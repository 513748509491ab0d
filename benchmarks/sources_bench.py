"""Payment-source notifications ingested per second, against ``POST /v1/mutations`` with the same
credits, in the same run.

    .venv/bin/python benchmarks/sources_bench.py --quick                   # SQLite, under 2 minutes
    .venv/bin/python benchmarks/sources_bench.py --database both           # SQLite and PostgreSQL
        [--count 20000] [--single-count 5000] [--connections 4] [--out benchmarks/results/sources.json]

Four cases per database, each on a fresh database and a fresh ``kasir serve --no-worker``:

- ``mutations ×500`` / ``mutations ×1``: credits ``{"channel": "gopay_qris", "amount", "reference",
  "occurred_at"}`` POSTed to ``/v1/mutations`` with the merchant's API key, 500 or 1 per request;
- ``sources ×500`` / ``sources ×1``: the same credits as GoPay Merchant notifications
  (``Pembayaran QRIS statis diterima`` / ``Rp 18.017 di …``) POSTed to
  ``/v1/sources/{id}/notifications`` with the source's bearer token, each parsed by the app's
  parser into a credit and matched through the same code.

Before each case, and not timed: one merchant with ``gopay_qris`` connected (a valid static QRIS),
a default callback URL (so every ``payment.paid`` also writes its delivery row, which nobody sends:
the server runs ``--no-worker``), and N pending ``gopay_qris`` payments with distinct final
amounts, written in bulk. Round 1 sends one credit for each payment's final amount (every credit
a match: the real work); round 2 sends the very same requests again (every item a duplicate). The
client is an asyncio (uvloop + httptools) client in this process with ``--connections`` keep-alive
connections, each sending its next request when the previous answer is whole.

Reported per case and round: items/s (items ÷ first request sent → last answer received),
requests/s, p50/p99 per request, the server's CPU per item; the ratios sources ÷ mutations per
batch size. Every answer is checked (2xx, every item ``matched`` in round 1 and ``duplicate`` in
round 2), and the database at the end of each case (every payment paid exactly once: one
``payment.paid`` event, one mutation, one delivery; for sources one stored notification each,
``credited`` and linked to its mutation). Exit status 1 when a check fails (the JSON is written
with ``valid: false``), else 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httptools
import sqlalchemy as sa
import uvloop
from api_bench import (
    PG_ADMIN_URL,
    Target,
    cpu_model,
    cpu_pressure,
    free_port,
    fresh_database,
    package_versions,
    process_memory,
    wait_until_up,
    write_json,
)
from delivery_bench import BIN, clean_env, process
from loadgen import _percentile, cpu_seconds
from matching_bench import insert_pending_payments
from rich.console import Console
from rich.table import Table

from kasir import secrets_at_rest
from kasir.clock import utcnow
from kasir.config import Settings
from kasir.db.engine import Database, build_engine
from kasir.db.migrate import upgrade
from kasir.db.tables import deliveries, events, mutations, payments, source_notifications
from kasir.delivery.service import update_callback_settings
from kasir.merchants.service import authenticate, configure_merchant, create_merchant
from kasir.qris.emv import crc_of

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CHANNEL = "gopay_qris"
PACKAGE = "com.gojek.gopaymerchant"
TITLE = "Pembayaran QRIS statis diterima"
SHOP = "J Store, Digital & Kreatif."
CALLBACK_URL = "http://127.0.0.1:9/callback"  # never called: the server runs --no-worker
# A static QRIS with a valid CRC (the one tests/conftest.py builds), for the merchant's GoPay.
_STATIC_QRIS = (
    "00020101021126570011ID.DANA.WWW011893600915302259148102090225914810303UMI51440014ID.CO.QRIS.WWW"
    "0215ID10200176114730303UMI5204581253033605802ID5922Warung Sederhana Jaya 6010Kab. Bogor610516810"
)
VALID_QRIS = _STATIC_QRIS + "6304" + crc_of(_STATIC_QRIS + "6304")
PATHS = ("mutations", "sources")
ROUNDS = ("new", "duplicate")
QUICK = {"count": 10000, "single_count": 2000}
FULL = {"count": 20000, "single_count": 5000}

console = Console(width=None if sys.stdout.isatty() else 160)


# --- seeding (not timed) ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Seeded:
    merchant_id: int
    api_key: str
    finals: list[int]
    database_version: str


def seed(db: Database, settings: Settings, count: int) -> Seeded:
    """Migrate; a merchant with GoPay QRIS connected and a callback URL; ``count`` pending
    ``gopay_qris`` payments in its own account, each with a distinct final amount."""
    upgrade(db.engine)
    secrets_at_rest.load_key(db, settings)  # the key fresh_database wrote into the target's home
    created = db.write_sync(lambda conn: create_merchant(conn, name="Bench Shop", username="bench"))
    db.write_sync(
        lambda conn: configure_merchant(conn, created.username, subscription_active=True, qris_gopay=VALID_QRIS)
    )
    principal = db.read_sync(lambda conn: authenticate(conn, created.test_api_key))
    db.write_sync(
        lambda conn: update_callback_settings(conn, principal, {"default_callback_url": CALLBACK_URL}, utcnow())
    )
    finals = insert_pending_payments(db, created.id, count, "src", method=CHANNEL, created_ago=timedelta(minutes=10))
    if db.is_sqlite:
        import sqlite3

        version = f"SQLite {sqlite3.sqlite_version}"
    else:
        version = "PostgreSQL " + db.read_sync(lambda conn: str(conn.exec_driver_sql("SHOW server_version").scalar()))
    return Seeded(created.id, created.test_api_key, finals, version)


def dotted(amount: int) -> str:
    """Rupiah as GoPay Merchant prints them: dots between thousands."""
    return f"{amount:,}".replace(",", ".")


def bodies(path: str, finals: list[int], batch: int, posted_ms: list[int]) -> list[bytes]:
    """The request bodies: one credit per final amount, ``batch`` per request; the notification and
    the mutation of a payment carry the same amount and the same time."""
    out = []
    for start in range(0, len(finals), batch):
        chunk = range(start, min(start + batch, len(finals)))
        if path == "sources":
            items: list[dict[str, Any]] = [
                {
                    "package": PACKAGE,
                    "title": TITLE,
                    "text": f"Rp {dotted(finals[i])} di {SHOP}",
                    "posted_at": posted_ms[i],
                }
                for i in chunk
            ]
        else:
            items = [
                {
                    "channel": CHANNEL,
                    "amount": finals[i],
                    "reference": f"M{i:07d}",
                    "occurred_at": datetime.fromtimestamp(posted_ms[i] / 1000, UTC).isoformat(timespec="milliseconds"),
                }
                for i in chunk
            ]
        body: Any = items if path == "sources" else {"mutations": items}
        out.append(json.dumps(body, separators=(",", ":")).encode())
    return out


# --- the client ------------------------------------------------------------------------------


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.body: list[bytes] = []
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_body(self, chunk: bytes) -> None:
        self.body.append(chunk)

    def on_message_complete(self) -> None:
        body, self.body = b"".join(self.body), []
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((self.parser.get_status_code(), body))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"connection lost: {exc}"))

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self.waiter


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0  # non-2xx, or an answer whose items were not what the round expects
    error_samples: list[str] = field(default_factory=list)
    items: int = 0


async def _send_all(
    port: int, path_url: str, headers: str, requests: list[bytes], sizes: list[int], expect: str, connections: int
) -> tuple[Tally, float, float]:
    loop = asyncio.get_running_loop()
    head = f"POST {path_url} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}Content-Type: application/json\r\n"
    raws = [head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body for body in requests]
    conns = []
    for _ in range(min(connections, len(raws))):
        _, conn = await loop.create_connection(_Connection, "127.0.0.1", port)
        conns.append(conn)
    tally = Tally()
    next_index = 0

    async def worker(conn: _Connection) -> None:
        nonlocal next_index
        while next_index < len(raws):
            index = next_index
            next_index += 1
            sent = time.perf_counter()
            status, body = await conn.request(raws[index])
            tally.latencies.append(time.perf_counter() - sent)
            tally.items += sizes[index]
            summary: dict[str, Any] = {}
            if 200 <= status < 300:
                summary = json.loads(body).get("summary", {})
            if summary.get(expect) != sizes[index] or len([v for v in summary.values() if v]) != 1:
                tally.errors += 1
                if len(tally.error_samples) < 3:
                    tally.error_samples.append(f"{status}: {body[:300].decode(errors='replace')}")

    started = time.perf_counter()
    await asyncio.gather(*(worker(conn) for conn in conns))
    elapsed = time.perf_counter() - started
    for conn in conns:
        assert conn.transport is not None
        conn.transport.close()
    return tally, started, elapsed


def send_all(
    port: int, path_url: str, headers: str, requests: list[bytes], sizes: list[int], expect: str, connections: int
) -> tuple[Tally, float]:
    tally, _, elapsed = uvloop.run(_send_all(port, path_url, headers, requests, sizes, expect, connections))
    return tally, elapsed


def post_json(url: str, body: Any, headers: dict[str, str]) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={**headers, "Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


# --- checks ----------------------------------------------------------------------------------


def books(db: Database) -> dict[str, int]:
    """What the database holds at the end of a case."""

    def tally(conn: sa.Connection) -> dict[str, int]:
        def scalar(query: Any) -> int:
            return int(conn.execute(query).scalar_one())

        def count(table: sa.Table, *where: Any) -> int:
            return scalar(sa.select(sa.func.count()).select_from(table).where(*where))

        return {
            "payments": count(payments),
            "paid": count(payments, payments.c.status == "paid"),
            "paid_events": count(events, events.c.type == "payment.paid"),
            "payments_with_one_paid_event": scalar(
                sa.select(sa.func.count()).select_from(
                    sa.select(events.c.payment_id)
                    .where(events.c.type == "payment.paid")
                    .group_by(events.c.payment_id)
                    .having(sa.func.count() == 1)
                    .subquery()
                )
            ),
            "mutations": count(mutations),
            "mutations_matched": count(mutations, mutations.c.status == "matched", mutations.c.payment_id.is_not(None)),
            "payments_with_one_mutation": scalar(
                sa.select(sa.func.count()).select_from(
                    sa.select(mutations.c.payment_id)
                    .where(mutations.c.payment_id.is_not(None))
                    .group_by(mutations.c.payment_id)
                    .having(sa.func.count() == 1)
                    .subquery()
                )
            ),
            "deliveries": count(deliveries),
            "notifications": count(source_notifications),
            "notifications_credited": count(
                source_notifications,
                source_notifications.c.outcome == "credited",
                source_notifications.c.mutation_id.is_not(None),
            ),
        }

    return db.read_sync(tally)


def expected_books(path: str, count: int) -> dict[str, int]:
    notifications = count if path == "sources" else 0
    return {
        "payments": count,
        "paid": count,
        "paid_events": count,
        "payments_with_one_paid_event": count,
        "mutations": count,
        "mutations_matched": count,
        "payments_with_one_mutation": count,
        "deliveries": count,
        "notifications": notifications,
        "notifications_credited": notifications,
    }


# --- one case --------------------------------------------------------------------------------


def kasir_env(target: Target, port: int) -> dict[str, str]:
    return {
        **clean_env(),
        "KASIR_HOME": str(target.home),
        "KASIR_DATABASE_URL": target.url,
        "KASIR_RATE_LIMIT": "0",
        "KASIR_PUBLIC_RATE_LIMIT": "0",
        "KASIR_PAYMENT_TTL": "86400",
        "KASIR_PLATFORM_QRIS": "demo",
        "KASIR_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }


def run_case(kind: str, path: str, batch: int, count: int, connections: int, pg_admin_url: str) -> dict[str, Any]:
    loadavg, pressure = os.getloadavg()[0], cpu_pressure()
    with fresh_database(kind, pg_admin_url) as target:
        settings = Settings(home=target.home, database_url=target.url, payment_ttl=86400, platform_qris="demo")
        db = Database(build_engine(settings.resolved_database_url))
        try:
            with console.status(f"{kind}, {path} ×{batch}: seeding {count:,} pending payments"):
                seeded = seed(db, settings, count)
            port = free_port()
            log = target.home / "serve.log"
            command = [str(BIN / "kasir"), "serve", "--port", str(port), "--no-worker", "--log-level", "warning"]
            with process(command, kasir_env(target, port), log) as serve:
                wait_until_up(serve, port, log)
                base = f"http://127.0.0.1:{port}"
                if path == "sources":
                    created = post_json(
                        base + "/v1/sources",
                        {"name": "HP kasir", "apps": {PACKAGE: CHANNEL}},
                        {"X-API-Key": seeded.api_key},
                    )["source"]
                    url, headers = (
                        f"/v1/sources/{created['id']}/notifications",
                        f"Authorization: Bearer {created['token']}\r\n",
                    )
                else:
                    url, headers = "/v1/mutations", f"X-API-Key: {seeded.api_key}\r\n"
                # Times in the last `count` ms, after the payments were created: one ms apart, so no
                # two notifications are the same one.
                now_ms = int(time.time() * 1000)
                posted_ms = [now_ms - count + i for i in range(count)]
                requests = bodies(path, seeded.finals, batch, posted_ms)
                sizes = [min(batch, count - start) for start in range(0, count, batch)]
                memory_idle = process_memory(serve.pid)
                rounds: dict[str, Any] = {}
                for round_name, expect in zip(ROUNDS, ("matched", "duplicate"), strict=True):
                    with console.status(f"{kind}, {path} ×{batch}: round {round_name}, {len(requests):,} requests"):
                        server_before, client_before = cpu_seconds(serve.pid), time.process_time()
                        tally, elapsed = send_all(port, url, headers, requests, sizes, expect, connections)
                        server_cpu = cpu_seconds(serve.pid) - server_before
                        client_cpu = time.process_time() - client_before
                    ordered = sorted(tally.latencies)
                    rounds[round_name] = {
                        "items": tally.items,
                        "requests": len(ordered),
                        "elapsed_s": round(elapsed, 3),
                        "items_per_s": round(tally.items / elapsed, 1),
                        "requests_per_s": round(len(ordered) / elapsed, 1),
                        "p50_ms": round(_percentile(ordered, 0.50) * 1000, 2),
                        "p99_ms": round(_percentile(ordered, 0.99) * 1000, 2),
                        "max_ms": round(ordered[-1] * 1000, 2),
                        "errors": tally.errors,
                        "error_samples": tally.error_samples,
                        "server_cpu_us_per_item": round(server_cpu / max(tally.items, 1) * 1e6, 1),
                        "server_cores": round(server_cpu / elapsed, 2),
                        "client_cores": round(client_cpu / elapsed, 2),
                    }
                    shown = rounds[round_name]
                    console.log(
                        f"{kind:10} {path:9} ×{batch:<3} {round_name:9} {shown['items_per_s']:9,.0f} items/s  "
                        f"p50 {shown['p50_ms']:8.2f} ms  p99 {shown['p99_ms']:8.2f} ms  "
                        f"server {shown['server_cpu_us_per_item']:6.0f} µs/item"
                        + (f"  [red]{tally.errors} errors[/red]" if tally.errors else "")
                    )
                memory = process_memory(serve.pid)
            found = books(db)
        finally:
            db.dispose()
    expected = expected_books(path, count)
    return {
        "database": kind,
        "database_version": seeded.database_version,
        "path": path,
        "batch": batch,
        "payments": count,
        "connections": connections,
        "rounds": rounds,
        "books": found,
        "books_ok": found == expected,
        "expected_books": expected,
        # The machine's load just before the case: a case run while others' work took the CPU
        # shows here (the ratios of the cases either side of it are then noisier).
        "loadavg1_before": round(loadavg, 2),
        "cpu_pressure_before": pressure,
        "server_memory_mb": {"idle": memory_idle["rss_mb"], "after": memory["rss_mb"], "peak": memory["peak_mb"]},
    }


# --- report ----------------------------------------------------------------------------------


def ratios_of(cases: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """sources ÷ mutations per database, batch size and round: by items/s, by server CPU per item
    (mutations' CPU ÷ sources', so above 1 is sources cheaper, as with items/s)."""
    by = {(c["database"], c["path"], c["batch"]): c for c in cases}
    out: dict[str, dict[str, Any]] = {}
    for (kind, path, batch), case in by.items():
        other = by.get((kind, "mutations", batch))
        if path != "sources" or other is None:
            continue
        for round_name in ROUNDS:
            s, m = case["rounds"][round_name], other["rounds"][round_name]
            out[f"{kind} ×{batch} {round_name}"] = {
                "database": kind,
                "batch": batch,
                "round": round_name,
                "sources_items_per_s": s["items_per_s"],
                "mutations_items_per_s": m["items_per_s"],
                "items_per_s": round(s["items_per_s"] / m["items_per_s"], 3),
                "server_cpu": round(m["server_cpu_us_per_item"] / s["server_cpu_us_per_item"], 3)
                if s["server_cpu_us_per_item"]
                else None,
            }
    return out


def print_report(report: dict[str, Any]) -> None:
    table = Table(title="Payment-source notifications against POST /v1/mutations, same credits")
    for column in (
        "database",
        "batch",
        "round",
        "path",
        "items/s",
        "req/s",
        "p50 ms",
        "p99 ms",
        "µs CPU/item",
        "errors",
    ):
        table.add_column(column, justify="left" if column in ("database", "round", "path") else "right")
    for case in report["cases"]:
        for round_name in ROUNDS:
            r = case["rounds"][round_name]
            errors = r["errors"]
            table.add_row(
                case["database"],
                str(case["batch"]),
                round_name,
                case["path"],
                f"{r['items_per_s']:,.0f}",
                f"{r['requests_per_s']:,.0f}",
                f"{r['p50_ms']:.2f}",
                f"{r['p99_ms']:.2f}",
                f"{r['server_cpu_us_per_item']:.0f}",
                f"[red]{errors}[/red]" if errors else "0",
            )
    console.print(table)
    ratio_table = Table(title="sources ÷ mutations")
    for column in ("database", "batch", "round", "by items/s", "by server CPU/item"):
        ratio_table.add_column(column, justify="left" if column in ("database", "round") else "right")
    for r in report["ratios"].values():
        ratio_table.add_row(
            r["database"],
            str(r["batch"]),
            r["round"],
            f"{r['items_per_s']:.2f}",
            "–" if r["server_cpu"] is None else f"{r['server_cpu']:.2f}",
        )
    console.print(ratio_table)
    for case in report["cases"]:
        if not case["books_ok"]:
            console.print(
                f"[red]{case['database']} {case['path']} ×{case['batch']}: the database is wrong:[/red] "
                f"{case['books']} != {case['expected_books']}"
            )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help=f"smaller sizes ({QUICK['count']:,} and {QUICK['single_count']:,})"
    )
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="sqlite")
    parser.add_argument(
        "--count", type=int, help=f"pending payments (and credits) of the ×500 cases (default {FULL['count']:,})"
    )
    parser.add_argument(
        "--single-count",
        type=int,
        help=f"pending payments (and requests per round) of the ×1 cases (default {FULL['single_count']:,})",
    )
    parser.add_argument("--batches", default="500,1", help="items per request, comma-separated (default 500,1)")
    parser.add_argument("--connections", type=int, default=4, help="concurrent keep-alive connections (default 4)")
    parser.add_argument("--pg-admin-url", default=PG_ADMIN_URL, help="where to create (and drop) scratch databases")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "sources.json")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    args.count = args.count or sizes["count"]
    args.single_count = args.single_count or sizes["single_count"]
    args.batches = [int(b) for b in args.batches.split(",") if b.strip()]
    if min(args.count, args.single_count, args.connections, *args.batches) < 1 or max(args.batches) > 500:
        parser.error("sizes must be positive, and a batch at most 500 (the notifications' limit)")
    return args


def main() -> int:
    args = parse_args()
    for name in [n for n in os.environ if n.startswith("KASIR_")]:
        del os.environ[name]
    kinds = ("sqlite", "postgresql") if args.database == "both" else (args.database,)
    started_at = datetime.now(UTC)
    loadavg_before, pressure_before = os.getloadavg(), cpu_pressure()
    wall = time.time()
    cases = []
    for kind in kinds:
        for batch in args.batches:
            count = args.single_count if batch == 1 else args.count
            # mutations then sources, at each size: the two compared cases run next to each other.
            for path in PATHS:
                cases.append(run_case(kind, path, batch, count, args.connections, args.pg_admin_url))
    errors = sum(r["errors"] for c in cases for r in c["rounds"].values())
    valid = errors == 0 and all(c["books_ok"] for c in cases)
    report = {
        "benchmark": "sources",
        "started_at": started_at.isoformat(timespec="seconds"),
        "command": " ".join(
            [".venv/bin/python", *(os.path.relpath(a, REPO) if a.startswith("/") else a for a in sys.argv)]
        ),
        "quick": args.quick,
        "wall_s": round(time.time() - wall, 1),
        "settings": {
            "count": args.count,
            "single_count": args.single_count,
            "batches": args.batches,
            "connections": args.connections,
            "channel": CHANNEL,
            "package": PACKAGE,
            "server": "kasir serve --no-worker (uvicorn, uvloop, httptools, 1 process), KASIR_RATE_LIMIT=0",
            "client": "asyncio (uvloop + httptools) in the benchmark's process, closed loop",
        },
        "machine": {
            "nproc": os.cpu_count(),
            "cpu_model": cpu_model(),
            "loadavg_before": [round(x, 2) for x in loadavg_before],
            "cpu_pressure_before": pressure_before,
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
            "cpu_pressure_after": cpu_pressure(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "database_versions": sorted({c["database_version"] for c in cases}),
            "packages": package_versions(),
        },
        "cases": cases,
        "ratios": ratios_of(cases),
        "valid": valid,
    }
    print_report(report)
    write_json(args.out, report)
    console.print(f"[dim]written to {args.out} ({report['wall_s']:.0f} s)[/dim]")
    if not valid:
        console.print("[red]some answers or the database were wrong: these figures are not valid[/red]")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
