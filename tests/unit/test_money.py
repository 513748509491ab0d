"""Money parsing: ``statement_amount`` (amounts as statement exports print them) and
``whole_rupiah`` (amounts as API clients send them). Integer rupiah out, never a float. And money
written for people: ``rupiah``, the one format (dots for thousands) every printed amount uses."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import kasir
from kasir.money import rupiah, statement_amount, whole_rupiah

# --- statement_amount -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Indonesian: "." groups thousands, "," starts the (zero) fraction.
        ("50.123", 50123),
        ("Rp 50.123,00", 50123),
        ("Rp. 1.000.000", 1000000),
        ("1.000.000,00", 1000000),
        ("rp1.000", 1000),
        ("RP 1.000", 1000),
        ("50,00", 50),
        # English: "," groups thousands, "." starts the fraction.
        ("50,123.00", 50123),
        ("1,000,000.00", 1000000),
        ("IDR 25,000", 25000),
        ("50.00", 50),
        ("1.0", 1),
        # Plain digits, with or without surrounding space.
        ("50123", 50123),
        ("  50123  ", 50123),
        ("0", 0),
        ("1234567", 1234567),
        # Signs and credit/debit markers: a credit is positive, a debit negative.
        ("-15.000", -15000),
        ("+15.000", 15000),
        ("Rp -15.000", -15000),
        ("- Rp 15.000", -15000),
        ("15.000 DB", -15000),
        ("15.000 db", -15000),
        ("15.000DB", -15000),
        ("15.000 D", -15000),
        ("15.000 CR", 15000),
        ("15.000 cr", 15000),
        ("15.000 K", 15000),
        ("50,000.00 CR", 50000),
        ("15,000.00 DB", -15000),
    ],
)
def test_statement_amount_reads_what_exports_print(text: str, expected: int) -> None:
    amount = statement_amount(text)
    assert amount == expected
    assert type(amount) is int


@pytest.mark.parametrize(
    "text",
    [
        "50.5",  # half a rupiah
        "1,5",
        "1.000,50",
        "50,123.45",
        "50.000,5",
        "12.34.5",  # not an amount in any convention
        "1.000.00",  # "." both for thousands and decimals
        "1,000,00",
        "12.345.67",
        "1.00.000",  # lakh grouping is not rupiah
        "1 000",
        "abc",
        "",
        "   ",
        "Rp",
        "Rp.",
        "-",
        "50.000 XX",
        "USD 50",
        "1e5",
        "50.000,-",
        "٥٠",  # Arabic-Indic digits
    ],
)
def test_statement_amount_refuses_fractions_and_ambiguity(text: str) -> None:
    with pytest.raises(ValueError):
        statement_amount(text)


def test_statement_amount_error_names_the_text() -> None:
    with pytest.raises(ValueError, match=r"12\.34\.5"):
        statement_amount("12.34.5")
    with pytest.raises(ValueError, match="fraction"):
        statement_amount("50.5")


# --- whole_rupiah ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (50000, 50000),
        (0, 0),
        (-5, -5),  # the sign is the caller's business (it checks for a positive amount)
        ("50000", 50000),
        (" 42 ", 42),
        ("-7", -7),
        ("9" * 15, 999_999_999_999_999),
        ("007", 7),
    ],
)
def test_whole_rupiah_takes_integers_and_their_digits(value: Any, expected: int) -> None:
    amount = whole_rupiah(value)
    assert amount == expected
    assert type(amount) is int


@pytest.mark.parametrize(
    "value",
    [
        True,
        False,
        50000.0,
        50.5,
        "50.000",
        "50,000",
        "50000.0",
        "5e3",
        "+5",
        "",
        "   ",
        "1" * 16,
        "Rp 50000",
        "٥٠",
        None,
        [50000],
        {"amount": 50000},
    ],
)
def test_whole_rupiah_refuses_everything_else(value: Any) -> None:
    with pytest.raises(ValueError):
        whole_rupiah(value)


# --- rupiah: the one way amounts are written for people --------------------------------------


@pytest.mark.parametrize(
    ("amount", "written"),
    [
        (0, "0"),
        (7, "7"),
        (999, "999"),
        (1000, "1.000"),
        (15269, "15.269"),
        (75194, "75.194"),
        (1234567, "1.234.567"),
        (10_000_000, "10.000.000"),
        (-15000, "-15.000"),
    ],
)
def test_rupiah_groups_thousands_with_dots(amount: int, written: str) -> None:
    assert rupiah(amount) == written


def test_every_amount_people_read_is_written_by_the_one_rupiah() -> None:
    """The pay page and the buyer messages use kasir.money.rupiah itself, and no module of kasir
    formats money another way (`{amount:,}` printed Rp 75,194 in some commands)."""
    from kasir.delivery.notifiers import buyer_texts
    from kasir.web import routes

    assert vars(routes)["rupiah"] is rupiah  # a name the module imports, not one it exports
    assert vars(buyer_texts)["rupiah"] is rupiah
    package = Path(kasir.__file__).parent
    others = []
    for path in sorted(package.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if path.name != "money.py" and re.search(
            r"def rupiah\b|\{[^}]*(?:amount|total)[^}]*:,\}|\.replace\(\",\", \"\.\"\)", text
        ):
            others.append(str(path.relative_to(package)))
    assert others == []
