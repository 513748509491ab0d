"""API throughput of Kasir against a hello-world route on the same server (the targets: docs/BENCHMARKS.md).

    .venv/bin/python benchmarks/api_bench.py [--duration 10] [--connections 64]
        [--database sqlite|postgresql] [--out benchmarks/results/api-sqlite.json]

One run measures, side by side on one server process (uvicorn + uvloop + httptools, one worker,
no access log, rate limit off):

- ``hello``:  ``GET /hello``, FastAPI's hello world added to Kasir's own app object;
- ``check``:  ``GET /api/check-payment.php?invoice=…`` with a real API key, over 100 payments;
- ``create``: ``POST /api/create-payment.php`` with ``{"amount": N}``, N random in 1,000..500,000;
- ``status``: ``GET /pay/status?invoice=…``, no API key, over the same payments as ``check``: the
  hosted pay page's status poll, which every open pay page sends every 1.5 s.

and reports requests/s, p50/p99 latency and non-2xx responses of each, and the ratios
check/hello (target ≥ 0.50), create/hello (target ≥ 0.25) and status/hello (for information:
there is no target for the pay page). The load comes from
``benchmarks/loadgen.py`` or, with ``--client wrk``, from wrk (``apt-get install -y wrk``); either
runs as a process of its own. Exit status: 1 when any response was not 2xx (the figures are then
not valid), 3 with ``--strict`` when a ratio misses its target, else 0.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from loadgen import cpu_seconds
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url

from kasir import secrets_at_rest
from kasir.clock import utcnow
from kasir.config import Settings
from kasir.db.engine import Database, build_engine
from kasir.db.migrate import upgrade
from kasir.db.tables import payments
from kasir.merchants.service import authenticate, create_merchant
from kasir.payments.service import NewPayment, create_payment

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CASES = ("hello", "check", "create", "status")
# The targets (docs/BENCHMARKS.md), as ratios to hello. A case without one (status) is measured and its ratio
# reported for information, but it never decides ``met`` or ``--strict``.
TARGETS = {"check": 0.50, "create": 0.25}
# Seeded payments must stay pending for the whole run: an expired one would turn check-payment's
# and the pay page's reads into writes (they expire the payment first) and change what is measured.
PAYMENT_TTL = 24 * 3600
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/"

console = Console()


# --- the database ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    kind: str  # sqlite | postgresql
    home: Path  # KASIR_HOME: the SQLite file, the server's log
    url: str  # KASIR_DATABASE_URL


@contextmanager
def fresh_database(kind: str, pg_admin_url: str) -> Iterator[Target]:
    """A brand-new, empty database for this run, removed afterwards."""
    home = Path(tempfile.mkdtemp(prefix="kasir-bench-"))
    # The key the run's secrets are encrypted with: the seeding (load_key below) and every Kasir
    # process of the run (KASIR_HOME) read it from here, on SQLite and PostgreSQL alike.
    secrets_at_rest.write_key_file(home / secrets_at_rest.KEY_FILE, secrets_at_rest.new_key())
    try:
        if kind == "sqlite":
            # In a temp folder on disk, not in memory: commits pay for fsync as they would live.
            yield Target(kind, home, f"sqlite:///{home / 'kasir.db'}")
            return
        admin_url = Settings(database_url=pg_admin_url).resolved_database_url
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        name = f"kasir_bench_{secrets.token_hex(4)}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            url = make_url(pg_admin_url).set(database=name).render_as_string(hide_password=False)
            yield Target(kind, home, url)
        finally:
            with admin.connect() as conn:
                # FORCE: a server that did not exit cleanly must not leave the database behind.
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()
    finally:
        shutil.rmtree(home, ignore_errors=True)


def kasir_settings(target: Target) -> tuple[Settings, dict[str, str]]:
    """The settings the seeding uses, and the same as ``KASIR_*`` variables for the server."""
    settings = Settings(
        home=target.home,
        database_url=target.url,
        rate_limit=0,
        # The load comes from one address; the status case would be throttled as a flood.
        public_rate_limit=0,
        payment_ttl=PAYMENT_TTL,
        platform_qris="demo",
    )
    return settings, {
        "KASIR_HOME": str(target.home),
        "KASIR_DATABASE_URL": target.url,
        "KASIR_RATE_LIMIT": str(settings.rate_limit),
        "KASIR_PUBLIC_RATE_LIMIT": str(settings.public_rate_limit),
        "KASIR_PAYMENT_TTL": str(settings.payment_ttl),
        "KASIR_PLATFORM_QRIS": "demo",  # method qris, as `make run` configures it
    }


@dataclass(frozen=True, slots=True)
class Seed:
    api_key: str
    invoices: list[str]
    database_version: str


def seed(db: Database, settings: Settings, invoice_count: int) -> Seed:
    """Migrate, create a merchant and ``invoice_count`` pending payments, with Kasir's own code,
    before the server starts."""
    upgrade(db.engine)
    secrets_at_rest.load_key(db, settings)
    merchant = db.write_sync(lambda conn: create_merchant(conn, name="Bench Shop", username="bench"))
    key = merchant.test_api_key
    caller = db.read_sync(lambda conn: authenticate(conn, key))
    now = utcnow()
    invoices = db.write_sync(
        lambda conn: [
            create_payment(conn, caller, NewPayment(amount=10_000 + 1_000 * i), settings, now)["invoice_id"]
            for i in range(invoice_count)
        ]
    )
    if db.is_sqlite:
        version = f"SQLite {sqlite3.sqlite_version}"
    else:
        version = db.read_sync(lambda conn: str(conn.exec_driver_sql("SHOW server_version").scalar_one()))
        version = f"PostgreSQL {version}"
    return Seed(key, invoices, version)


def count_payments(db: Database) -> int:
    return int(db.read_sync(lambda conn: conn.execute(sa.select(sa.func.count()).select_from(payments)).scalar_one()))


# --- the server --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(env: dict[str, str], port: int, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "api_server.py"), "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_up(proc, port, log_path)
            yield proc
        finally:
            # SIGTERM lets uvicorn run the lifespan's shutdown (engine disposed, sweeper stopped).
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_until_up(proc: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as response:
                if response.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            time.sleep(0.1)
    raise SystemExit(f"the server did not answer /health within 30 s:\n{log_path.read_text()}")


def process_memory(pid: int) -> dict[str, float | None]:
    """Resident memory of a process, in MB (2**20 bytes), from ``/proc/<pid>/status``: ``rss_mb``
    now, ``peak_mb`` the most it has ever had resident (``VmHWM``, kept by the kernel, so a peak
    between two samples is not missed). None for a process that is gone."""
    found: dict[str, float | None] = {"rss_mb": None, "peak_mb": None}
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found["rss_mb" if name == "VmRSS" else "peak_mb"] = round(int(value.split()[0]) / 1024, 1)  # kB
    return found


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# --- one measurement ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Load:
    port: int
    connections: int
    api_key: str
    invoices: list[str]
    amount_min: int
    amount_max: int


def smoke_test(case: str, load: Load) -> None:
    """One request, checked, before measuring: a wrong key or route must fail the run loudly,
    not show up as a very fast stream of 401s."""
    base = f"http://127.0.0.1:{load.port}"
    headers = {"X-API-Key": load.api_key}
    if case == "hello":
        request = urllib.request.Request(f"{base}/hello")
    elif case == "check":
        request = urllib.request.Request(f"{base}/api/check-payment.php?invoice={load.invoices[0]}", headers=headers)
    elif case == "status":
        # No API key, as the pay page sends it: a route that wrongly asked for one would 401 here.
        request = urllib.request.Request(f"{base}/pay/status?invoice={load.invoices[0]}")
    elif case == "create":
        body = json.dumps({"amount": load.amount_min}).encode()
        request = urllib.request.Request(
            f"{base}/api/create-payment.php",
            data=body,
            headers={**headers, "Content-Type": "application/json"},
            method="POST",
        )
    else:
        raise ValueError(f"unknown case {case!r}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        raise SystemExit(f"{case}: smoke request failed with {exc.code}: {detail}") from None
    if case == "hello":
        ok = answer == {"hello": "world"}
    elif case == "status":
        # Pending, or the poll would be measuring the expire-first write path, not the read.
        ok = answer.get("success") is True and answer.get("payment", {}).get("status") == "pending"
    else:
        ok = answer.get("success") is True
    if not ok:
        raise SystemExit(f"{case}: unexpected answer {answer!r}")


def run_wrk(case: str, load: Load, seconds: int, scratch: Path) -> dict[str, Any]:
    out = scratch / f"wrk-{case}.json"
    env = {
        **os.environ,
        "KASIR_BENCH_CASE": case,
        "KASIR_BENCH_API_KEY": load.api_key,
        "KASIR_BENCH_INVOICES": ",".join(load.invoices),
        "KASIR_BENCH_AMOUNT_MIN": str(load.amount_min),
        "KASIR_BENCH_AMOUNT_MAX": str(load.amount_max),
        "KASIR_BENCH_OUT": str(out),
    }
    # One wrk thread: it keeps 64 connections busy with a fraction of one core, and the server
    # (one process) gets the other.
    command = ["wrk", "-t1", f"-c{load.connections}", f"-d{seconds}s", "--timeout", "10s"]
    command += ["-s", str(HERE / "api_wrk.lua"), f"http://127.0.0.1:{load.port}"]
    # A hung generator must end the run, not the session it runs in.
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, timeout=seconds + 60)
    raw = json.loads(out.read_text())
    return {
        "requests": raw["requests"],
        "rps": raw["requests"] / (raw["duration_us"] / 1e6),
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        # wrk counts a response as an error from status 400 up; the server answers no 3xx here.
        "errors": raw["status_errors"],
        "socket_errors": raw["connect_errors"] + raw["read_errors"] + raw["write_errors"] + raw["timeouts"],
    }


def run_python(case: str, load: Load, warmup: int, duration: int, server_pid: int) -> dict[str, Any]:
    spec = {
        "host": "127.0.0.1",
        "port": load.port,
        "case": case,
        "connections": load.connections,
        "warmup": warmup,
        "duration": duration,
        "api_key": load.api_key,
        "invoices": load.invoices,
        "amount_min": load.amount_min,
        "amount_max": load.amount_max,
        "server_pid": server_pid,
    }
    done = subprocess.run(
        [sys.executable, str(HERE / "loadgen.py")],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        check=False,
        timeout=warmup + duration + 120,  # a hung generator must end the run, not the session
    )
    if done.returncode != 0:
        raise SystemExit(f"loadgen failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def measure(
    case: str, load: Load, client: str, warmup: int, duration: int, server_pid: int, scratch: Path
) -> dict[str, Any]:
    if client == "python":
        # Warm-up and measurement in one run, on the same connections (see loadgen.py); it
        # samples the server's CPU at the edges of the measured window itself.
        result = run_python(case, load, warmup, duration, server_pid)
        server_cpu = result.pop("server_cpu_seconds")
    else:
        # wrk cannot leave a warm-up out of its figures: a separate run, discarded.
        if warmup > 0:
            run_wrk(case, load, warmup, scratch)
        server_before, client_before = cpu_seconds(server_pid), children_cpu_seconds()
        result = run_wrk(case, load, duration, scratch)
        server_cpu = cpu_seconds(server_pid) - server_before
        result["client_cpu"] = (children_cpu_seconds() - client_before) / duration
    # CPU per request is steadier than requests/s on a shared machine: it shows what a request
    # costs the server whatever else was running. With PostgreSQL it leaves out the database's
    # own processes.
    result["server_cpu_us_per_request"] = server_cpu / max(result["requests"], 1) * 1e6
    result["server_cpu"] = server_cpu / duration
    return result


# --- report ------------------------------------------------------------------------------------


def summarize(rounds: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """The median of each figure over the rounds; errors are added up."""
    summary: dict[str, dict[str, Any]] = {}
    for case in CASES:
        runs = [r[case] for r in rounds]
        summary[case] = {
            key: statistics.median(run[key] for run in runs)
            for key in ("rps", "p50_ms", "p99_ms", "server_cpu_us_per_request", "server_cpu", "client_cpu")
        }
        summary[case]["errors"] = sum(run["errors"] for run in runs)
        summary[case]["socket_errors"] = sum(run["socket_errors"] for run in runs)
        summary[case]["requests"] = sum(run["requests"] for run in runs)
    return summary


def package_versions() -> dict[str, str]:
    names = ("fastapi", "starlette", "pydantic", "uvicorn", "uvloop", "httptools", "sqlalchemy", "psycopg")
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def git_revision() -> str | None:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "kasir"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{head}+dirty" if dirty else head


def cpu_pressure() -> float | None:
    """Linux PSI: % of the last 10 s in which some runnable task waited for a CPU. Near 0 on an
    idle machine; high means something else competed with the benchmark."""
    try:
        first = Path("/proc/pressure/cpu").read_text().splitlines()[0]
    except (OSError, IndexError):
        return None
    return float(first.split()[1].removeprefix("avg10="))


def cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def client_version(client: str) -> str:
    if client != "wrk":
        return "benchmarks/loadgen.py (uvloop + httptools)"
    done = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    return (done.stdout or done.stderr).splitlines()[0].strip()


def print_report(report: dict[str, Any]) -> None:
    cases, ratios = report["cases"], report["ratios"]
    settings = report["settings"]
    table = Table(
        title=f"Kasir API on {report['machine']['database_version']}, {settings['connections']} connections, "
        f"{settings['rounds']} × {settings['duration_s']} s per case ({settings['client']})"
    )
    for column in ("case", "req/s", "p50 ms", "p99 ms", "non-2xx", "vs hello", "target", "server µs CPU/req"):
        table.add_column(column, justify="left" if column == "case" else "right")
    for case in CASES:
        row = cases[case]
        ratio = ratios.get(f"{case}/hello")
        target = TARGETS.get(case)
        if ratio is None:
            shown_ratio, shown_target = "1.00", ""
        elif target is None:
            shown_ratio, shown_target = f"{ratio:.2f}", "info"
        else:
            colour = "green" if ratio >= target else "red"
            shown_ratio, shown_target = f"[{colour}]{ratio:.2f}[/{colour}]", f"≥ {target:.2f}"
        errors = row["errors"] + row["socket_errors"]
        table.add_row(
            case,
            f"{row['rps']:,.0f}",
            f"{row['p50_ms']:.2f}",
            f"{row['p99_ms']:.2f}",
            f"[red]{errors}[/red]" if errors else "0",
            shown_ratio,
            shown_target,
            f"{row['server_cpu_us_per_request']:.0f}",
        )
    console.print(table)
    memory = report["server_memory_mb"]
    console.print(
        f"server resident memory: {memory['idle']} MB idle, {memory['after_load']} MB after the load, "
        f"{memory['peak']} MB at its peak"
    )
    pressure = report["machine"]["cpu_pressure_before"]
    if pressure is not None and pressure > 10:
        console.print(
            f"[yellow]note:[/yellow] other processes were competing for the CPU before the run "
            f"(pressure {pressure:.0f} %): the figures are noisier than usual; see cpu_ratios in the JSON"
        )
    busy = [case for case in CASES if cases[case]["client_cpu"] > 0.85]
    if busy:
        console.print(
            f"[yellow]note:[/yellow] the load generator used most of a core in {', '.join(busy)}; "
            "it may have been the limit there (compare with --client wrk)"
        )


def write_json(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(path.name + ".tmp")
    scratch.write_text(json.dumps(report, indent=2) + "\n")
    scratch.replace(path)  # whole or not at all: a stopped run leaves no half-written results


# --- main --------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds measured per case and round (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of discarded load before each (default 2)")
    parser.add_argument("--connections", type=int, default=64, help="concurrent keep-alive connections (default 64)")
    parser.add_argument("--rounds", type=int, default=2, help=f"run the {len(CASES)} cases this many times (default 2)")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-admin-url", default=PG_ADMIN_URL, help="where to create (and drop) a scratch database")
    parser.add_argument(
        "--client",
        choices=("python", "wrk"),
        default="python",
        help="load generator: benchmarks/loadgen.py (default) or wrk, as a cross-check (see README)",
    )
    parser.add_argument(
        "--invoices", type=int, default=100, help="pending payments check and status rotate over (default 100)"
    )
    parser.add_argument("--out", type=Path, help="JSON results (default benchmarks/results/api-DATABASE.json)")
    parser.add_argument("--strict", action="store_true", help="exit 3 when a ratio misses its target")
    args = parser.parse_args()
    if min(args.duration, args.connections, args.rounds, args.invoices) < 1 or args.warmup < 0:
        parser.error("--duration, --connections, --rounds and --invoices must be positive, --warmup ≥ 0")
    return args


def choose_client(requested: str) -> str:
    if requested == "wrk" and shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk, or leave --client at python (the default)")
    return requested


def main() -> int:
    args = parse_args()
    client = choose_client(args.client)
    # The benchmark configures Kasir explicitly; a developer's KASIR_* variables must not leak
    # into the seeding or the server.
    for name in [n for n in os.environ if n.startswith("KASIR_")]:
        del os.environ[name]
    loadavg_before, pressure_before = os.getloadavg(), cpu_pressure()
    started = datetime.now(UTC)

    with fresh_database(args.database, args.pg_admin_url) as target:
        settings, kasir_env = kasir_settings(target)
        db = Database(build_engine(settings.resolved_database_url))
        try:
            seeded = seed(db, settings, args.invoices)
            port = free_port()
            load = Load(
                port=port,
                connections=args.connections,
                api_key=seeded.api_key,
                invoices=seeded.invoices,
                amount_min=settings.min_amount,
                amount_max=settings.max_amount_qris,
            )
            rounds: list[dict[str, dict[str, Any]]] = []
            env = {**os.environ, **kasir_env, "KASIR_PUBLIC_URL": f"http://127.0.0.1:{port}"}
            with server(env, port, target.home / "server.log") as proc:
                memory_idle = process_memory(proc.pid)
                for case in CASES:
                    smoke_test(case, load)
                payments_before = count_payments(db)
                for number in range(1, args.rounds + 1):
                    this_round = {}
                    for case in CASES:
                        with console.status(f"round {number}/{args.rounds}: {case}"):
                            this_round[case] = measure(
                                case, load, client, args.warmup, args.duration, proc.pid, target.home
                            )
                        console.log(
                            f"round {number} {case:6}  {this_round[case]['rps']:8,.0f} req/s  "
                            f"p50 {this_round[case]['p50_ms']:6.2f} ms  p99 {this_round[case]['p99_ms']:6.2f} ms"
                        )
                    rounds.append(this_round)
                payments_created = count_payments(db) - payments_before
                # Read before the server stops: the peak covers every case and round of the run.
                memory_loaded = process_memory(proc.pid)
        finally:
            db.dispose()

    cases = summarize(rounds)
    # Every case against hello, targets or not; only the cases with a target are judged (met).
    compared = [case for case in CASES if case != "hello"]
    ratios = {f"{case}/hello": cases[case]["rps"] / cases["hello"]["rps"] for case in compared}
    met = {f"{case}/hello": ratios[f"{case}/hello"] >= target for case, target in TARGETS.items()}
    # The same comparison by server CPU per request: less moved by whatever else shares the
    # machine, so a check on the headline ratios when the machine was busy.
    cpu_ratios = {
        f"{case}/hello": cases["hello"]["server_cpu_us_per_request"] / cases[case]["server_cpu_us_per_request"]
        for case in compared
    }
    errors = sum(cases[case]["errors"] + cases[case]["socket_errors"] for case in CASES)
    report = {
        "benchmark": "api",
        "started_at": started.isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "settings": {
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "rounds": args.rounds,
            "connections": args.connections,
            "invoices": args.invoices,
            "amount_range": [load.amount_min, load.amount_max],
            "client": client,
            "server": "uvicorn, uvloop, httptools, 1 process, no access log, "
            "KASIR_RATE_LIMIT=0, KASIR_PUBLIC_RATE_LIMIT=0",
        },
        "machine": {
            "nproc": os.cpu_count(),
            "cpu_model": cpu_model(),
            "loadavg_before": [round(x, 2) for x in loadavg_before],
            "cpu_pressure_before": pressure_before,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "database": args.database,
            "database_version": seeded.database_version,
            "client_version": client_version(client),
            "packages": package_versions(),
            "kasir_revision": git_revision(),
        },
        "cases": cases,
        "ratios": ratios,
        "cpu_ratios": cpu_ratios,
        "targets": {f"{case}/hello": target for case, target in TARGETS.items()},
        "met": met,
        # Every created payment is a row: a create that answered 2xx without writing would show here.
        "payments_created": payments_created,
        # The server process (Kasir's app with its background work, as `kasir serve` runs it):
        # resident MB when idle before the first request, after the last case, and at its peak.
        "server_memory_mb": {
            "idle": memory_idle["rss_mb"],
            "after_load": memory_loaded["rss_mb"],
            "peak": memory_loaded["peak_mb"],
        },
        "valid": errors == 0,
        "rounds": rounds,
    }
    out = args.out or HERE / "results" / f"api-{args.database}.json"
    print_report(report)
    write_json(out, report)
    console.print(f"results written to {out}")
    if errors:
        console.print(f"[red]{errors} requests failed (non-2xx or socket errors): these figures are not valid[/red]")
        return 1
    if args.strict and not all(met.values()):
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
