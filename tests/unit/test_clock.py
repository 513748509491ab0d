from __future__ import annotations

from datetime import UTC, date, datetime

from kasir.clock import to_wire, today_wib, wib_day_start


def test_wire_format_is_wib() -> None:
    assert to_wire(datetime(2026, 4, 16, 5, 25, 30, tzinfo=UTC)) == "2026-04-16 12:25:30"
    assert to_wire(None) is None


def test_wib_day_boundaries() -> None:
    assert wib_day_start(date(2026, 4, 16)) == datetime(2026, 4, 15, 17, 0, tzinfo=UTC)
    assert today_wib(datetime(2026, 4, 15, 17, 0, tzinfo=UTC)) == date(2026, 4, 16)
    assert today_wib(datetime(2026, 4, 15, 16, 59, 59, tzinfo=UTC)) == date(2026, 4, 15)


def test_wire_format_matches_strftime_everywhere() -> None:
    from kasir.clock import WIB, WIRE_FORMAT

    for moment in (datetime(1999, 12, 31, 16, 59, 59, tzinfo=UTC), datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)):
        assert to_wire(moment) == moment.astimezone(WIB).strftime(WIRE_FORMAT)
