"""Time: stored in UTC, shown in Asia/Jakarta (WIB) the way bayar.gg shows it.

WIB is a fixed UTC+7 with no daylight saving, so a fixed offset is exact and spares every
deployment a tzdata dependency.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

WIB = timezone(timedelta(hours=7), "WIB")
WIRE_FORMAT = "%Y-%m-%d %H:%M:%S"


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_wire(moment: datetime | None) -> str | None:
    """``2026-04-16 12:25:30`` in WIB, as seed 004 prints every timestamp."""
    if moment is None:
        return None
    m = moment.astimezone(WIB)
    # The same text as strftime(WIRE_FORMAT), at a fraction of its cost (every answer has four).
    return f"{m.year:04d}-{m.month:02d}-{m.day:02d} {m.hour:02d}:{m.minute:02d}:{m.second:02d}"


def wib_day_start(day: date) -> datetime:
    """The UTC instant at which ``day`` begins in Jakarta."""
    return datetime.combine(day, time.min, tzinfo=WIB).astimezone(UTC)


def today_wib(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(WIB).date()
