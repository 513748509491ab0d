"""Indonesian phone numbers as people type them (``0812-3456-7890``, ``+62 812 3456 7890``,
``812…``), read once here and written in the form each use needs: the digits WhatsApp addresses
a buyer by (``6281234567890``, :func:`normalise`), or a mobile number as it is dialled at home
(``081234567890``, :func:`domestic_mobile`: a merchant's OVO number)."""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s\-().]")
# National significant numbers in Indonesia: mobile 8 followed by 8 to 11 digits; fixed lines an
# area code (2 to 3 digits) and 5 to 8 digits, 7 to 11 in all (WhatsApp Business runs on both).
_MOBILE = re.compile(r"8[0-9]{8,11}")
_FIXED = re.compile(r"[1-79][0-9]{6,10}")


def normalise(raw: str) -> str:
    """``62`` and the national number, or ``ValueError`` saying what is wrong."""
    return "62" + _national(raw)


def domestic_mobile(raw: str) -> str:
    """``0`` and the national mobile number (``081234567890``), or ``ValueError``.

    The form an OVO account is known by: buyers type it so into OVO's transfer screen, and the
    pay page shows it so. A landline has no OVO account, so only mobile numbers pass."""
    national = _national(raw)
    if not _MOBILE.fullmatch(national):
        raise ValueError("must be an Indonesian mobile number (08…), not a landline")
    return "0" + national


def _national(raw: str) -> str:
    text = _SEPARATORS.sub("", raw)
    if text.startswith("+"):
        text = text[1:]
    elif text.startswith("00"):  # the international prefix dialled from abroad
        text = text[2:]
    if not text.isascii() or not text.isdigit():
        raise ValueError("must be a phone number: digits, with spaces, dashes or a leading + allowed")
    if text.startswith("62"):
        national = text[2:].removeprefix("0")  # "+62 0812…" is a common slip
    elif text.startswith("0"):
        national = text[1:]
    elif text.startswith("8"):
        national = text
    else:
        raise ValueError("must be an Indonesian number (08…, 62… or +62…)")
    if not (_MOBILE.fullmatch(national) or _FIXED.fullmatch(national)):
        raise ValueError("is not a valid Indonesian number (too short or too long)")
    return national
