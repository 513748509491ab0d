"""What a notification is, and the four things reading one can come to.

Kept apart from the package's ``__init__`` so the engine and the app modules can name these types
without importing the registry that imports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias


@dataclass(frozen=True, slots=True)
class Notification:
    """One Android notification as the merchant's phone forwards it."""

    package: str  # Android package of the app that posted it
    title: str
    text: str
    big_text: str | None = None  # the expanded text when the app set one; may hold more than text


@dataclass(frozen=True, slots=True)
class Incoming:
    """Money in to the merchant."""

    amount: int  # whole rupiah, > 0
    parser: str  # the app module's name, e.g. "gopay_merchant"
    reference: str | None = None  # a transaction id the text itself names, else None
    payer: str | None = None  # the payer's name when the text names one


@dataclass(frozen=True, slots=True)
class Ignored:
    """Not money in: the merchant paying someone, a promotion, an OTP…"""

    reason: str  # snake_case: "outgoing", "promotion", "otp", "superseded"…
    parser: str


@dataclass(frozen=True, slots=True)
class Unparsed:
    """Nothing understood this notification: the caller stores it raw for review; nothing is guessed."""

    reason: str  # "no_rule", or "no_parser" when the package has no parser module at all


@dataclass(frozen=True, slots=True)
class Invalid:
    """An incoming phrase matched but the amount it names cannot be taken."""

    code: str  # "amount_fraction", "amount_malformed", "amount_out_of_range"
    message: str
    parser: str


Result: TypeAlias = Incoming | Ignored | Unparsed | Invalid
