"""The EMV MPM parser and validator (kasir.qris.emv) and what ``info`` reads out of a payload.

The public fixtures (tests/fixtures/qris/public_qris.json) are real QRIS published in public
projects; the crafted inputs below each break exactly one rule, starting from ``VALID_QRIS`` or a
fixture, with the CRC re-computed wherever the rule under test is not the CRC itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kasir.errors import InvalidRequest
from kasir.qris.emv import (
    DataObject,
    QrisError,
    amount_of,
    clean,
    crc16_ccitt_false,
    crc_of,
    encode,
    is_valid,
    parse,
    serialise,
    with_crc,
)
from kasir.qris.info import info
from tests.conftest import VALID_QRIS

FIXTURES: dict[str, list[dict[str, Any]]] = json.loads(
    (Path(__file__).parents[2] / "fixtures" / "qris" / "public_qris.json").read_text(encoding="utf-8")
)
VALID = FIXTURES["valid"]
INVALID = FIXTURES["invalid"]


def _id(case: dict[str, Any]) -> str:
    return f"{case['acquirer']}-{case['merchant_name'].strip()}-{case['qris'][-4:]}"


# --- helpers: an independent TLV reader and payload builders --------------------------------


def tlv(text: str) -> list[tuple[str, str]]:
    """(tag, value) of each data object, read without kasir's parser."""
    out, pos = [], 0
    while pos < len(text):
        tag, length = text[pos : pos + 2], int(text[pos + 2 : pos + 4])
        out.append((tag, text[pos + 4 : pos + 4 + length]))
        pos += 4 + length
    assert pos == len(text), f"TLV does not end cleanly in {text!r}"
    return out


def obj(tag: str, value: str) -> str:
    return f"{tag}{len(value):02d}{value}"


def sign(body: str) -> str:
    """``body`` (everything before the CRC object) followed by ``6304`` and its CRC."""
    return body + "6304" + crc_of(body + "6304")


def body_of(qris: str) -> str:
    assert qris[-8:-4] == "6304"
    return qris[:-8]


def build(pairs: list[tuple[str, str]]) -> str:
    return sign("".join(obj(tag, value) for tag, value in pairs))


def variant(changes: dict[str, str | None], base: str = VALID_QRIS) -> str:
    """``base`` with some values replaced (None drops the tag; a tag ``base`` lacks goes just before
    58), lengths and CRC re-computed."""
    pairs = [pair for pair in tlv(base) if pair[0] != "63"]
    present = {tag for tag, _ in pairs}
    out: list[tuple[str, str]] = []
    for tag, value in pairs:
        if tag == "58":
            out += [(t, v) for t, v in changes.items() if v is not None and t not in present]
        if tag in changes:
            if changes[tag] is not None:
                out.append((tag, changes[tag]))  # type: ignore[arg-type]
        else:
            out.append((tag, value))
    return build(out)


def refused(text: str, **kwargs: Any) -> QrisError:
    with pytest.raises(QrisError) as caught:
        parse(text, **kwargs)
    return caught.value


# --- CRC ------------------------------------------------------------------------------------


def test_crc_matches_the_catalogue_check_value() -> None:
    # CRC-16/CCITT-FALSE's published check value for "123456789".
    assert crc16_ccitt_false(b"123456789") == 0x29B1


def test_crc_of_the_empty_input_is_the_initial_value() -> None:
    assert crc16_ccitt_false(b"") == 0xFFFF


def test_crc_is_four_uppercase_hex_digits() -> None:
    assert crc_of("000201010211") == f"{crc16_ccitt_false(b'000201010211'):04X}"
    assert crc_of("123456789") == "29B1"
    assert crc_of("") == "FFFF"
    # Zero-padded to four digits: the CRC of these bytes is below 0x1000.
    padded = next(text for text in (str(n) for n in range(100_000)) if crc16_ccitt_false(text.encode()) < 0x1000)
    assert len(crc_of(padded)) == 4
    assert crc_of(padded).startswith("0")


def test_crc_covers_everything_up_to_and_including_6304() -> None:
    for case in VALID:
        qris = case["qris"]
        assert qris[-8:-4] == "6304"
        assert crc_of(qris[:-4]) == qris[-4:]


def test_with_crc_appends_the_crc_object() -> None:
    objects = parse(VALID_QRIS).objects
    assert with_crc(objects[:-1]) == VALID_QRIS


def test_encode_refuses_bad_tags_and_long_values() -> None:
    assert encode("59", "abc") == "5903abc"
    assert encode("59", "x" * 99) == "5999" + "x" * 99
    with pytest.raises(ValueError):
        encode("5", "abc")
    with pytest.raises(ValueError):
        encode("5A", "abc")
    with pytest.raises(ValueError):
        encode("59", "x" * 100)


# --- the public fixtures --------------------------------------------------------------------


@pytest.mark.parametrize("case", VALID, ids=_id)
def test_public_valid_qris_parses_and_serialises_back(case: dict[str, Any]) -> None:
    qris = case["qris"]
    parsed = parse(qris)
    assert is_valid(qris)
    assert parsed.serialise() == qris
    assert serialise(parsed.objects) == qris
    # The same data objects an independent reader finds, in the same order.
    assert [(o.tag, o.value) for o in parsed.objects] == tlv(qris)
    assert parsed.objects[0] == DataObject("00", "01")
    assert parsed.objects[-1].tag == "63"
    assert parsed.crc == qris[-4:]
    assert parsed.is_dynamic is (not case["static"])
    # Strict templates carry their children, which re-encode to the template's value.
    for o in parsed.objects:
        if "26" <= o.tag <= "51" or o.tag == "62":
            assert o.children is not None
            assert [(c.tag, c.value) for c in o.children] == tlv(o.value)
            assert serialise(o.children) == o.value


# Each fixture's "acquirer" label → the reverse-domain ids (upper-cased) its templates 26–50 may carry.
ACQUIRER_IDS = {
    "DANA": {"ID.DANA.WWW"},
    "GoPay": {"COM.GO-JEK.WWW"},
    "ShopeePay": {"ID.CO.SHOPEE.WWW"},
    "OVO": {"ID.OVO"},
    "LinkAja": {"ID.LINKAJA.WWW", "ID.CO.TELKOM.WWW"},
    "Telkomsel": {"COM.TELKOMSEL.WWW"},
    "BRI": {"ID.CO.BRI.WWW"},
    "BNI": {"ID.CO.BNI.WWW"},
    "Mandiri": {"ID.CO.BANKMANDIRI.WWW"},
    # One published BCA QRIS writes its GUI as the literal "00" (see the fixture's notes).
    "BCA": {"ID.CO.BCA.WWW", "00"},
    "BSI": {"ID.CO.BANKBSI.WWW"},
    "Bank Neo Commerce": {"ID.CO.BANKNEOCOMMERCE.WWW"},
    "DOKU": {"COM.DOKU.WWW"},
    "SpinPay": {"ID.SPINPAY.WWW"},
    "AstraPay": {"COM.ASTRAPAY.WWW", "ID.CO.ASTRAPAY.WWW"},
    "OttoCash": {"ID.OTTOCASH.WWW"},
}
DISPLAY_NAMES = {"Mandiri": "Bank Mandiri"}


@pytest.mark.parametrize("case", VALID, ids=_id)
def test_public_valid_qris_info(case: dict[str, Any]) -> None:
    qris = case["qris"]
    described = info(qris)
    top = dict(tlv(qris))
    assert described.merchant_name == case["merchant_name"]
    assert described.merchant_city == top["60"]
    assert described.postal_code == top.get("61")
    assert described.mcc == top["52"]
    assert described.currency == "360"
    assert described.country_code == "ID"
    assert described.is_dynamic is (not case["static"])
    assert described.crc == qris[-4:]
    assert described.crc_valid is True

    # Acquirers: one per merchant account template, in order, with its GUI.
    templates = [(tag, dict(tlv(value))) for tag, value in tlv(qris) if "26" <= tag <= "51"]
    assert [(a.tag, a.id) for a in described.acquirers] == [(tag, sub.get("00")) for tag, sub in templates]
    labels = case["acquirer"].split("+")
    allowed = set().union(*(ACQUIRER_IDS[label] for label in labels))
    own = [a for a in described.acquirers if a.tag != "51"]
    assert own
    assert {a.id.upper() for a in own if a.id} <= allowed
    named = {a.name for a in own if a.id and "." in a.id}
    assert named == {DISPLAY_NAMES.get(label, label) for label in labels} or not named
    for label in labels:  # every label is represented by one of the templates
        assert any((a.id or "").upper() in ACQUIRER_IDS[label] for a in own)

    # NMID and criteria come from template 51 when there is one.
    national = dict(tlv(top["51"])) if "51" in top else None
    if national is not None:
        assert described.nmid == national.get("02")
        assert described.criteria == national.get("03")
    else:
        assert described.nmid is None
    if described.criteria is not None:
        assert described.criteria in {"UMI", "UKE", "UME", "UBE", "URE"}
        assert described.criteria_name is not None
        assert described.criteria_name.startswith("Usaha ")

    # Amount: whole rupiah of tag 54 for a dynamic QRIS, None for a static one without 54.
    if "54" in top:
        assert described.amount == int(float(top["54"]))
    else:
        assert described.amount is None
    if "55" in top:
        assert described.fee is not None
        assert described.fee["type"] == {"01": "tip_prompt", "02": "fixed", "03": "percent"}[top["55"]]
    else:
        assert described.fee is None
    if "62" in top:
        assert sorted(described.additional_data.values()) == sorted(v for _, v in tlv(top["62"]))
    else:
        assert described.additional_data == {}


def test_info_of_the_test_qris() -> None:
    described = info(VALID_QRIS)
    assert described.to_dict() == {
        "merchant_name": "Warung Sederhana Jaya ",
        "merchant_city": "Kab. Bogor",
        "postal_code": "16810",
        "country_code": "ID",
        "currency": "360",
        "mcc": "5812",
        "nmid": "ID1020017611473",
        "criteria": "UMI",
        "criteria_name": "Usaha Mikro",
        "acquirers": [
            {
                "tag": "26",
                "id": "ID.DANA.WWW",
                "name": "DANA",
                "merchant_pan": "936009153022591481",
                "merchant_id": "022591481",
                "criteria": "UMI",
            },
            {
                "tag": "51",
                "id": "ID.CO.QRIS.WWW",
                "name": "QRIS national repository",
                "merchant_pan": None,
                "merchant_id": "ID1020017611473",
                "criteria": "UMI",
            },
        ],
        "is_dynamic": False,
        "amount": None,
        "fee": None,
        "additional_data": {},
        "crc": VALID_QRIS[-4:],
        "crc_valid": True,
    }
    assert info(parse(VALID_QRIS)) == described


def test_info_additional_data_fee_and_amount() -> None:
    qris = variant(
        {"54": "25000", "55": "02", "56": "1500", "62": obj("07", "A01") + obj("01", "INV-9") + obj("50", "x")}
    )
    described = info(qris)
    assert described.amount == 25000
    assert described.fee == {"type": "fixed", "value": "1500"}
    assert described.additional_data == {"terminal_label": "A01", "bill_number": "INV-9", "tag_50": "x"}
    assert info(variant({"55": "03", "57": "2.5"})).fee == {"type": "percent", "value": "2.5"}
    assert info(variant({"55": "01"})).fee == {"type": "tip_prompt"}
    assert info(variant({"54": "39000.00"})).amount == 39000


def test_info_describes_a_wrong_crc_only_when_asked() -> None:
    damaged = VALID_QRIS[:-4] + ("0000" if VALID_QRIS[-4:] != "0000" else "1111")
    with pytest.raises(QrisError) as caught:
        info(damaged)
    assert caught.value.code == "qris_crc_mismatch"
    described = info(damaged, require_valid_crc=False)
    assert described.crc_valid is False
    assert described.crc == damaged[-4:]
    assert described.merchant_name == "Warung Sederhana Jaya "
    # Every other rule still applies.
    with pytest.raises(QrisError) as caught:
        info(variant({"52": None})[:-4] + "0000", require_valid_crc=False)
    assert caught.value.code == "qris_missing_tag"


def test_info_without_national_template_takes_criteria_from_the_acquirer() -> None:
    described = info(variant({"51": None}))
    assert described.nmid is None
    assert described.criteria == "UMI"
    assert [a.tag for a in described.acquirers] == ["26"]


def test_info_reports_unknown_acquirers_by_id_alone() -> None:
    described = info(variant({"26": obj("00", "ID.EXAMPLE.WWW") + obj("01", "123")}))
    assert (described.acquirers[0].id, described.acquirers[0].name) == ("ID.EXAMPLE.WWW", None)
    # A primitive merchant account (02–25, card schemes) has no GUI; its value is the merchant id.
    described = info(variant({"04": "5264000012345678"}))
    card = next(a for a in described.acquirers if a.tag == "04")
    assert (card.id, card.merchant_id) == (None, "5264000012345678")


def test_amount_of() -> None:
    assert amount_of(parse(VALID_QRIS)) is None
    assert amount_of(parse(variant({"54": "15000"}))) == 15000
    assert amount_of(parse(variant({"54": "15000.00"}))) == 15000
    # Another currency may have a fraction; it has no whole-rupiah value.
    assert amount_of(parse(variant({"53": "840", "54": "1.50"}))) is None


@pytest.mark.parametrize("case", INVALID, ids=lambda case: case["why"].split(":")[0])
def test_public_invalid_qris_is_refused(case: dict[str, Any]) -> None:
    error = refused(case["qris"])
    assert not is_valid(case["qris"])
    if "code" in case:
        assert error.code == case["code"]
    assert isinstance(error, InvalidRequest)
    assert error.status_code == 400


def test_line_wrapped_fixture_is_the_baznas_qris_once_joined() -> None:
    wrapped = next(case["qris"] for case in INVALID if "line-wrapped" in case["why"])
    assert refused(wrapped).code == "qris_invalid_character"
    joined = "".join(wrapped.split("\n"))
    assert is_valid(joined)
    assert joined in {case["qris"] for case in VALID}


# --- crafted failures, one rule each --------------------------------------------------------


def test_errors_are_invalid_requests() -> None:
    error = refused("hello")
    assert isinstance(error, InvalidRequest)
    assert error.status_code == 400
    assert error.field == "qris"
    assert error.code == "not_qris"
    assert error.message


@pytest.mark.parametrize("text", ["", None, b"000201"])
def test_empty(text: Any) -> None:
    assert refused(text).code == "qris_empty"


@pytest.mark.parametrize("suffix", [" ", "\n", "\r\n", "\t", "  \n", "\u00a0"])
def test_trailing_whitespace(suffix: str) -> None:
    error = refused(VALID_QRIS + suffix)
    assert error.code == "qris_trailing_whitespace"
    assert error.position == len(VALID_QRIS)
    # Callers that accept pasted text strip it first.
    assert parse(clean(VALID_QRIS + suffix)).serialise() == VALID_QRIS
    assert parse(clean("\n  " + VALID_QRIS + suffix)).serialise() == VALID_QRIS


@pytest.mark.parametrize(
    "text",
    ["hello", "https://example.com", " " + VALID_QRIS, "\n" + VALID_QRIS, "0102" + VALID_QRIS[4:], "000", "0"],
)
def test_not_qris(text: str) -> None:
    assert refused(text).code == "not_qris"


@pytest.mark.parametrize("char", ["\n", "\r", "\t", "\x00", "\x1b", "\x7f", "\x1f"])
def test_control_character_inside_a_value(char: str) -> None:
    qris = variant({"59": f"Warung{char}Jaya"})
    error = refused(qris)
    assert error.code == "qris_invalid_character"
    assert error.position == qris.index(char)


@pytest.mark.parametrize("char", ["\x85", "\x9b"])
def test_c1_control_character_inside_a_value(char: str) -> None:
    assert refused(variant({"59": f"Warung{char}Jaya"})).code == "qris_invalid_character"


@pytest.mark.parametrize(
    "text",
    [
        "0002010",  # one character after the first object
        "00020101021126",  # a bare tag with no length (a public fixture)
        "000201010211263",
        sign(body_of(VALID_QRIS))[:-8] + "630",  # the CRC object cut inside its header
    ],
)
def test_truncated(text: str) -> None:
    assert refused(text).code == "qris_truncated"


@pytest.mark.parametrize("tag", ["0A", "A0", "X1", " 1", "1 ", "-1", "٠١", "１２"])
def test_non_digit_tag(tag: str) -> None:
    body = body_of(VALID_QRIS)
    at = body.index("5204")
    qris = sign(body[:at] + tag + body[at + 2 :])
    error = refused(qris)
    assert error.code == "qris_invalid_tag"
    assert error.position == at


@pytest.mark.parametrize("length", ["0A", "A4", " 4", "4 ", "-4", "+4", "٠٤", "０４"])
def test_non_digit_length(length: str) -> None:
    body = body_of(VALID_QRIS)
    at = body.index("5204")
    qris = sign(body[:at] + "52" + length + body[at + 4 :])
    error = refused(qris)
    assert error.code == "qris_invalid_length"
    assert error.position == at + 2


@pytest.mark.parametrize(
    "text",
    [
        body_of(VALID_QRIS)[:-9] + "619916810" + "6304" + VALID_QRIS[-4:],  # 61 says 99 characters
        sign(body_of(VALID_QRIS))[:-8] + "6305" + VALID_QRIS[-4:],  # 63 says 5, four remain
        sign(body_of(VALID_QRIS))[:-8] + "6304ABC",
        "00020101021126370016ID.CO.TELKOM.ABCD",  # a public fixture, cut inside tag 26
    ],
)
def test_length_past_the_end(text: str) -> None:
    assert refused(text).code == "qris_length_overflow"


@pytest.mark.parametrize("tag", ["01", "52", "53", "58", "59", "26"])
def test_duplicate_tag(tag: str) -> None:
    body = body_of(VALID_QRIS)
    repeated = next(obj(t, v) for t, v in tlv(body) if t == tag)
    qris = sign(body + repeated)
    error = refused(qris)
    assert error.code == "qris_duplicate_tag"
    assert error.position == len(body)


def test_duplicate_crc_object() -> None:
    assert refused(VALID_QRIS + "6304" + VALID_QRIS[-4:]).code == "qris_duplicate_tag"


@pytest.mark.parametrize("after", ["9902AB", obj("62", obj("07", "A01")), obj("64", obj("00", "ID"))])
def test_data_object_after_the_crc(after: str) -> None:
    error = refused(VALID_QRIS + after)
    assert error.code == "qris_crc_not_last"
    assert error.position == len(VALID_QRIS)


def test_crc_object_moved_into_the_middle() -> None:
    pairs = tlv(VALID_QRIS)
    crc = pairs.pop()
    pairs.insert(3, crc)
    assert refused("".join(obj(t, v) for t, v in pairs)).code == "qris_crc_not_last"


def test_crc_missing() -> None:
    assert refused(body_of(VALID_QRIS)).code == "qris_crc_missing"
    # A "6304" inside a value is not a CRC object.
    assert refused(variant({"62": obj("07", "6304ABCD")})[:-8]).code == "qris_crc_missing"


def test_lowercase_crc() -> None:
    qris = next(case["qris"] for case in VALID if any(c in "ABCDEF" for c in case["qris"][-4:]))
    assert parse(qris)
    error = refused(qris[:-4] + qris[-4:].lower())
    assert error.code == "qris_crc_format"
    assert error.position == len(qris) - 4
    # Even without the CRC check, the CRC object must be well-formed.
    assert refused(qris[:-4] + qris[-4:].lower(), check_crc=False).code == "qris_crc_format"


@pytest.mark.parametrize("crc_object", ["6304GHIJ", "6304 1A2", "63031A2", "63051A2B3", "6300", "6304M2B3"])
def test_crc_format(crc_object: str) -> None:
    assert refused(body_of(VALID_QRIS) + crc_object).code == "qris_crc_format"


def test_crc_mismatch() -> None:
    last = VALID_QRIS[-1]
    wrong = VALID_QRIS[:-1] + ("0" if last != "0" else "1")
    error = refused(wrong)
    assert error.code == "qris_crc_mismatch"
    assert error.position == len(VALID_QRIS) - 4
    # The data altered, the CRC kept.
    altered = VALID_QRIS.replace("Kab. Bogor", "Kab. Bogur")
    assert refused(altered).code == "qris_crc_mismatch"
    # check_crc=False accepts it (for describing a damaged payload).
    assert parse(altered, check_crc=False).get("60") == "Kab. Bogur"


@pytest.mark.parametrize("tag", ["52", "53", "58", "59", "60"])
def test_missing_mandatory_tag(tag: str) -> None:
    error = refused(variant({tag: None}))
    assert error.code == "qris_missing_tag"
    assert f"tag {tag}" in error.message


def test_missing_merchant_account() -> None:
    error = refused(variant({"26": None, "51": None}))
    assert error.code == "qris_missing_tag"
    # Template 51 alone, or a primitive card-scheme account (02–25) alone, is a merchant account.
    assert is_valid(variant({"26": None}))
    assert is_valid(variant({"26": None, "51": None, "04": "5264000012345678"}))


@pytest.mark.parametrize(
    ("changes", "tag"),
    [
        ({"00": "02"}, "00"),
        ({"01": "13"}, "01"),
        ({"01": "1"}, "01"),
        ({"52": "58A2"}, "52"),
        ({"52": "581"}, "52"),
        ({"52": "58120"}, "52"),
        ({"52": ""}, "52"),
        ({"53": "36A"}, "53"),
        ({"53": "36"}, "53"),
        ({"58": "I1"}, "58"),
        ({"58": "IDN"}, "58"),
        ({"58": "ÍD"}, "58"),
        ({"59": "   "}, "59"),
        ({"59": ""}, "59"),
        ({"60": " "}, "60"),
        ({"55": "04"}, "55"),
        ({"55": "02"}, "56"),
        ({"55": "02", "56": "abc"}, "56"),
        ({"55": "03"}, "57"),
        ({"55": "03", "57": "abc"}, "57"),
        ({"55": "03", "57": "100"}, "57"),
    ],
)
def test_invalid_field(changes: dict[str, str | None], tag: str) -> None:
    error = refused(variant(changes))
    assert error.code == "qris_invalid_field"
    assert error.message.startswith(f"tag {tag}")


@pytest.mark.parametrize("amount", ["0", "00", "0.00", "1,000", "-5", "1.5", "1.05", "abc", "", "1.", ".5", "1e3"])
def test_invalid_amount(amount: str) -> None:
    assert refused(variant({"54": amount})).code == "qris_invalid_amount"


@pytest.mark.parametrize("amount", ["1", "1000", "39000.00", "1.0", "9999999999999", "0100"])
def test_valid_rupiah_amounts(amount: str) -> None:
    assert parse(variant({"54": amount})).get("54") == amount


def test_fractions_are_allowed_in_other_currencies() -> None:
    assert parse(variant({"53": "840", "54": "1.5"})).get("54") == "1.5"
    assert refused(variant({"53": "840", "54": "1.505"})).code == "qris_invalid_amount"


def test_amount_of_fourteen_digits_is_refused() -> None:
    assert refused(variant({"54": "12345678901234"})).code == "qris_invalid_amount"


def test_amount_longer_than_thirteen_characters_is_refused() -> None:
    assert refused(variant({"54": "1234567890123.00"})).code == "qris_invalid_amount"


@pytest.mark.parametrize(
    "changes",
    [
        {"26": obj("00", "ID.DANA.WWW") + "0120936"},  # a sub-tag length past the template's end
        {"26": obj("00", "ID.DANA.WWW") + "01"},  # a sub-tag cut short
        {"26": obj("00", "ID.DANA.WWW") + "03X3UMI"},  # a non-digit sub-tag length
        {"26": obj("00", "ID.DANA.WWW") + "X303UMI"},  # a non-digit sub-tag
        {"26": obj("00", "ID.DANA.WWW") + obj("03", "UMI") + obj("03", "UKE")},  # a duplicate sub-tag
        {"26": obj("01", "936009153022591481") + obj("03", "UMI")},  # no GUI (sub-tag 00)
        {"51": obj("02", "ID1020017611473")},  # no GUI in 51
        {"26": "ID.DANA.WWW"},  # not TLV at all
        {"62": "07X3A01"},
        {"62": obj("07", "A01") + "05"},
        {"62": obj("07", "A01") + obj("07", "A02")},
        {"64": "0002ID01"},
    ],
)
def test_bad_nested_template(changes: dict[str, str | None]) -> None:
    assert refused(variant(changes)).code == "qris_invalid_template"


def test_nested_template_error_position_is_in_the_whole_payload() -> None:
    qris = variant({"62": obj("07", "A01") + "05X1"})
    error = refused(qris)
    assert error.code == "qris_invalid_template"
    assert error.position is not None
    assert qris[error.position - 2 : error.position + 2] == "05X1"


def test_loose_templates_80_99_need_not_be_tlv() -> None:
    parsed = parse(variant({"80": "not tlv at all", "81": obj("00", "COM.EXAMPLE") + obj("01", "x")}))
    assert parsed.object("80") == DataObject("80", "not tlv at all", None)
    loose = parsed.object("81")
    assert loose is not None
    assert loose.child("00") == "COM.EXAMPLE"


def test_tag_order_other_than_00_first_and_63_last_is_free() -> None:
    pairs = [pair for pair in tlv(VALID_QRIS) if pair[0] not in ("00", "63")]
    shuffled = [("00", "01"), *reversed(pairs)]
    qris = build(shuffled)
    assert parse(qris).serialise() == qris
    assert info(qris).merchant_name == "Warung Sederhana Jaya "


def test_every_single_character_substitution_is_detected() -> None:
    # CRC-16 catches every error burst of up to 16 bits; the structural checks catch the rest.
    for position in range(len(VALID_QRIS)):
        for replacement in {"0", "A", "a", " ", chr(ord(VALID_QRIS[position]) ^ 1)} - {VALID_QRIS[position]}:
            tampered = VALID_QRIS[:position] + replacement + VALID_QRIS[position + 1 :]
            assert not is_valid(tampered), (position, replacement)
