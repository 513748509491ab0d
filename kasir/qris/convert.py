"""Static QRIS → dynamic QRIS with the amount embedded (seed 004's "QRIS Converter").

Popular converters do this with string surgery: replace ``010211`` by ``010212``, split on
``5802ID``, glue ``54LL<amount>`` in between. That corrupts any QRIS where those six characters
also occur inside another value (a merchant id, a terminal label), and any QRIS that already
carries an amount. Here the payload is parsed into data objects and rebuilt: only the point of
initiation (01), the amount and fee tags (54–57) and the CRC (63) change; every other data
object is kept byte for byte, in its order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kasir.money import rupiah
from kasir.qris.emv import MAX_AMOUNT, RUPIAH, DataObject, Qris, QrisError, clean, parse, with_crc

REPLACED_TAGS = frozenset({"01", "54", "55", "56", "57", "63"})
_PERCENT = re.compile(r"(?:[1-9][0-9]?|0)(?:\.[0-9]{1,2})?")


@dataclass(frozen=True, slots=True)
class Fee:
    """A convenience fee the buyer's app adds on top (EMV tags 55–57). Kasir's own payments never
    carry one: the credit must equal ``final_amount`` to match. For merchants' own QR codes."""

    indicator: str  # "01" buyer enters a tip, "02" fixed fee, "03" percentage
    value: str | None = None

    @classmethod
    def prompt(cls) -> Fee:
        return cls("01")

    @classmethod
    def fixed(cls, rupiah: int) -> Fee:
        if isinstance(rupiah, bool) or not isinstance(rupiah, int) or not 0 < rupiah <= MAX_AMOUNT:
            raise QrisError("a fixed fee is a positive whole number of rupiah, 13 digits at most", code="invalid_fee")
        return cls("02", str(rupiah))

    @classmethod
    def percent(cls, value: str) -> Fee:
        if not isinstance(value, str) or not _PERCENT.fullmatch(value) or not value.replace(".", "").strip("0"):
            raise QrisError(f"a fee percentage is 0.01–99.99, not {value!r}", code="invalid_fee")
        return cls("03", value)

    def objects(self) -> list[DataObject]:
        extra = {"02": "56", "03": "57"}.get(self.indicator)
        objs = [DataObject("55", self.indicator)]
        if extra is not None and self.value is not None:
            objs.append(DataObject(extra, self.value))
        return objs


def check_amount(amount: object, maximum: int | None = None) -> int:
    """``amount`` as whole rupiah, or a ``QrisError`` saying why not."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise QrisError("the amount must be a whole number of rupiah", code="invalid_amount")
    if amount <= 0:
        raise QrisError(f"the amount must be positive, not {amount}", code="invalid_amount")
    if amount > MAX_AMOUNT:
        raise QrisError(f"the amount {amount} does not fit a QRIS (13 digits at most)", code="amount_out_of_range")
    if maximum is not None and amount > maximum:
        raise QrisError(
            f"the amount Rp {rupiah(amount)} is above the ceiling of Rp {rupiah(maximum)}", code="amount_out_of_range"
        )
    return amount


def to_dynamic(qris: str | Qris, amount: int, fee: Fee | None = None, *, maximum: int | None = None) -> str:
    """The QRIS ``qris`` with ``amount`` rupiah embedded: point of initiation 12, tag 54 (and the
    fee tags) just before the country code (58), a fresh CRC. A dynamic QRIS is accepted too:
    its old amount is replaced."""
    parsed = parse(qris) if isinstance(qris, str) else qris
    check_amount(amount, maximum)
    if parsed.get("53") != RUPIAH:
        raise QrisError(
            f"this QRIS is in currency {parsed.get('53')}, not rupiah (360); Kasir embeds rupiah amounts",
            code="qris_not_rupiah",
        )
    embedded = [DataObject("54", str(amount)), *(fee.objects() if fee is not None else [])]
    rebuilt: list[DataObject] = []
    for obj in parsed.objects:
        if obj.tag in REPLACED_TAGS:
            continue
        if obj.tag == "58":
            rebuilt.extend(embedded)
        rebuilt.append(obj)
        if obj.tag == "00":
            rebuilt.append(DataObject("01", "12"))
    return with_crc(rebuilt)


def check_static(text: str, *, field: str = "qris") -> str:
    """A merchant's counter QRIS, as it will be stored: valid, in rupiah, and static (no amount),
    since every payment embeds its own amount into it. Surrounding whitespace is dropped."""
    text = clean(text)
    try:
        parsed = parse(text)
    except QrisError as exc:
        raise QrisError(f"{field}: {exc.message}", code=exc.code, position=exc.position, field=field) from None
    if parsed.get("53") != RUPIAH:
        raise QrisError(f"{field}: the QRIS is not in rupiah (currency 360)", code="qris_not_rupiah", field=field)
    if parsed.is_dynamic or parsed.get("54") is not None:
        raise QrisError(
            f"{field}: this QRIS is dynamic (it is one payment's QR, with point of initiation 12 or an amount); "
            "give the static QRIS printed at the counter",
            code="qris_not_static",
            field=field,
        )
    return text
