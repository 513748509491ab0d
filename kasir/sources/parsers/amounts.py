"""Amounts as each app writes them, read into whole rupiah.

Every app module declares its :class:`AmountStyle`; the reader accepts that style and nothing else.
Stripping every separator is what published parsers do, and it reads ``Rp 1.500.000,00`` as
150,000,000: here the decimal part is split off by the app's own decimal separator, a fraction
other than zero is refused (rupiah have no cents, and rounding would pay an order that was
underpaid), and a group that is not three digits is refused rather than guessed at.
Same strictness as :func:`kasir.money.statement_amount`, with the style fixed per app instead of
inferred, because a notification's ``1.500`` is never ambiguous to the app that wrote it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_AMOUNT = 10_000_000_000  # above any single QRIS payment; a larger figure is a misread
_MAX_DIGITS = len(str(MAX_AMOUNT))

# What a rule captures: digits with any separators, ending on a digit so a sentence's full stop
# stays out. Deliberately loose: a malformed amount inside an incoming phrase must come out as
# Invalid ("amount_malformed"), not slip through as an unknown text.
_CAPTURE = r"(?P<amount>[0-9](?:[0-9.,]*[0-9])?)"


class AmountError(ValueError):
    """An amount that cannot be taken; ``code`` is the :class:`~.results.Invalid` code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class AmountStyle:
    """How one app writes an amount."""

    thousands: str  # the grouping separator; an ungrouped figure ("750000") is always accepted
    decimal: str  # the separator before a fraction ("1.500.000,00")
    currency: str  # a regex for what precedes the figure, "" when the app writes none

    @property
    def pattern(self) -> str:
        """The regex a rule's ``{amount}`` stands for: the currency, then the captured figure."""
        return self.currency + _CAPTURE

    @property
    def shape(self) -> str:
        t, d = re.escape(self.thousands), re.escape(self.decimal)
        grouped = rf"[1-9][0-9]{{0,2}}(?:{t}[0-9]{{3}})+"
        return rf"(?P<whole>{grouped}|0|[1-9][0-9]*)(?:{d}(?P<fraction>[0-9]{{1,2}}))?"

    def describe(self) -> str:
        return f"thousands {self.thousands!r}, decimals {self.decimal!r}"


# "Rp" glued or spaced, with or without a full stop: "Rp10", "Rp 1.500.000", "Rp. 10.000".
_RUPIAH = r"Rp\.? ?"

# Indonesian: 1.500.000,00 (GoPay, DANA, ShopeePay, BRImo, BNI, Nobu…).
DOT_THOUSANDS = AmountStyle(thousands=".", decimal=",", currency=_RUPIAH)
# English, without a currency: MyBCA's "Pemasukan 1,500,000.00".
COMMA_THOUSANDS_BARE = AmountStyle(thousands=",", decimal=".", currency="")


def read_amount(raw: str, style: AmountStyle) -> int:
    """``raw`` (a figure a rule captured) in whole rupiah, or :class:`AmountError`."""
    match = re.fullmatch(style.shape, raw)
    if match is None:
        raise AmountError("amount_malformed", f"{raw!r} is not an amount written {style.describe()}")
    fraction = match["fraction"]
    if fraction is not None and int(fraction) != 0:
        raise AmountError("amount_fraction", f"{raw!r} has a fraction of a rupiah; it is not rounded")
    digits = match["whole"].replace(style.thousands, "")
    amount = int(digits) if len(digits) <= _MAX_DIGITS else MAX_AMOUNT + 1
    if not 0 < amount <= MAX_AMOUNT:
        raise AmountError("amount_out_of_range", f"{raw!r} is outside 1..{MAX_AMOUNT} rupiah")
    return amount
