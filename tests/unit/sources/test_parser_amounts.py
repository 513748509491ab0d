"""Reading an amount in the style its app declares (kasir.sources.parsers.amounts)."""

from __future__ import annotations

import pytest

from kasir.sources.parsers.amounts import COMMA_THOUSANDS_BARE, DOT_THOUSANDS, AmountError, AmountStyle, read_amount


@pytest.mark.parametrize(
    ("raw", "amount"),
    [
        ("1", 1),
        ("10", 10),
        ("1.127", 1127),
        ("18.017", 18017),
        ("1.000,00", 1000),  # not 100,000: the decimals are split off, not stripped
        ("1.500.000", 1_500_000),
        ("1.500.000,00", 1_500_000),  # not 150,000,000
        ("1.500.000,0", 1_500_000),
        ("750000", 750_000),  # BRImo writes no separators
        ("10347", 10_347),
        ("750000,00", 750_000),
        ("10.000.000.000", 10_000_000_000),
    ],
)
def test_dot_thousands(raw: str, amount: int) -> None:
    assert read_amount(raw, DOT_THOUSANDS) == amount


@pytest.mark.parametrize(
    ("raw", "amount"),
    [("1,500,000.00", 1_500_000), ("1,500,000", 1_500_000), ("1,000.00", 1000), ("99", 99), ("1500000.00", 1_500_000)],
)
def test_comma_thousands(raw: str, amount: int) -> None:
    assert read_amount(raw, COMMA_THOUSANDS_BARE) == amount


@pytest.mark.parametrize(
    ("raw", "style"),
    [
        ("10.000,50", DOT_THOUSANDS),
        ("10.000,5", DOT_THOUSANDS),
        ("1,01", DOT_THOUSANDS),
        ("0,50", DOT_THOUSANDS),
        ("1,500.50", COMMA_THOUSANDS_BARE),
        ("1,500.5", COMMA_THOUSANDS_BARE),
    ],
)
def test_a_fraction_is_never_rounded(raw: str, style: AmountStyle) -> None:
    with pytest.raises(AmountError) as caught:
        read_amount(raw, style)
    assert caught.value.code == "amount_fraction"


@pytest.mark.parametrize(
    ("raw", "style"),
    [
        ("1.50.000", DOT_THOUSANDS),  # a group of two
        ("1.5000", DOT_THOUSANDS),
        ("1500.000", DOT_THOUSANDS),  # grouped only in part
        ("1.500,000", DOT_THOUSANDS),  # three decimals
        ("10.00", DOT_THOUSANDS),  # a dot decimal where dots group thousands: ambiguous, refused
        ("1,000", DOT_THOUSANDS),
        ("1.000.00", DOT_THOUSANDS),
        ("01.000", DOT_THOUSANDS),
        ("007", DOT_THOUSANDS),
        ("1.500.000", COMMA_THOUSANDS_BARE),  # Indonesian grouping in an app that writes English
        ("1,50,000.00", COMMA_THOUSANDS_BARE),
        ("1.500,00", COMMA_THOUSANDS_BARE),
    ],
)
def test_malformed(raw: str, style: AmountStyle) -> None:
    with pytest.raises(AmountError) as caught:
        read_amount(raw, style)
    assert caught.value.code == "amount_malformed"


@pytest.mark.parametrize("raw", ["0", "0,00", "10.000.000.001", "99999999999", "9" * 5000])
def test_out_of_range(raw: str) -> None:
    with pytest.raises(AmountError) as caught:
        read_amount(raw, DOT_THOUSANDS)
    assert caught.value.code == "amount_out_of_range"
