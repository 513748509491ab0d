"""What a QRIS says about its merchant, in names people read (seed 004's ``qris-info``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from kasir.qris.emv import Qris, amount_of, crc_of, parse

# Tag 51 carries the national repository's record of the merchant: the NMID and the criteria.
# Its identifier is usually ID.CO.QRIS.WWW (ID.OR.GPNQR.WWW in older codes, the acquirer's own
# domain in some), so it is found by tag, not by name.
NATIONAL_TAG = "51"

# Reverse-domain ids seen in published QRIS (tests/fixtures/qris/public_qris.json), upper-cased.
# Others are reported by id alone rather than guessed at.
KNOWN_ACQUIRERS = {
    "COM.GO-JEK.WWW": "GoPay",
    "ID.DANA.WWW": "DANA",
    "ID.CO.SHOPEE.WWW": "ShopeePay",
    "ID.OVO": "OVO",
    "ID.LINKAJA.WWW": "LinkAja",
    "ID.CO.TELKOM.WWW": "LinkAja",
    "COM.TELKOMSEL.WWW": "Telkomsel",
    "ID.CO.BRI.WWW": "BRI",
    "ID.CO.BNI.WWW": "BNI",
    "ID.CO.BCA.WWW": "BCA",
    "ID.CO.BANKMANDIRI.WWW": "Bank Mandiri",
    "ID.CO.BANKBSI.WWW": "BSI",
    "ID.CO.BANKNEOCOMMERCE.WWW": "Bank Neo Commerce",
    "COM.DOKU.WWW": "DOKU",
    "ID.SPINPAY.WWW": "SpinPay",
    "COM.ASTRAPAY.WWW": "AstraPay",
    "ID.CO.ASTRAPAY.WWW": "AstraPay",
    "ID.OTTOCASH.WWW": "OttoCash",
    "ID.CO.QRIS.WWW": "QRIS national repository",
    "ID.OR.GPNQR.WWW": "GPN QR national repository",
}

# Bank Indonesia's merchant criteria (template 51, sub-tag 03).
CRITERIA = {
    "UMI": "Usaha Mikro",
    "UKE": "Usaha Kecil",
    "UME": "Usaha Menengah",
    "UBE": "Usaha Besar",
    "URE": "Usaha Reguler",
}

ADDITIONAL_DATA = {
    "01": "bill_number",
    "02": "mobile_number",
    "03": "store_label",
    "04": "loyalty_number",
    "05": "reference_label",
    "06": "customer_label",
    "07": "terminal_label",
    "08": "purpose_of_transaction",
    "09": "additional_consumer_data_request",
}


@dataclass(frozen=True, slots=True)
class Acquirer:
    tag: str
    id: str | None  # the globally unique identifier, a reverse domain name
    name: str | None
    merchant_pan: str | None
    merchant_id: str | None
    criteria: str | None


@dataclass(frozen=True, slots=True)
class QrisInfo:
    merchant_name: str
    merchant_city: str
    postal_code: str | None
    country_code: str
    currency: str
    mcc: str
    nmid: str | None
    criteria: str | None
    criteria_name: str | None
    acquirers: list[Acquirer]
    is_dynamic: bool
    amount: int | None
    fee: dict[str, str] | None
    additional_data: dict[str, str] = field(default_factory=dict)
    crc: str = ""
    crc_valid: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def info(qris: str | Qris, *, require_valid_crc: bool = True) -> QrisInfo:
    """Describe ``qris``. ``require_valid_crc=False`` describes a payload whose CRC is wrong (the
    result says so in ``crc_valid``) instead of refusing it; every other rule still applies."""
    if isinstance(qris, Qris):
        parsed, text = qris, qris.serialise()
    else:
        parsed, text = parse(qris, check_crc=require_valid_crc), qris
    acquirers = [_acquirer(obj.tag, parsed) for obj in parsed.merchant_accounts()]
    national = next((a for a in acquirers if a.tag == NATIONAL_TAG), None)
    criteria = national.criteria if national else next((a.criteria for a in acquirers if a.criteria), None)
    additional = parsed.object("62")
    return QrisInfo(
        merchant_name=parsed.get("59") or "",
        merchant_city=parsed.get("60") or "",
        postal_code=parsed.get("61"),
        country_code=parsed.get("58") or "",
        currency=parsed.get("53") or "",
        mcc=parsed.get("52") or "",
        nmid=national.merchant_id if national else None,
        criteria=criteria,
        criteria_name=CRITERIA.get(criteria or ""),
        acquirers=acquirers,
        is_dynamic=parsed.is_dynamic,
        amount=amount_of(parsed),
        fee=_fee(parsed),
        additional_data={
            ADDITIONAL_DATA.get(child.tag, f"tag_{child.tag}"): child.value for child in additional.children or ()
        }
        if additional is not None
        else {},
        crc=parsed.crc,
        crc_valid=crc_of(text[:-4]) == parsed.crc,
    )


def _acquirer(tag: str, parsed: Qris) -> Acquirer:
    obj = parsed.object(tag)
    assert obj is not None
    if obj.children is None:  # 02–25: card schemes' primitive merchant ids
        return Acquirer(tag, None, None, None, obj.value, None)
    guid = obj.child("00")
    return Acquirer(
        tag=tag,
        id=guid,
        name=KNOWN_ACQUIRERS.get((guid or "").upper()),
        merchant_pan=obj.child("01"),
        merchant_id=obj.child("02"),
        criteria=obj.child("03"),
    )


def _fee(parsed: Qris) -> dict[str, str] | None:
    indicator = parsed.get("55")
    if indicator is None:
        return None
    kind = {"01": "tip_prompt", "02": "fixed", "03": "percent"}[indicator]
    value = parsed.get({"02": "56", "03": "57"}.get(indicator, "")) if indicator != "01" else None
    return {"type": kind, **({"value": value} if value is not None else {})}
