"""``parse_moment``: a point in time from outside (unix seconds, ISO 8601, or a WIB wall time)
as an aware UTC datetime; ``ValueError`` for anything else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from kasir.clock import parse_moment

# 2026-04-16 12:25:30 in Jakarta.
INSTANT = datetime(2026, 4, 16, 5, 25, 30, tzinfo=UTC)


def assert_utc(moment: datetime, expected: datetime) -> None:
    assert moment == expected
    assert moment.utcoffset() == timedelta(0)
    assert moment.tzinfo is UTC


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1776317130, INSTANT),
        (0, datetime(1970, 1, 1, tzinfo=UTC)),
        ("1776317130", INSTANT),
        ("  1776317130\n", INSTANT),
        ("100000000", datetime(1973, 3, 3, 9, 46, 40, tzinfo=UTC)),  # 9 digits
        ("999999999", datetime(2001, 9, 9, 1, 46, 39, tzinfo=UTC)),
        ("100000000000", datetime(5138, 11, 16, 9, 46, 40, tzinfo=UTC)),  # 12 digits
    ],
)
def test_unix_seconds(value: Any, expected: datetime) -> None:
    assert_utc(parse_moment(value), expected)


@pytest.mark.parametrize(
    "value",
    [
        "2026-04-16T05:25:30Z",
        "2026-04-16 05:25:30Z",
        "2026-04-16T05:25:30+00:00",
        "2026-04-16T12:25:30+07:00",
        "2026-04-16T12:25:30+0700",
        "2026-04-16T00:25:30-05:00",
        "2026-04-15T21:25:30-08:00",
        "  2026-04-16T05:25:30Z  ",
    ],
)
def test_iso_8601_with_an_offset(value: str) -> None:
    assert_utc(parse_moment(value), INSTANT)


def test_iso_fractions_of_a_second_are_kept() -> None:
    assert_utc(parse_moment("2026-04-16T05:25:30.5Z"), INSTANT.replace(microsecond=500000))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-04-16 12:25:30", INSTANT),
        ("2026-04-16T12:25:30", INSTANT),
        ("2026-04-16 12:25", INSTANT.replace(second=0)),
        # Before 07:00 in Jakarta it is still the previous day in UTC.
        ("2026-04-16 03:00:00", datetime(2026, 4, 15, 20, 0, tzinfo=UTC)),
        ("2026-01-01 00:00:00", datetime(2025, 12, 31, 17, 0, tzinfo=UTC)),
        # The last second a datetime can hold in WIB is still representable in UTC.
        ("9999-12-31 23:59:59", datetime(9999, 12, 31, 16, 59, 59, tzinfo=UTC)),
        ("0001-01-01 07:00:00", datetime(1, 1, 1, 0, 0, tzinfo=UTC)),
    ],
)
def test_a_time_without_offset_is_wib(value: str, expected: datetime) -> None:
    assert_utc(parse_moment(value), expected)


def test_naive_times_can_be_read_in_another_zone() -> None:
    assert_utc(parse_moment("2026-04-16 05:25:30", naive=UTC), INSTANT)
    assert_utc(parse_moment("2026-04-16 14:25:30", naive=timezone(timedelta(hours=9))), INSTANT)
    # An explicit offset wins over ``naive``.
    assert_utc(parse_moment("2026-04-16T12:25:30+07:00", naive=UTC), INSTANT)


@pytest.mark.parametrize(
    "value",
    [
        # Not a time at all.
        True,
        False,
        None,
        1776317130.0,
        [1776317130],
        INSTANT,
        "",
        "   ",
        "abc",
        "now",
        # Digits, but not 9 to 12 of them (milliseconds, or too short to be a plausible time).
        "12345678",
        "1776317130000",
        "-1776317130",
        "+1776317130",
        # Dates without a time, and day-first dates: statements handle those themselves.
        "2026-04-16",
        "16/04/2026 12:25:30",
        "16-04-2026 12:25:30",
        # Shapes ISO 8601 does not allow, or that name a zone instead of an offset.
        "2026-04-16 12:25:30 WIB",
        "2026-04-16 12:25:30 +07:00",
        "2026/04/16 12:25:30",
        "26-04-16 12:25:30",
        # Impossible calendar or clock values.
        "2026-13-01 00:00:00",
        "2026-02-30 00:00:00",
        "2026-04-16 25:00:00",
        "2026-04-16 12:60:00",
        "2026-04-16T12:25:30+25:00",
        "0000-01-01 00:00:00",
    ],
)
def test_anything_else_is_refused(value: Any) -> None:
    with pytest.raises(ValueError):
        parse_moment(value)


@pytest.mark.parametrize(
    "value",
    [
        # Years a datetime cannot hold once moved to UTC.
        "0001-01-01 00:00:00",  # WIB: seven hours before year 1 begins in UTC
        "0001-01-01T06:59:59+07:00",
        "9999-12-31T23:59:59-01:00",
        "9999-12-31T20:00:00-05:00",
        # Unix seconds far outside what a datetime holds.
        "999999999999",
        1776317130000,
        10**20,
        -(10**20),
    ],
)
def test_out_of_range_moments_are_a_value_error(value: Any) -> None:
    with pytest.raises(ValueError):
        parse_moment(value)
