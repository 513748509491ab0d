"""Order numbers: ``WA{yymmdd}-{4 of A-Z0-9}``, the date being the day in WIB (UTC+7), as the
merchant and the buyer in Indonesia see it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from kasir.store.orders import new_order_number

FORMAT = re.compile(r"WA[0-9]{6}-[A-Z0-9]{4}")


@pytest.mark.parametrize(
    ("moment", "day"),
    [
        (datetime(2026, 3, 28, 20, 0, tzinfo=UTC), "260329"),  # 03:00 WIB the next day
        (datetime(2026, 3, 28, 16, 59, 59, tzinfo=UTC), "260328"),  # 23:59:59 WIB
        (datetime(2026, 3, 28, 17, 0, tzinfo=UTC), "260329"),  # midnight WIB
        (datetime(2026, 3, 29, 0, 0, tzinfo=UTC), "260329"),
        (datetime(2026, 12, 31, 17, 0, tzinfo=UTC), "270101"),  # a new year in Jakarta first
        (datetime(2028, 2, 28, 18, 30, tzinfo=UTC), "280229"),  # a leap day
        (datetime(2026, 3, 29, 2, 0, tzinfo=timezone(timedelta(hours=9))), "260329"),  # WIT, 00:00 WIB
        (datetime(2026, 3, 29, 0, 30, tzinfo=timezone(timedelta(hours=8))), "260328"),  # WITA, 23:30 WIB
    ],
)
def test_the_date_is_the_day_in_wib(moment: datetime, day: str) -> None:
    number = new_order_number(moment)
    assert FORMAT.fullmatch(number), number
    assert number.startswith(f"WA{day}-")


def test_suffixes_are_drawn_from_upper_case_letters_and_digits() -> None:
    now = datetime(2026, 3, 28, 20, 0, tzinfo=UTC)
    numbers = {new_order_number(now) for _ in range(2000)}
    assert all(FORMAT.fullmatch(n) for n in numbers)
    # 36^4 = 1,679,616 per day: 2,000 draws almost never repeat, and use the whole alphabet.
    assert len(numbers) >= 1990
    used = {ch for n in numbers for ch in n.split("-")[1]}
    assert used == set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
