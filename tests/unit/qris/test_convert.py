"""Static → dynamic QRIS (kasir.qris.convert): the payload is rebuilt from its data objects, so
only 01, 54–57 and 63 change and every other data object is kept byte for byte, in order."""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from kasir.errors import InvalidRequest
from kasir.qris.convert import REPLACED_TAGS, Fee, check_amount, check_static, to_dynamic
from kasir.qris.emv import QrisError, crc_of, is_valid, parse
from kasir.qris.info import info
from tests.conftest import VALID_QRIS

FIXTURES: dict[str, list[dict[str, Any]]] = json.loads(
    (Path(__file__).parents[2] / "fixtures" / "qris" / "public_qris.json").read_text(encoding="utf-8")
)
VALID = FIXTURES["valid"]
STATIC = [case["qris"] for case in VALID if case["static"]]
DYNAMIC = [case["qris"] for case in VALID if not case["static"]]


def _id(case: dict[str, Any]) -> str:
    return f"{case['acquirer']}-{case['merchant_name'].strip()}-{case['qris'][-4:]}"


def obj(tag: str, value: str) -> str:
    return f"{tag}{len(value):02d}{value}"


def build(pairs: list[tuple[str, str]]) -> str:
    body = "".join(obj(tag, value) for tag, value in pairs) + "6304"
    return body + crc_of(body)


def objects(qris: str) -> list[tuple[str, str]]:
    return [(o.tag, o.value) for o in parse(qris).objects]


def kept(qris: str) -> list[tuple[str, str]]:
    """The data objects a conversion must not touch, in their order."""
    return [(tag, value) for tag, value in objects(qris) if tag not in REPLACED_TAGS]


def tags(qris: str) -> list[str]:
    return [tag for tag, _ in objects(qris)]


def assert_converted(original: str, dynamic: str, amount: int, fee_tags: Sequence[tuple[str, str]] = ()) -> None:
    parsed = parse(dynamic)  # parses, CRC included
    assert crc_of(dynamic[:-4]) == dynamic[-4:]
    assert dynamic[-8:-4] == "6304"
    assert parsed.is_dynamic
    assert objects(dynamic)[:2] == [("00", "01"), ("01", "12")]
    assert parsed.get("54") == str(amount)
    order = tags(dynamic)
    embedded = [("54", str(amount)), *fee_tags]
    at = order.index("54")
    assert objects(dynamic)[at : at + len(embedded) + 1] == [*embedded, ("58", parsed.get("58"))]
    for tag in ("55", "56", "57"):
        assert (parsed.get(tag) is None) is (tag not in dict(fee_tags))
    assert kept(dynamic) == kept(original)
    assert len(order) == len(set(order))
    assert info(dynamic).amount == amount


# --- every public fixture -------------------------------------------------------------------


@pytest.mark.parametrize("case", VALID, ids=_id)
def test_to_dynamic_on_public_fixtures(case: dict[str, Any]) -> None:
    original = case["qris"]
    dynamic = to_dynamic(original, 12345)
    assert_converted(original, dynamic, 12345)
    assert info(dynamic).merchant_name == case["merchant_name"]
    # A parsed payload converts to the same string.
    assert to_dynamic(parse(original), 12345) == dynamic


@pytest.mark.parametrize("qris", DYNAMIC, ids=lambda q: q[-4:])
def test_converting_a_dynamic_qris_replaces_its_amount(qris: str) -> None:
    old = parse(qris).get("54")
    dynamic = to_dynamic(qris, 777)
    assert_converted(qris, dynamic, 777)
    assert [value for tag, value in objects(dynamic) if tag == "54"] == ["777"]
    assert old != "777"


def test_amount_placed_after_58_is_moved_before_it() -> None:
    # The Starbucks fixture has 54 after 61; the LinkAja one has 53, 55 and 54 after 62.
    for qris in DYNAMIC:
        order = tags(qris)
        if order.index("54") > order.index("58"):
            dynamic = to_dynamic(qris, 5000)
            assert tags(dynamic).index("54") + 1 == tags(dynamic).index("58")
            assert kept(dynamic) == kept(qris)


def test_to_dynamic_of_the_test_qris_exactly() -> None:
    body = VALID_QRIS[:-8]
    expected = body.replace("010211", "010212", 1).replace("5802ID", "540550000" + "5802ID", 1) + "6304"
    expected += crc_of(expected)
    assert to_dynamic(VALID_QRIS, 50000) == expected


def test_static_qris_without_01_gets_one_after_00() -> None:
    pairs = [pair for pair in objects(VALID_QRIS) if pair[0] not in ("01", "63")]
    original = build(pairs)
    dynamic = to_dynamic(original, 1000)
    assert_converted(original, dynamic, 1000)


# --- values that look like the tags string-surgery converters look for -----------------------


def popular_converter(qris: str, amount: int) -> str:
    """The string-split recipe many public converters use (PHP: str_replace, explode, [0] and
    [1], CRC over the result), transcribed."""
    text = qris[:-4]
    text = text.replace("010211", "010212")
    parts = text.split("5802ID")
    value = str(amount)
    out = parts[0].strip() + "54" + f"{len(value):02d}" + value + "5802ID" + parts[1].strip()
    return out + crc_of(out)


MERCHANT_ID_TRAP = build(
    [
        ("00", "01"),
        ("01", "11"),
        (
            "26",
            obj("00", "ID.CO.EXAMPLE.WWW") + obj("01", "936000000000000001") + obj("02", "M010211X") + obj("03", "UMI"),
        ),
        ("51", obj("00", "ID.CO.QRIS.WWW") + obj("02", "ID1020000000001") + obj("03", "UMI")),
        ("52", "5812"),
        ("53", "360"),
        ("58", "ID"),
        ("59", "Toko Jebakan"),
        ("60", "Jakarta"),
        ("61", "10110"),
        ("62", obj("07", "K5802ID1")),
    ]
)
COUNTRY_IN_MERCHANT_ID = build(
    [
        ("00", "01"),
        ("01", "11"),
        ("26", obj("00", "ID.CO.EXAMPLE.WWW") + obj("02", "5802ID77") + obj("03", "UMI")),
        ("52", "5812"),
        ("53", "360"),
        ("58", "ID"),
        ("59", "Toko Jebakan"),
        ("60", "Jakarta"),
    ]
)
INITIATION_IN_MERCHANT_ID = build(
    [
        ("00", "01"),
        ("01", "11"),
        ("26", obj("00", "ID.CO.EXAMPLE.WWW") + obj("02", "A010211B") + obj("03", "UMI")),
        ("52", "5812"),
        ("53", "360"),
        ("58", "ID"),
        ("59", "Toko Jebakan"),
        ("60", "Jakarta"),
    ]
)


@pytest.mark.parametrize("qris", [MERCHANT_ID_TRAP, COUNTRY_IN_MERCHANT_ID, INITIATION_IN_MERCHANT_ID])
def test_look_alike_values_are_kept(qris: str) -> None:
    assert is_valid(qris)
    dynamic = to_dynamic(qris, 15000)
    assert_converted(qris, dynamic, 15000)
    assert parse(dynamic).object("26") == parse(qris).object("26")
    assert parse(dynamic).get("62") == parse(qris).get("62")


def test_popular_converter_works_on_a_plain_qris() -> None:
    # The recipe is transcribed faithfully: on an ordinary QRIS it agrees with Kasir.
    assert popular_converter(VALID_QRIS, 15000) == to_dynamic(VALID_QRIS, 15000)


def test_popular_converter_corrupts_a_terminal_label_holding_5802ID() -> None:
    naive = popular_converter(MERCHANT_ID_TRAP, 15000)
    assert not is_valid(naive)  # everything after the label's "5802ID" is gone
    with pytest.raises(QrisError) as caught:
        parse(naive)
    assert caught.value.code == "qris_length_overflow"
    assert is_valid(to_dynamic(MERCHANT_ID_TRAP, 15000))


def test_popular_converter_puts_the_amount_inside_a_merchant_id_holding_5802ID() -> None:
    naive = popular_converter(COUNTRY_IN_MERCHANT_ID, 15000)
    assert "02085405150005802ID77" in naive
    with pytest.raises(QrisError) as caught:
        parse(naive)
    assert caught.value.code == "qris_invalid_template"


def test_popular_converter_silently_changes_a_merchant_id_holding_010211() -> None:
    naive = popular_converter(INITIATION_IN_MERCHANT_ID, 15000)
    # The worst case: a valid QRIS, CRC and all, that pays a different merchant id.
    assert is_valid(naive)
    assert parse(naive).object("26").child("02") == "A010212B"  # type: ignore[union-attr]
    ours = to_dynamic(INITIATION_IN_MERCHANT_ID, 15000)
    assert parse(ours).object("26").child("02") == "A010211B"  # type: ignore[union-attr]
    assert naive != ours


def test_popular_converter_duplicates_an_existing_amount() -> None:
    dynamic = next(q for q in DYNAMIC if tags(q).index("54") < tags(q).index("58"))
    naive = popular_converter(dynamic, 15000)
    with pytest.raises(QrisError) as caught:
        parse(naive)
    assert caught.value.code == "qris_duplicate_tag"
    assert_converted(dynamic, to_dynamic(dynamic, 15000), 15000)


# --- fees -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fee", "fee_tags", "described"),
    [
        (Fee.fixed(2500), [("55", "02"), ("56", "2500")], {"type": "fixed", "value": "2500"}),
        (Fee.percent("0.7"), [("55", "03"), ("57", "0.7")], {"type": "percent", "value": "0.7"}),
        (Fee.percent("99.99"), [("55", "03"), ("57", "99.99")], {"type": "percent", "value": "99.99"}),
        (Fee.percent("0.01"), [("55", "03"), ("57", "0.01")], {"type": "percent", "value": "0.01"}),
        (Fee.prompt(), [("55", "01")], {"type": "tip_prompt"}),
    ],
)
def test_fees(fee: Fee, fee_tags: list[tuple[str, str]], described: dict[str, str]) -> None:
    for original in (VALID_QRIS, *DYNAMIC):
        dynamic = to_dynamic(original, 40000, fee)
        assert_converted(original, dynamic, 40000, fee_tags)
        assert info(dynamic).fee == described


def test_without_a_fee_existing_fee_tags_are_dropped() -> None:
    with_fee = next(q for q in DYNAMIC if parse(q).get("56") is not None)
    dynamic = to_dynamic(with_fee, 40000)
    assert_converted(with_fee, dynamic, 40000)
    assert info(dynamic).fee is None


@pytest.mark.parametrize("rupiah", [0, -1, True, 1.5, "100", None])
def test_bad_fixed_fee(rupiah: Any) -> None:
    with pytest.raises(QrisError) as caught:
        Fee.fixed(rupiah)
    assert caught.value.code == "invalid_fee"


@pytest.mark.parametrize("value", ["0", "0.0", "0.00", "100", "99.999", "0.001", "abc", "", "-1", "05", "1,5", " 1"])
def test_bad_fee_percentage(value: str) -> None:
    with pytest.raises(QrisError) as caught:
        Fee.percent(value)
    assert caught.value.code == "invalid_fee"


# --- amounts --------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [0, -5, 1.5, 1000.0, True, False, "1000", None, Decimal(1000)])
def test_bad_amounts(amount: Any) -> None:
    with pytest.raises(QrisError) as caught:
        to_dynamic(VALID_QRIS, amount)
    assert caught.value.code == "invalid_amount"
    assert isinstance(caught.value, InvalidRequest)
    assert caught.value.status_code == 400


def test_maximum() -> None:
    assert parse(to_dynamic(VALID_QRIS, 1000, maximum=1000)).get("54") == "1000"
    with pytest.raises(QrisError) as caught:
        to_dynamic(VALID_QRIS, 1001, maximum=1000)
    assert caught.value.code == "amount_out_of_range"
    assert check_amount(1, 1) == 1
    # A bad amount is reported as such, whatever the ceiling.
    with pytest.raises(QrisError) as caught:
        to_dynamic(VALID_QRIS, 0, maximum=1000)
    assert caught.value.code == "invalid_amount"


def test_largest_thirteen_digit_amount() -> None:
    dynamic = to_dynamic(VALID_QRIS, 9_999_999_999_999)
    assert_converted(VALID_QRIS, dynamic, 9_999_999_999_999)


@pytest.mark.parametrize("amount", [10**13, 10**100], ids=["14-digits", "101-digits"])
def test_to_dynamic_refuses_an_amount_tag_54_cannot_hold(amount: int) -> None:
    # Tag 54 holds at most 13 characters: a bigger amount must be refused, not embedded.
    with pytest.raises(QrisError) as caught:
        to_dynamic(VALID_QRIS, amount)
    assert caught.value.code == "amount_out_of_range"


def test_fixed_fee_too_long_for_tag_56() -> None:
    # Tag 56 holds at most 13 characters too.
    with pytest.raises(QrisError) as caught:
        to_dynamic(VALID_QRIS, 1000, Fee.fixed(10**13))
    assert caught.value.code == "invalid_fee"


def test_non_rupiah_qris() -> None:
    usd = build([(t, "840" if t == "53" else v) for t, v in objects(VALID_QRIS) if t != "63"])
    assert is_valid(usd)
    with pytest.raises(QrisError) as caught:
        to_dynamic(usd, 1000)
    assert caught.value.code == "qris_not_rupiah"


def test_invalid_qris_is_refused_with_its_parse_error() -> None:
    with pytest.raises(QrisError) as caught:
        to_dynamic(VALID_QRIS[:-1] + ("0" if VALID_QRIS[-1] != "0" else "1"), 1000)
    assert caught.value.code == "qris_crc_mismatch"
    with pytest.raises(QrisError) as caught:
        to_dynamic(VALID_QRIS + "\n", 1000)
    assert caught.value.code == "qris_trailing_whitespace"


def test_idempotent_on_fixtures() -> None:
    for case in VALID:
        once = to_dynamic(case["qris"], 2024)
        assert to_dynamic(once, 2024) == once
        assert to_dynamic(once, 99) == to_dynamic(case["qris"], 99)


# --- check_static ---------------------------------------------------------------------------


@pytest.mark.parametrize("qris", STATIC, ids=lambda q: q[-4:])
def test_check_static_accepts_static_fixtures(qris: str) -> None:
    assert check_static(qris) == qris


def test_check_static_strips_surrounding_whitespace() -> None:
    assert check_static(f"  {VALID_QRIS}\r\n") == VALID_QRIS


@pytest.mark.parametrize("qris", [*DYNAMIC, to_dynamic(VALID_QRIS, 1000)], ids=lambda q: q[-4:])
def test_check_static_refuses_dynamic(qris: str) -> None:
    with pytest.raises(QrisError) as caught:
        check_static(qris, field="qris_bri")
    assert caught.value.code == "qris_not_static"
    assert caught.value.field == "qris_bri"
    assert caught.value.message.startswith("qris_bri: ")
    assert caught.value.status_code == 400


def test_check_static_refuses_an_amount_or_initiation_12_alone() -> None:
    pairs = [pair for pair in objects(VALID_QRIS) if pair[0] != "63"]
    amount_only = build([*pairs[:6], ("54", "1000"), *pairs[6:]])
    initiation_only = build([(t, "12" if t == "01" else v) for t, v in pairs])
    for qris in (amount_only, initiation_only):
        assert is_valid(qris)
        with pytest.raises(QrisError) as caught:
            check_static(qris)
        assert caught.value.code == "qris_not_static"


def test_check_static_refuses_non_rupiah() -> None:
    usd = build([(t, "840" if t == "53" else v) for t, v in objects(VALID_QRIS) if t != "63"])
    with pytest.raises(QrisError) as caught:
        check_static(usd, field="KASIR_PLATFORM_QRIS")
    assert caught.value.code == "qris_not_rupiah"
    assert caught.value.field == "KASIR_PLATFORM_QRIS"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "qris_empty"),
        ("   \n", "qris_empty"),
        ("hello", "not_qris"),
        (VALID_QRIS[:-1] + ("0" if VALID_QRIS[-1] != "0" else "1"), "qris_crc_mismatch"),
        (VALID_QRIS[:40], "qris_length_overflow"),
    ],
)
def test_check_static_passes_parse_errors_on_with_its_field(text: str, code: str) -> None:
    with pytest.raises(QrisError) as caught:
        check_static(text, field="qris_gopay")
    assert caught.value.code == code
    assert caught.value.field == "qris_gopay"
    assert caught.value.message.startswith("qris_gopay: ")
