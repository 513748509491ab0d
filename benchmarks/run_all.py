"""``make bench``: every benchmark with a target (docs/BENCHMARKS.md) in one run, then the report.

    .venv/bin/python benchmarks/run_all.py            # a few minutes; what `make bench` runs
    .venv/bin/python benchmarks/run_all.py --quick    # a smoke test of the whole chain, ~2 min
        [--parts delivery,api,matching,qris,sources] [--results benchmarks/results] [--docs docs/BENCHMARKS.md]

It runs the existing benchmarks one after the other, each as a process of its own with sizes
chosen so the whole run takes a few minutes on a 2-core machine, each writing its JSON under
``--results``:

- ``delivery_bench.py``: webhook deliveries/s (the worker alone and end to end, SQLite and
  PostgreSQL with 1, 2 and 4 workers) against the bare aiohttp loop and Celery; paid → received
  latency at 50, 200 and 1,000 events/s;
- ``api_bench.py``, on SQLite then PostgreSQL: create-payment and check-payment (and, for
  information, the pay page's status poll) against a hello-world route on the same server, load
  from ``loadgen.py`` in its own process;
- ``matching_bench.py``: 100,000 credits against 100,000 pending payments, against raw writes;
- ``qris_bench.py``: the QRIS engine per call, against the naive converter (for information);
- ``sources_bench.py``: payment-source notifications ingested per second, 500 and 1 per request,
  against ``POST /v1/mutations`` with the same credits (for information: no §9 target).

Resident memory of ``kasir serve`` is read by the delivery (end to end) and API benchmarks.
Then ``report.py`` turns the JSON into ``docs/BENCHMARKS.md`` and its SVG plots. This script adds
``run.json``: the machine, the load on it before, during and after each part, each part's
command, wall time and exit status, and what was skipped and why.

PostgreSQL (``--pg-admin-url``) and Redis (``--redis-url``, for Celery) are checked first; what
needs one that does not answer is skipped and the report says so, rather than the run failing
half-way. Exit status: 0 when every part ran and its figures are valid (a missed target is not a
failure: the report shows it), 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import platform
import shlex
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from api_bench import PG_ADMIN_URL, cpu_model, cpu_pressure, git_revision, package_versions, write_json
from delivery_bench import REDIS_URL

from kasir.config import Settings

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PARTS = ("delivery", "api", "matching", "qris", "sources")


# --- sizes ------------------------------------------------------------------------------------


def part_commands(args: argparse.Namespace, results: Path, pg: bool, celery: bool) -> dict[str, list[list[str]]]:
    """Each part's command lines. The sizes are what keeps the full run at a few minutes here:
    each is the smallest that still gives stable figures (see benchmarks/README.md)."""
    py = sys.executable
    quick = args.quick
    delivery = [py, str(HERE / "delivery_bench.py"), "--out", str(results / "delivery.json")]
    delivery += ["--pg-admin-url", args.pg_admin_url, "--redis-url", args.redis_url]
    # 10,000 webhooks per throughput case: 2-5 s of sending each, long enough that start-up
    # is noise; Celery, ~10× slower, gets 3,000 (its rate is flat after the first hundreds).
    delivery += ["--events", "1000" if quick else "10000", "--celery-events", "300" if quick else "3000"]
    delivery += ["--pg-workers", "1,2,4", "--latency-rates", "50,200,1000"]
    # 4 s per rate: 200 to 4,000 events per latency case (at 50/s the p99 rests on 2 samples); a
    # saturated case (PostgreSQL at 1,000/s) takes several times that to commit what it was given.
    delivery += ["--latency-seconds", "1" if quick else "4", "--latency-warmup", "0.5" if quick else "1"]
    skip = [s for s, off in (("postgresql", not pg), ("celery", not celery)) if off]
    if skip:
        delivery += ["--skip", ",".join(skip)]

    api = []
    for kind in ("sqlite", "postgresql") if pg else ("sqlite",):
        command = [py, str(HERE / "api_bench.py"), "--database", kind, "--pg-admin-url", args.pg_admin_url]
        # 2 rounds of 5 s per case (hello, check, create, status interleaved), medians reported.
        command += ["--duration", "1" if quick else "5", "--warmup", "1", "--rounds", "1" if quick else "2"]
        command += ["--out", str(results / f"api-{kind}.json")]
        api.append(command)

    matching = [py, str(HERE / "matching_bench.py"), "--database", "both" if pg else "sqlite"]
    # The realistic arrival order only: the shuffled worst case doubles the time and is in the
    # README for whoever wants it (`make bench-matching`).
    matching += ["--order", "realistic", "--count", "5000" if quick else "100000"]
    matching += ["--pg-admin-url", args.pg_admin_url, "--out", str(results / "matching.json")]

    qris = [py, str(HERE / "qris_bench.py"), "--seconds", "0.3" if quick else "1", "--out", str(results / "qris.json")]

    # Notifications from a payment source against POST /v1/mutations with the same credits, 500
    # and 1 per request (its own sizes: --quick 10,000 and 2,000 payments, else 20,000 and 5,000).
    sources = [py, str(HERE / "sources_bench.py"), "--database", "both" if pg else "sqlite"]
    sources += ["--pg-admin-url", args.pg_admin_url, "--out", str(results / "sources.json")]
    sources += ["--quick"] if quick else []
    return {"delivery": [delivery], "api": api, "matching": [matching], "qris": [qris], "sources": [sources]}


# --- the machine and its load ------------------------------------------------------------------


def cpu_busy_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # guest time is already inside user
    return total - idle, total


def busy_cores(seconds: float = 3.0) -> float:
    """Cores busy on the whole machine over ``seconds``: before and after the run, when none of
    the benchmark's processes run, this is everybody else's load."""
    busy0, total0 = cpu_busy_jiffies()
    time.sleep(seconds)
    busy1, total1 = cpu_busy_jiffies()
    return round((busy1 - busy0) / max(total1 - total0, 1) * (os.cpu_count() or 1), 2)


@dataclass
class LoadSampler:
    """Load average and CPU pressure every few seconds while the run goes on, in a thread."""

    interval: float = 5.0
    samples: list[dict[str, float | None]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.samples.append({"t": time.time(), "loadavg1": os.getloadavg()[0], "cpu_pressure": cpu_pressure()})

    def __enter__(self) -> LoadSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def between(self, start: float, end: float) -> dict[str, float | None]:
        window = [s for s in self.samples if start <= (s["t"] or 0) <= end]
        loads = [s["loadavg1"] for s in window if s["loadavg1"] is not None]
        pressures = [s["cpu_pressure"] for s in window if s["cpu_pressure"] is not None]
        return {
            "loadavg1_mean": round(sum(loads) / len(loads), 2) if loads else None,
            "loadavg1_max": round(max(loads), 2) if loads else None,
            "cpu_pressure_mean": round(sum(pressures) / len(pressures), 1) if pressures else None,
            "cpu_pressure_max": round(max(pressures), 1) if pressures else None,
        }


def memory_total_mb() -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return None


def virtualised() -> bool | None:
    with contextlib.suppress(OSError):
        return " hypervisor" in Path("/proc/cpuinfo").read_text()
    return None


def postgres_version(admin_url: str) -> tuple[str | None, str | None]:
    """(version, None) when PostgreSQL answers, else (None, why not)."""
    try:
        engine = sa.create_engine(Settings(database_url=admin_url).resolved_database_url)
        try:
            with engine.connect() as conn:
                return f"PostgreSQL {conn.exec_driver_sql('SHOW server_version').scalar_one()}", None
        finally:
            engine.dispose()
    except Exception as exc:  # any failure means: no PostgreSQL for this run, and why
        return None, f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def redis_version(url: str) -> tuple[str | None, str | None]:
    try:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=3)
        try:
            return f"Redis {client.info('server')['redis_version']}", None
        finally:
            client.close()
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}"


# --- main -------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the chain, the figures mean little")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}")
    parser.add_argument("--results", type=Path, default=HERE / "results", help="where the JSON goes")
    parser.add_argument("--docs", type=Path, default=REPO / "docs" / "BENCHMARKS.md", help="the report to write")
    parser.add_argument("--pg-admin-url", default=PG_ADMIN_URL, help="PostgreSQL where scratch databases are made")
    parser.add_argument("--redis-url", default=REDIS_URL, help="the Redis of the Celery baseline")
    args = parser.parse_args()
    args.parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    if not args.parts or set(args.parts) - set(PARTS):
        parser.error(f"--parts: some of {', '.join(PARTS)}")
    return args


def main() -> int:
    args = parse_args()
    started_at, started = datetime.now(UTC), time.time()
    results: Path = args.results.resolve()
    results.mkdir(parents=True, exist_ok=True)
    # A run's children are configured by the benchmarks themselves; a developer's KASIR_*
    # variables must not reach them.
    env = {k: v for k, v in os.environ.items() if not k.startswith("KASIR_")}

    print("checking PostgreSQL and Redis, and measuring the machine's load before the run…", flush=True)
    pg_version, pg_problem = postgres_version(args.pg_admin_url)
    redis_v, redis_problem = redis_version(args.redis_url)
    skipped: dict[str, str] = {}
    if pg_problem:
        skipped["postgresql"] = f"PostgreSQL at {args.pg_admin_url} did not answer ({pg_problem})"
    if importlib.util.find_spec("celery") is None:
        skipped["celery"] = "Celery is not installed: pip install -e '.[bench]' (make bench does)"
    elif redis_problem:
        skipped["celery"] = f"Redis at {args.redis_url} did not answer ({redis_problem})"
    for what, why in skipped.items():
        print(f"  skipping {what}: {why}", flush=True)
    commands = part_commands(args, results, pg="postgresql" not in skipped, celery="celery" not in skipped)

    machine: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model(),
        "virtualised": virtualised(),
        "memory_mb": memory_total_mb(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "sqlite": f"SQLite {sqlite3.sqlite_version}",
        "postgresql": pg_version,
        "redis": redis_v,
        "packages": package_versions(),
        "kasir_revision": git_revision(),
        "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        "cpu_pressure_before": cpu_pressure(),
        "busy_cores_before": busy_cores(),  # everybody else's: nothing of ours runs yet
    }
    parts: dict[str, dict[str, Any]] = {}
    with LoadSampler() as sampler:
        for name in args.parts:
            part: dict[str, Any] = {"commands": [], "exit_codes": []}
            parts[name] = part
            part_started = time.time()
            part["loadavg_before"] = [round(x, 2) for x in os.getloadavg()]
            part["cpu_pressure_before"] = cpu_pressure()
            busy0, total0 = cpu_busy_jiffies()
            for command in commands[name]:
                shown = shlex.join(
                    [
                        Path(command[0]).name,
                        *(os.path.relpath(c, REPO) if c.startswith("/") else c for c in command[1:]),
                    ]
                )
                print(f"\n=== {name}: {shown}", flush=True)
                part["commands"].append(shown)
                code = subprocess.run(command, cwd=REPO, env=env, check=False).returncode
                part["exit_codes"].append(code)
            busy1, total1 = cpu_busy_jiffies()
            part["wall_s"] = round(time.time() - part_started, 1)
            part["busy_cores"] = round((busy1 - busy0) / max(total1 - total0, 1) * (os.cpu_count() or 1), 2)
            part["load_during"] = sampler.between(part_started, time.time())
            part["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
            part["cpu_pressure_after"] = cpu_pressure()
            part["ok"] = all(code == 0 for code in part["exit_codes"])
            print(f"=== {name}: {part['wall_s']:.0f} s, exit {part['exit_codes']}", flush=True)
        load_during = sampler.between(started, time.time())
    benchmarks_wall = time.time() - started
    machine["busy_cores_after"] = busy_cores()
    machine["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    machine["load_during"] = load_during

    run = {
        "benchmark": "run_all",
        "started_at": started_at.isoformat(timespec="seconds"),
        # What reproduces it: `make bench` runs this script with BENCH_ARGS appended.
        "command": shlex.join([".venv/bin/python", "benchmarks/run_all.py", *sys.argv[1:]]),
        "via_make": bool(os.environ.get("MAKELEVEL")),
        "quick": args.quick,
        "wall_s": round(benchmarks_wall, 1),
        "machine": machine,
        "parts": parts,
        "skipped": skipped,
    }
    write_json(results / "run.json", run)

    import report  # here: its imports are only needed once the figures exist

    report.write(results, args.docs)
    print(
        f"\nwall time {benchmarks_wall / 60:.1f} min; results in {os.path.relpath(results, REPO)}, report {args.docs}"
    )
    return 0 if all(p["ok"] for p in parts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
