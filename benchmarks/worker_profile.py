"""Where the delivery worker's CPU goes: cProfile of ``kasir.delivery.worker.Worker`` delivering
pre-written events to the benchmark receiver, as ``delivery_bench.py``'s worker-alone case does,
but in this process so that the profile covers the worker and nothing else.

    .venv/bin/python benchmarks/worker_profile.py [--database sqlite|postgresql] [--events 5000]
        [--top 30] [--out FILE.pstats]

Prints the functions by their own time (``tottime``) and by cumulative time, and the µs of CPU
per delivery. The profiler slows everything down by a similar factor, so read the shares, not
the absolute figures.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvloop
from api_bench import PG_ADMIN_URL, fresh_database
from delivery_bench import create_events, kasir_settings, receiver, seed

from kasir.db.engine import Database, build_engine
from kasir.delivery.worker import Worker


async def deliver(worker: Worker, rx_stats: Callable[[], dict[str, Any]], events: int) -> None:
    task = asyncio.create_task(worker.run())
    while True:
        await asyncio.sleep(0.05)
        if (await asyncio.to_thread(rx_stats))["distinct"] >= events:
            break
    worker.stop()
    await task


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--pg-admin-url", default=PG_ADMIN_URL)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as scratch,
        receiver(Path(scratch)) as rx,
        fresh_database(args.database, args.pg_admin_url) as target,
    ):
        settings = kasir_settings(target)
        db = Database(build_engine(settings.resolved_database_url))
        try:
            seeded = seed(db, settings, rx.url)
            create_events(db, seeded, args.events, 500)
        finally:
            db.dispose()
        rx.reset()
        # As `kasir worker` builds it: a bookkeeping engine of its own.
        worker_db = Database(build_engine(settings.resolved_database_url, bookkeeping=True))
        worker = Worker(worker_db, settings)
        profile = cProfile.Profile()
        cpu, wall = time.process_time(), time.perf_counter()
        profile.enable()
        try:
            uvloop.run(deliver(worker, rx.stats, args.events))
        finally:
            profile.disable()
            worker_db.dispose()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"attempts by outcome: {dict(worker.metrics.outcomes)}")
    print(
        f"{args.events:,} deliveries on {args.database} in {wall:.1f} s, {cpu / args.events * 1e6:.0f} µs of CPU "
        "per delivery under the profiler"
    )
    stats = pstats.Stats(profile).strip_dirs()
    stats.sort_stats("tottime").print_stats(args.top)
    stats.sort_stats("cumulative").print_stats(args.top)
    if args.out:
        stats.dump_stats(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
