"""The QRIS engine's cost per call, against the string-split converter most projects publish.

Kasir parses the payload into data objects and rebuilds it (kasir/qris/convert.py); the popular
recipe replaces ``010211``, splits on ``5802ID`` and glues the amount in. The recipe is wrong for
some payloads (docs/qris.md), but it is the cheapest conversion there is, so it is the baseline:
the ratio says what correctness costs. Measured in one run, over the published fixtures, with a
fresh static QRIS per call where caching would flatter Kasir.

    .venv/bin/python benchmarks/qris_bench.py [--seconds 2] [--out benchmarks/results/qris.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from kasir.qris import emv, image
from kasir.qris.convert import to_dynamic
from kasir.qris.emv import crc_of

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "qris" / "public_qris.json"


def naive_convert(qris: str, amount: int) -> str:
    """The recipe of the popular converters, as they publish it."""
    body = qris[:-4].replace("010211", "010212")
    head, tail = body.split("5802ID", 1)
    value = str(amount)
    payload = f"{head}54{len(value):02d}{value}5802ID{tail}"
    return payload + crc_of(payload)


def rate(call: Callable[[int], object], seconds: float) -> float:
    """Calls per second, median of three timed runs."""
    results = []
    for _ in range(3):
        count, started = 0, time.perf_counter()
        deadline = started + seconds / 3
        while time.perf_counter() < deadline:
            for _ in range(50):
                call(count)
                count += 1
        results.append(count / (time.perf_counter() - started))
    return statistics.median(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/qris.json"))
    args = parser.parse_args()

    statics = [e["qris"] for e in json.loads(FIXTURES.read_text())["valid"] if e["static"] and "5802ID" in e["qris"]]
    # Distinct strings so that parse's cache does not answer: the same payloads with their merchant
    # city (tag 60) varied, CRC recomputed.
    fresh = []
    for n in range(5000):
        base = emv.parse(statics[n % len(statics)])
        objects = [
            emv.DataObject(o.tag, f"{o.value[:10]}{n:05d}"[:15] if o.tag == "60" else o.value, o.children)
            for o in base.objects[:-1]
        ]
        fresh.append(emv.with_crc(objects))
    dynamic = to_dynamic(statics[0], 50347)
    png = image.render_png(dynamic, 400)

    cases: dict[str, Callable[[int], object]] = {
        "naive string-split convert (baseline)": lambda i: naive_convert(fresh[i % len(fresh)], 50_000 + i % 999),
        "kasir to_dynamic, new static each call": lambda i: to_dynamic(fresh[i % len(fresh)], 50_000 + i % 999),
        "kasir to_dynamic, a merchant's static (parse cached)": lambda i: to_dynamic(statics[0], 50_000 + i % 999),
        "kasir parse + validate": lambda i: emv._parse_cached.__wrapped__(fresh[i % len(fresh)], True),
        "render PNG 400 px": lambda i: image.render_png.__wrapped__(dynamic, 400),
        "read QR from PNG": lambda i: image.read_codes(png),
    }
    results = {name: rate(call, args.seconds) for name, call in cases.items()}
    baseline = results["naive string-split convert (baseline)"]
    print(f"{'case':55} {'calls/s':>10} {'µs/call':>9} {'÷ baseline':>10}")
    for name, per_second in results.items():
        print(f"{name:55} {per_second:10,.0f} {1e6 / per_second:9.1f} {per_second / baseline:10.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "machine": {"python": platform.python_version(), "processor": platform.machine()},
                "calls_per_second": results,
                "ratio_to_naive_convert": {name: value / baseline for name, value in results.items()},
            },
            indent=2,
        )
        + "\n"
    )
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
