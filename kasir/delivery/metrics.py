"""Delivery metrics in Prometheus' text format.

Counters and the latency histogram live in the process that sends (``kasir serve`` or
``kasir worker``); the queue gauges are read from the database when scraped, so any node shows
the whole queue. A few dozen lines do this without a global registry.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter

from kasir.delivery.states import AttemptOutcome

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


# What an attempt can end as: one of AttemptOutcome, or put off by the rate limit without a try.
DEFERRED = "deferred"
OUTCOMES = (*AttemptOutcome, DEFERRED)


class DeliveryMetrics:
    def __init__(self) -> None:
        self.outcomes: Counter[str] = Counter()
        self._bucket_counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self._latency_sum = 0.0
        self._latency_count = 0

    def observe(self, outcome: str, seconds: float | None) -> None:
        self.outcomes[outcome] += 1
        if seconds is not None:
            self._bucket_counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
            self._latency_sum += seconds
            self._latency_count += 1

    def render(self) -> list[str]:
        lines = [
            "# HELP kasir_delivery_attempts_total Delivery attempts by outcome.",
            "# TYPE kasir_delivery_attempts_total counter",
        ]
        for outcome in OUTCOMES:
            lines.append(f'kasir_delivery_attempts_total{{outcome="{outcome}"}} {self.outcomes[outcome]}')
        lines += [
            "# HELP kasir_delivery_attempt_seconds Time from sending a request to its answer or error.",
            "# TYPE kasir_delivery_attempt_seconds histogram",
        ]
        cumulative = 0
        for bound, count in zip(LATENCY_BUCKETS, self._bucket_counts, strict=False):
            cumulative += count
            lines.append(f'kasir_delivery_attempt_seconds_bucket{{le="{bound}"}} {cumulative}')
        lines.append(f'kasir_delivery_attempt_seconds_bucket{{le="+Inf"}} {self._latency_count}')
        lines.append(f"kasir_delivery_attempt_seconds_sum {self._latency_sum:.6f}")
        lines.append(f"kasir_delivery_attempt_seconds_count {self._latency_count}")
        return lines
