"""When to try again (docs/receiving.md, "What arrives"): the schedule is a list of delays with
±20 % jitter, so that a receiver coming back up is not hit by every retry at the same instant;
``Retry-After`` on 429 and 503 is honoured within bounds; 410 Gone means stop."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

JITTER = 0.2


def schedule_delay(attempts_made: int, schedule: list[int], rng: random.Random | None = None) -> float | None:
    """Seconds until the next try after ``attempts_made`` failed tries, or None when the
    schedule is used up and the delivery has failed for good."""
    if attempts_made > len(schedule):
        return None
    base = schedule[attempts_made - 1]
    return base * (rng or random).uniform(1 - JITTER, 1 + JITTER)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from ``Retry-After``: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def honoured_retry_after(status: int | None, header: str | None, now: datetime, ceiling: int) -> float | None:
    if status not in (429, 503):
        return None
    seconds = parse_retry_after(header, now)
    if seconds is None:
        return None
    return min(max(seconds, 1.0), float(ceiling))
