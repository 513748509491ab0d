"""The API's time filters (``since``) read a time the way every other input of Kasir does
(kasir.clock.parse_moment): without an offset it is WIB, the zone of every time the API shows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kasir.api.schemas import parse_time
from kasir.clock import parse_moment
from kasir.errors import InvalidRequest


@pytest.mark.parametrize(
    "text",
    ["2026-11-22T09:00:00", "2026-11-22 09:00:00", "2026-11-22T09:00", "2026-11-22t09:00:00"],
)
def test_a_time_without_an_offset_is_wib_as_everywhere_else(text: str) -> None:
    expected = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
    assert parse_time(text, "since") == expected
    assert parse_moment(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-22T02:00:00Z", datetime(2026, 11, 22, 2, 0, tzinfo=UTC)),
        ("2026-11-22t02:00:00z", datetime(2026, 11, 22, 2, 0, tzinfo=UTC)),
        ("2026-11-22T09:00:00+07:00", datetime(2026, 11, 22, 2, 0, tzinfo=UTC)),
        ("1795312800", datetime(2026, 11, 22, 2, 0, tzinfo=UTC)),
        ("0", datetime(1970, 1, 1, tzinfo=UTC)),
    ],
)
def test_offsets_and_unix_seconds_mean_what_they_say(text: str, expected: datetime) -> None:
    assert parse_time(text, "since") == expected


@pytest.mark.parametrize("text", ["yesterday", "2026-11-22", "2026-13-01T00:00:00", "12:00", "1e9", "-5"])
def test_anything_else_is_a_400_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        parse_time(text, "since")
    assert refused.value.field == "since"


def test_no_filter_is_none() -> None:
    assert parse_time(None, "since") is None
    assert parse_time("", "since") is None
