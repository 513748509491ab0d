"""Money is integer rupiah. Parsing it from the outside world is where floats would sneak in;
writing it for people is :func:`rupiah`, the one format every command, page and message uses."""

from __future__ import annotations

import re
from typing import Any

_STATEMENT_AMOUNT = re.compile(
    r"""^(?P<sign>[-+])?\s*(?:rp\.?|idr)?\s*(?P<sign2>[-+])?\s*
        (?P<int>[0-9]{1,3}(?:(?P<sep>[.,])[0-9]{3})?(?:(?P=sep)[0-9]{3})*|[0-9]+)
        (?:(?P<dec>[.,])(?P<frac>[0-9]{1,2}))?\s*(?P<cr>cr|db|k|d)?$""",
    re.IGNORECASE | re.VERBOSE,
)


def whole_rupiah(value: Any, field: str = "amount") -> int:
    """Money is an int: JSON integers, or digit strings as forms send them. No floats, no
    ``"50.000"``, no booleans (``True`` is an int to Python, not to a merchant)."""
    if isinstance(value, bool):
        raise ValueError("must be a whole number of rupiah")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]{1,15}\s*", value):
        return int(value)
    raise ValueError("must be a whole number of rupiah, without decimals or separators")


def statement_amount(text: str) -> int:
    """An amount as bank and e-wallet statement exports print it, in whole rupiah.

    ``50.123``, ``Rp 50.123``, ``50,123.00``, ``50.123,00``, ``-15.000``, ``15.000 DB`` all parse;
    a credit is positive, a debit negative. A fraction other than zero is refused (rupiah have no
    cents), and so is anything ambiguous.
    """
    match = _STATEMENT_AMOUNT.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not an amount")
    whole, separator, decimal = match["int"], match["sep"], match["dec"]
    if separator is not None and decimal == separator:
        raise ValueError(f"{text!r} uses {separator!r} both for thousands and decimals")
    if match["frac"] is not None and int(match["frac"]) != 0:
        raise ValueError(f"{text!r} has a fraction of a rupiah")
    amount = int(whole.replace(".", "").replace(",", ""))
    negative = "-" in (match["sign"] or "", match["sign2"] or "") or (match["cr"] or "").lower() in ("db", "d")
    return -amount if negative else amount


def rupiah(amount: int) -> str:
    """``75194`` → ``75.194``: dots group thousands, as Indonesians write it (``75,194`` reads as
    seventy-five rupiah with a fraction to them). Without the ``Rp``: callers write ``Rp {…}``
    in their own sentence, and the pay page marks the last three digits of this string."""
    return f"{amount:,}".replace(",", ".")
