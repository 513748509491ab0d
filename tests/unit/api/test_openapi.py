"""The patterns and number ranges of kasir.api.openapi say what the server's checks accept: a
schema-valid value is taken, and the values the checks refuse are schema-invalid. The payment
links' bodies are held to kasir.links.fields here, value by value and rule by rule; the fuzz test
(tests/acceptance/test_openapi_fuzz.py) holds the live server to them."""

from __future__ import annotations

import re
import sys
import unicodedata
from datetime import UTC, datetime
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kasir import phone
from kasir.api.openapi import (
    FLAG,
    ID,
    LAST_EXPIRY,
    NFKC_DELIMITERS,
    URL_CORE,
    _expiry,
    _link_bodies,
    digits_between,
    exactly,
    indonesian_phone,
    one_line,
    stripped,
)
from kasir.api.schemas import http_url
from kasir.config import Settings
from kasir.errors import InvalidRequest
from kasir.inputs import MAX_ID, boolean, optional_id
from kasir.links import fields


@pytest.mark.parametrize(("low", "high", "digits"), [(1, 999_999_999, 9), (1_000, 500_000, 15), (60, 604_800, 19)])
def test_digits_between_matches_exactly_the_numbers_in_range(low: int, high: int, digits: int) -> None:
    pattern = re.compile(rf"^(?:{digits_between(low, high, max_digits=digits)})$")
    edges = [low - 1, low, low + 1, high - 1, high, high + 1, (low + high) // 2, 0, 10**digits]
    for number in edges:
        for text in {str(number), str(number).zfill(digits), "0" + str(number)}:
            expected = len(text) <= digits and low <= int(text) <= high
            assert bool(pattern.match(text)) == expected, text


def test_digits_between_pads_to_the_fewest_digits_asked() -> None:
    pattern = re.compile(rf"^(?:{digits_between(1, 12_345, max_digits=12, min_digits=9)})$")
    for text, expected in (("000000001", True), ("00000001", False), ("000000012345", True), ("12345", False)):
        assert bool(pattern.match(text)) == expected, text
    assert not pattern.match("000000012346")


def test_the_flag_and_id_schemas_admit_what_the_checks_take() -> None:
    value: object  # every kind of input, good and bad
    flag = jsonschema_rs.validator_for(FLAG)
    for value in (True, False, 0, 1, "1", "true", " YES ", "off", ""):
        assert flag.is_valid(value), value
        boolean(value)
    for value in (2, "2", "maybe", None, [True]):
        assert not flag.is_valid(value), value
        with pytest.raises(ValueError):
            boolean(value)
    ids = jsonschema_rs.validator_for(ID)
    for value in (1, "7", " 000000000000042 ", MAX_ID, None, ""):
        assert ids.is_valid(value), value
        optional_id(value)
    for value in (0, -1, MAX_ID + 1, "1e3", True, "0"):
        assert not ids.is_valid(value), value
        with pytest.raises(ValueError):
            optional_id(value)


def test_stripped_text_counts_length_as_the_model_does() -> None:
    validator = jsonschema_rs.validator_for({"type": "string", "pattern": stripped(5, blank=False)})
    assert validator.is_valid("  abcde  ")  # the spaces around do not count
    assert validator.is_valid("a b c")
    assert not validator.is_valid("abcdef")
    assert not validator.is_valid("   ")
    assert not validator.is_valid("ab\x00")


def _pattern(schema: dict[str, object]) -> str:
    pattern = schema["pattern"]
    assert isinstance(pattern, str)
    return pattern


@settings(max_examples=300, deadline=None)
@given(st.from_regex(_pattern(exactly(indonesian_phone(), 40, blank=False)), fullmatch=True))
def test_every_phone_the_document_allows_is_one_the_store_takes(text: str) -> None:
    assume(len(text) <= 40)
    assert phone.normalise(text.strip()).startswith("62")


@settings(max_examples=300, deadline=None)
@given(st.from_regex(_pattern(exactly(URL_CORE, 2048, blank=False)), fullmatch=True))
def test_every_url_the_document_allows_is_an_http_url_to_the_model(text: str) -> None:
    assert http_url(text.strip()) == text.strip()


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("0812-3456-7890", True),
        ("+62 812 3456 7890", True),
        ("(021) 555-1234", True),
        ("0062 21 5551234", True),
        ("21 5551234", False),  # a fixed line needs its 0 or 62
        ("0812", False),
        ("+1 212 555 0100", False),
    ],
)
def test_the_phone_pattern_knows_indonesian_numbers(text: str, valid: bool) -> None:
    assert bool(re.fullmatch(_pattern(exactly(indonesian_phone(), 40, blank=False)), text)) == valid


def test_the_nfkc_delimiters_are_the_characters_urlsplit_refuses_in_a_host() -> None:
    listed = {char for char in map(chr, range(sys.maxunicode + 1)) if re.fullmatch(f"[{NFKC_DELIMITERS}]", char)}
    found = {
        char
        for char in map(chr, range(0x80, sys.maxunicode + 1))
        if not 0xD800 <= ord(char) <= 0xDFFF and set(unicodedata.normalize("NFKC", char)) & set("/?#@:")
    }
    assert listed == found


# --- payment links -----------------------------------------------------------------------------------
SETTINGS = Settings(min_amount=1_000, max_amount_qris=500_000, max_amount_own_channel=10_000_000)
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
BODIES = _link_bodies(SETTINGS)
NEW = jsonschema_rs.validator_for(BODIES["POST /v1/links"]["content"]["application/json"]["schema"])
NEW_FORM = jsonschema_rs.validator_for(
    BODIES["POST /v1/links"]["content"]["application/x-www-form-urlencoded"]["schema"]
)
CHANGE = jsonschema_rs.validator_for(BODIES["PATCH /v1/links/{link_id}"]["content"]["application/json"]["schema"])
# A link as the database holds one: a fixed price on the platform QRIS, reusable, no cap.
LINK = {**fields.DEFAULTS, "title": "Kopi Gayo 250 g", "amount": 85_000}


def refusal(current: dict[str, Any] | None, params: dict[str, Any]) -> str | None:
    """The code fields.resolve refuses ``params`` with, or None when it takes them."""
    try:
        fields.resolve(current, fields.parse_changes(params), SETTINGS, NOW)
    except InvalidRequest as exc:
        return exc.code
    return None


@pytest.mark.parametrize(
    ("body", "refused"),
    [
        ({"amount": 85_000}, None),
        ({"amount_min": "1000", "amount_max": " 500000 "}, None),
        ({"amount": 85_000, "reusable": "0", "max_paid_uses": "0001"}, None),
        ({"amount": 600_000, "payment_method": "ovo"}, None),
        ({"amount": 85_000, "amount_min": "", "amount_max": None, "description": "  "}, None),
        ({"amount": 85_000, "expires_at": LAST_EXPIRY, "redirect_url": " https://toko.example/terima-kasih "}, None),
        ({"amount": 85_000, "expires_at": "2999-01-31 10:00", "file_id": "", "active": "off"}, None),
        ({"amount": 600_000}, "amount_out_of_range"),  # above the platform QRIS's ceiling
        ({"amount": 600_000, "payment_method": " "}, "amount_out_of_range"),  # sent empty: qris
        ({"amount_min": 1_000, "amount_max": 20_000_000, "payment_method": "gopay_qris"}, "amount_out_of_range"),
        ({"amount": 999}, "amount_out_of_range"),
        ({"amount": 0}, "invalid_amount"),
        ({"amount": "50.000"}, "invalid_amount"),
        ({"amount": 5_000, "amount_min": 1_000}, "amount_conflict"),
        ({"amount_min": 1_000}, "missing_amount"),
        ({"amount": None, "amount_min": 1_000, "amount_max": " "}, "missing_amount"),
        ({"amount": 5_000, "reusable": False, "max_paid_uses": 2}, "single_use_cap"),
        ({"amount": 5_000, "reusable": "", "max_paid_uses": "3"}, "single_use_cap"),  # "" is false
        ({"amount": 5_000, "max_paid_uses": 1_000_001}, "invalid_max_paid_uses"),
        ({"amount": 5_000, "ammount": 5_000}, "unknown_field"),
        ({"amount": 5_000, "title": "  "}, "missing_title"),
        ({"amount": 5_000, "title": "Kopi\tGayo"}, "invalid_title"),
        ({"amount": 5_000, "title": "x" * 201}, "title_too_long"),
        ({"amount": 5_000, "expires_at": LAST_EXPIRY + 1}, "invalid_expires_at"),  # past 9999 in WIB
        ({"amount": 5_000, "expires_at": "9999-12-31T23:00:00Z"}, "invalid_expires_at"),
        ({"amount": 5_000, "expires_at": "12345"}, "invalid_expires_at"),  # unix seconds are 9-12 digits
        ({"amount": 5_000, "redirect_url": "http://["}, "invalid_url"),
        ({"amount": 5_000, "redirect_url": "http://a\u2100b/"}, "invalid_url"),  # NFKC: a/c
        ({"amount": 5_000, "redirect_url": "javascript:alert(1)"}, "invalid_url"),
        ({"amount": 5_000, "payment_method": []}, "invalid_payment_method"),
        ({"amount": 5_000, "payment_method": "QRIS"}, "invalid_payment_method"),
    ],
)
def test_a_new_links_body_is_valid_exactly_when_the_fields_take_it(body: dict[str, Any], refused: str | None) -> None:
    params = {"title": "Kopi Gayo 250 g", **body}
    assert refusal(None, params) == refused
    assert NEW.is_valid(params) == (refused is None), params


@pytest.mark.parametrize(
    ("body", "valid", "refused"),
    [
        ({"max_paid_uses": 50}, True, None),
        ({"amount": None, "amount_min": 1_000, "amount_max": 5_000}, True, None),
        ({"reusable": "false"}, True, None),
        ({"title": "Kopi Gayo 500 g", "expires_at": None, "product_image_id": None}, True, None),
        # What the link it changes decides: the schema cannot know it.
        ({"amount_min": 1_000}, True, "missing_amount"),  # the link has no amount_max
        ({"amount": 600_000}, True, "amount_out_of_range"),  # the link's method is qris
        ({"payment_method": "ovo", "amount": 600_000}, True, None),
        # What holds whatever the link is.
        ({}, False, "nothing_to_change"),
        ({"amount": 5_000, "amount_max": 6_000}, False, "amount_conflict"),
        ({"payment_method": "qris", "amount": 600_000}, False, "amount_out_of_range"),
        ({"payment_method": None, "amount": 600_000}, False, "amount_out_of_range"),
        ({"reusable": "no", "max_paid_uses": 5}, False, "single_use_cap"),
        ({"title": None}, False, "missing_title"),
        ({"slug": "abc"}, False, "unknown_field"),
    ],
)
def test_a_changes_body_is_valid_when_the_fields_may_take_it(
    body: dict[str, Any], valid: bool, refused: str | None
) -> None:
    if body:
        assert refusal(LINK, body) == refused
    else:
        assert not fields.parse_changes(body)  # kasir.links.service refuses it: nothing_to_change
    assert CHANGE.is_valid(body) == valid, body


def test_a_forms_fields_are_text() -> None:
    form = {"title": "Donasi", "amount_min": "10000", "amount_max": "500000", "expires_at": "1800000000"}
    assert NEW_FORM.is_valid(form)
    assert refusal(None, form) is None
    assert not NEW_FORM.is_valid({**form, "amount": None})  # a form has no null
    # A number in a form arrives as its digits: unix seconds are 9 to 12 of them.
    assert not NEW_FORM.is_valid({**form, "expires_at": 5})
    assert refusal(None, {**form, "expires_at": "5"}) == "invalid_expires_at"


def _schema_pattern(schema: dict[str, Any]) -> str:
    return _pattern(next(option for option in schema["anyOf"] if option.get("type") == "string"))


@settings(max_examples=300, deadline=None)
@given(st.from_regex(one_line(fields.MAX_TITLE), fullmatch=True))
def test_every_title_the_document_allows_is_taken_but_for_unlisted_unprintables(text: str) -> None:
    # str.isprintable refuses format, private-use and unassigned characters too: no pattern lists them.
    if any(unicodedata.category(char) in ("Cf", "Co", "Cn", "Cs") for char in text):
        with pytest.raises(InvalidRequest, match="one line of printable text"):
            fields._title(text, "title")
    else:
        assert fields._title(text, "title") == text.strip()


@pytest.mark.parametrize("char", ["\t", "\n", "\r", "\x7f", "\x85", "\x9f", "\xa0", "\u2028", "\u3000"])
def test_a_title_with_a_listed_unprintable_inside_is_invalid_to_both(char: str) -> None:
    text = f"Kopi{char}Gayo"
    assert not re.fullmatch(one_line(fields.MAX_TITLE), text)
    with pytest.raises(InvalidRequest):
        fields._title(text, "title")


@settings(max_examples=300, deadline=None)
@given(st.from_regex(_schema_pattern(_expiry(form=False)), fullmatch=True))
def test_every_expiry_text_the_document_allows_is_a_time_to_the_fields(text: str) -> None:
    assert fields._moment(text, "expires_at") is not None


def test_the_expiry_integers_end_where_the_fields_do() -> None:
    for form in (False, True):
        validator = jsonschema_rs.validator_for(_expiry(form=form))
        assert validator.is_valid(LAST_EXPIRY)
        assert not validator.is_valid(LAST_EXPIRY + 1)
        assert validator.is_valid(str(LAST_EXPIRY))
        assert not validator.is_valid(str(LAST_EXPIRY + 1))
    assert fields._moment(LAST_EXPIRY, "expires_at") is not None
    with pytest.raises(InvalidRequest):
        fields._moment(LAST_EXPIRY + 1, "expires_at")
    assert fields._moment(-62_135_596_800, "expires_at") == datetime(1, 1, 1, tzinfo=UTC)
    assert jsonschema_rs.validator_for(_expiry(form=False)).is_valid(-62_135_596_800)
    assert not jsonschema_rs.validator_for(_expiry(form=True)).is_valid(99_999_999)  # 8 digits in a form
