"""EMVCo merchant-presented QR (MPM) payloads, which QRIS is: TLV data objects, their nested
templates, validation and the CRC.

A payload is a run of data objects, each ``TT LL value``: a two-digit tag, a two-digit length
(in characters) and the value. Tags 26–51 (merchant account information), 62 (additional data)
and 64 (language template) hold data objects of their own; 80–99 may. The payload ends with tag
63, the CRC-16/CCITT-FALSE of everything before its four hex digits.

Parsing keeps every value exactly as it was written, so ``serialise(parse(text)) == text`` for
every payload we accept: converting a merchant's QRIS never rewrites what we did not mean to.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from kasir.errors import InvalidRequest

# Nested templates that must themselves be well-formed TLV (EMV MPM 4.6–4.8).
STRICT_TEMPLATES = frozenset({*(f"{tag:02d}" for tag in range(26, 52)), "62", "64"})
# Unreserved templates: usually TLV, but their content is the owner's business.
LOOSE_TEMPLATES = frozenset(f"{tag:02d}" for tag in range(80, 100))
MANDATORY = {
    "00": "payload format indicator",
    "52": "merchant category code",
    "53": "transaction currency",
    "58": "country code",
    "59": "merchant name",
    "60": "merchant city",
}
MERCHANT_ACCOUNT_TAGS = frozenset(f"{tag:02d}" for tag in range(2, 52))
RUPIAH = "360"
MAX_PAYLOAD = 512  # EMV MPM: a payload is at most 512 characters (and a QR code must hold it)
MAX_AMOUNT_LENGTH = 13  # EMV: tag 54 (and 56) hold at most 13 characters
MAX_AMOUNT = 10**MAX_AMOUNT_LENGTH - 1

_DIGITS = frozenset("0123456789")
_CRC_DIGITS = frozenset("0123456789ABCDEF")
# EMV: "ans" values are printable; a control character is a copy-paste accident or an attack.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")  # C0, DEL, C1, line/paragraph separators
_AMOUNT = re.compile(r"[0-9]{1,13}(?:\.[0-9]{1,2})?")
_PERCENT = re.compile(r"[0-9]{1,2}(?:\.[0-9]{1,2})?")


class QrisError(InvalidRequest):
    """A payload that is not a valid QRIS. ``code`` says which rule it broke, ``position`` (when
    known) is the index in the string where the problem starts."""

    code = "invalid_qris"

    def __init__(self, message: str, *, code: str, position: int | None = None, field: str = "qris") -> None:
        super().__init__(message, code=code, field=field)
        self.position = position


# --- CRC ------------------------------------------------------------------------------------


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: polynomial 0x1021, initial value 0xFFFF, no reflection, no xor-out.
    That is ``binascii.crc_hqx`` started at 0xFFFF (CRC-CCITT in C): a payment's QRIS is
    checksummed on every create-payment."""
    return binascii.crc_hqx(data, 0xFFFF)


def crc_of(payload_up_to_6304: str) -> str:
    """The four uppercase hex digits that follow ``6304``, computed over everything before them
    (``6304`` included)."""
    return f"{crc16_ccitt_false(payload_up_to_6304.encode('utf-8')):04X}"


def is_valid(qris: str) -> bool:
    """Whether ``qris`` passes ``parse``: structure, mandatory tags, formats and CRC."""
    try:
        parse(qris)
    except QrisError:
        return False
    return True


# --- data objects ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DataObject:
    tag: str
    value: str
    # The nested data objects of a template, parsed from ``value``; None for a primitive value
    # (or a loose template that is not TLV). ``value`` stays the source of truth.
    children: tuple[DataObject, ...] | None = None

    def encode(self) -> str:
        return encode(self.tag, self.value)

    def child(self, tag: str) -> str | None:
        for child in self.children or ():
            if child.tag == tag:
                return child.value
        return None


def encode(tag: str, value: str) -> str:
    if len(tag) != 2 or not set(tag) <= _DIGITS:
        raise ValueError(f"tag {tag!r} is not two digits")
    if len(value) > 99:
        raise ValueError(f"tag {tag}: a value is at most 99 characters, not {len(value)}")
    return f"{tag}{len(value):02d}{value}"


def serialise(objects: Iterable[DataObject]) -> str:
    return "".join(obj.encode() for obj in objects)


def with_crc(objects_without_crc: Iterable[DataObject]) -> str:
    """The payload of ``objects`` followed by its CRC object."""
    body = serialise(objects_without_crc) + "6304"
    if len(body) + 4 > MAX_PAYLOAD:
        raise QrisError(
            f"the QRIS would be {len(body) + 4} characters; an EMV payload holds at most {MAX_PAYLOAD}",
            code="qris_too_long",
        )
    return body + crc_of(body)


def _scan(text: str, offset: int, where: str) -> Iterator[tuple[str, str, int]]:
    """(tag, value, position) of each data object in ``text``, which starts at ``offset`` of the
    whole payload (for error positions)."""
    pos = 0
    end = len(text)
    while pos < end:
        at = offset + pos
        if end - pos < 4:
            raise QrisError(
                f"{where}: the data object at position {at} is cut short ({text[pos:]!r} has no tag and length)",
                code="qris_truncated",
                position=at,
            )
        tag, length_text = text[pos : pos + 2], text[pos + 2 : pos + 4]
        if not set(tag) <= _DIGITS:
            raise QrisError(
                f"{where}: tag {tag!r} at position {at} is not two digits", code="qris_invalid_tag", position=at
            )
        if not set(length_text) <= _DIGITS:
            raise QrisError(
                f"{where}: the length of tag {tag} at position {at} is {length_text!r}, not two digits",
                code="qris_invalid_length",
                position=at + 2,
            )
        length = int(length_text)
        if pos + 4 + length > end:
            raise QrisError(
                f"{where}: tag {tag} at position {at} says {length} characters, but only {end - pos - 4} remain",
                code="qris_length_overflow",
                position=at + 2,
            )
        yield tag, text[pos + 4 : pos + 4 + length], at
        pos += 4 + length


def _children(tag: str, value: str, at: int) -> tuple[DataObject, ...] | None:
    if tag in STRICT_TEMPLATES:
        try:
            return _parse_template(value, at + 4, f"template {tag}")
        except QrisError as exc:
            raise QrisError(exc.message, code="qris_invalid_template", position=exc.position) from None
    if tag in LOOSE_TEMPLATES:
        try:
            return _parse_template(value, at + 4, f"template {tag}")
        except QrisError:
            return None
    return None


def _parse_template(value: str, offset: int, where: str) -> tuple[DataObject, ...]:
    children = []
    seen: set[str] = set()
    for tag, child_value, at in _scan(value, offset, where):
        if tag in seen:
            raise QrisError(f"{where}: tag {tag} appears twice", code="qris_duplicate_tag", position=at)
        seen.add(tag)
        children.append(DataObject(tag, child_value))
    return tuple(children)


# --- the payload ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Qris:
    """A parsed payload: its data objects in their original order, CRC object included."""

    objects: tuple[DataObject, ...]

    def get(self, tag: str) -> str | None:
        for obj in self.objects:
            if obj.tag == tag:
                return obj.value
        return None

    def object(self, tag: str) -> DataObject | None:
        for obj in self.objects:
            if obj.tag == tag:
                return obj
        return None

    def serialise(self) -> str:
        return serialise(self.objects)

    @property
    def is_dynamic(self) -> bool:
        return self.get("01") == "12"

    @property
    def crc(self) -> str:
        return self.objects[-1].value

    def merchant_accounts(self) -> list[DataObject]:
        return [obj for obj in self.objects if obj.tag in MERCHANT_ACCOUNT_TAGS]


def parse(text: str, *, check_crc: bool = True) -> Qris:
    """Parse and validate a QRIS payload, or raise ``QrisError`` naming the first rule broken.

    Strict on purpose: the text is taken exactly as given. Callers that accept pasted input
    strip the surrounding whitespace themselves (``clean``). ``check_crc=False`` still requires
    the CRC object to be there and well-formed; it is for describing a damaged payload.
    """
    if not isinstance(text, str) or not text:
        raise QrisError("the QRIS is empty", code="qris_empty")
    if text != text.rstrip():
        raise QrisError(
            "the QRIS ends in whitespace (a copy-paste leftover?); the CRC must be its last characters",
            code="qris_trailing_whitespace",
            position=len(text.rstrip()),
        )
    if not text.startswith("0002"):
        raise QrisError(
            "this is not a QRIS: an EMV merchant-presented QR starts with 000201", code="not_qris", position=0
        )
    if len(text) > MAX_PAYLOAD:
        raise QrisError(
            f"the QRIS is {len(text)} characters; an EMV payload holds at most {MAX_PAYLOAD}", code="qris_too_long"
        )
    control = _CONTROL.search(text)
    if control is not None:
        raise QrisError(
            f"the QRIS holds a control character at position {control.start()}",
            code="qris_invalid_character",
            position=control.start(),
        )
    return _parse_cached(text, check_crc)


@lru_cache(maxsize=256)
def _parse_cached(text: str, check_crc: bool) -> Qris:
    # Cached: a merchant's static QRIS is parsed again for every payment it takes.
    objects: list[DataObject] = []
    seen: set[str] = set()
    for tag, value, at in _scan(text, 0, "QRIS"):
        if tag in seen:
            raise QrisError(
                f"tag {tag} appears twice (second at position {at})", code="qris_duplicate_tag", position=at
            )
        if "63" in seen:
            raise QrisError(
                f"tag {tag} follows the CRC (tag 63); the CRC must be the last data object",
                code="qris_crc_not_last",
                position=at,
            )
        seen.add(tag)
        objects.append(DataObject(tag, value, _children(tag, value, at)))
    qris = Qris(tuple(objects))
    _check_crc(text, qris, check_crc)
    _check_fields(qris)
    return qris


def _check_crc(text: str, qris: Qris, check_crc: bool) -> None:
    last = qris.objects[-1]
    if last.tag != "63":
        raise QrisError("the QRIS has no CRC (tag 63) at its end", code="qris_crc_missing")
    if len(last.value) != 4 or not set(last.value) <= _CRC_DIGITS:
        raise QrisError(
            f"the CRC is {last.value!r}; it must be four uppercase hex digits",
            code="qris_crc_format",
            position=len(text) - len(last.value),
        )
    if check_crc:
        expected = crc_of(text[:-4])
        if expected != last.value:
            raise QrisError(
                f"the CRC is {last.value} but the payload's CRC is {expected}: the QRIS was altered or mistyped",
                code="qris_crc_mismatch",
                position=len(text) - 4,
            )


def _invalid(tag: str, message: str) -> QrisError:
    return QrisError(f"tag {tag} ({message})", code="qris_invalid_field")


def _check_fields(qris: Qris) -> None:
    if qris.objects[0].tag != "00":
        raise QrisError("the payload format indicator (tag 00) must come first", code="not_qris", position=0)
    for tag, name in MANDATORY.items():
        if qris.get(tag) is None:
            raise QrisError(f"the QRIS has no {name} (tag {tag})", code="qris_missing_tag")
    if not qris.merchant_accounts():
        raise QrisError("the QRIS names no merchant account (tags 02–51)", code="qris_missing_tag")
    if qris.get("00") != "01":
        raise _invalid("00", f"payload format indicator is {qris.get('00')!r}, must be '01'")
    initiation = qris.get("01")
    if initiation is not None and initiation not in ("11", "12"):
        raise _invalid("01", f"point of initiation is {initiation!r}, must be 11 (static) or 12 (dynamic)")
    mcc = qris.get("52") or ""
    if len(mcc) != 4 or not set(mcc) <= _DIGITS:
        raise _invalid("52", f"merchant category code is {mcc!r}, must be four digits")
    currency = qris.get("53") or ""
    if len(currency) != 3 or not set(currency) <= _DIGITS:
        raise _invalid("53", f"currency is {currency!r}, must be an ISO 4217 numeric code")
    country = qris.get("58") or ""
    if len(country) != 2 or not country.isascii() or not country.isalpha():
        raise _invalid("58", f"country is {country!r}, must be two letters")
    amount = qris.get("54")
    if amount is not None:
        _check_amount(amount, currency)
    _check_fee(qris)
    for obj in qris.objects:
        if obj.tag in MERCHANT_ACCOUNT_TAGS and obj.tag >= "26" and obj.child("00") is None:
            raise QrisError(
                f"merchant account template {obj.tag} has no globally unique identifier (sub-tag 00)",
                code="qris_invalid_template",
            )
        if obj.tag in ("59", "60") and not obj.value.strip():
            raise _invalid(obj.tag, "is blank")


def _check_amount(amount: str, currency: str) -> None:
    if len(amount) > MAX_AMOUNT_LENGTH or not _AMOUNT.fullmatch(amount):
        raise QrisError(
            f"tag 54 (amount) is {amount!r}: digits with an optional '.' decimal part", code="qris_invalid_amount"
        )
    whole, _, fraction = amount.partition(".")
    if int(whole or "0") == 0 and int(fraction or "0") == 0:
        raise QrisError("tag 54 (amount) is zero; a QRIS without an amount omits the tag", code="qris_invalid_amount")
    if currency == RUPIAH and fraction.strip("0"):
        raise QrisError(f"tag 54 (amount) is {amount!r}: rupiah have no fractions", code="qris_invalid_amount")


def _check_fee(qris: Qris) -> None:
    indicator = qris.get("55")
    if indicator is None:
        return
    if indicator == "02":
        fixed = qris.get("56")
        if fixed is None or len(fixed) > MAX_AMOUNT_LENGTH or not _AMOUNT.fullmatch(fixed):
            raise _invalid("56", f"fixed convenience fee is {fixed!r}; tag 55 = 02 needs an amount")
    elif indicator == "03":
        percent = qris.get("57")
        if percent is None or not _PERCENT.fullmatch(percent):
            raise _invalid("57", f"convenience fee percentage is {percent!r}; tag 55 = 03 needs 0.01–99.99")
    elif indicator != "01":
        raise _invalid("55", f"tip indicator is {indicator!r}, must be 01, 02 or 03")


def clean(text: str) -> str:
    """Pasted input as people send it: without the surrounding whitespace or line breaks."""
    return text.strip()


def amount_of(qris: Qris) -> int | None:
    """Tag 54 in whole rupiah (a valid rupiah QRIS has no fraction), or None when absent or in
    another currency with a fraction."""
    amount = qris.get("54")
    if amount is None:
        return None
    whole, _, fraction = amount.partition(".")
    if fraction.strip("0"):
        return None
    return int(whole)
