"""The patterns and number ranges of kasir.api.openapi say what the server's checks accept: a
schema-valid value is taken, and the values the checks refuse are schema-invalid."""

from __future__ import annotations

import re

import jsonschema_rs
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kasir.api.openapi import FLAG, ID, URL_CORE, digits_between, exactly, indonesian_phone, stripped
from kasir.api.schemas import MAX_ID, boolean, http_url, optional_id
from kasir.store import phone


@pytest.mark.parametrize(("low", "high", "digits"), [(1, 999_999_999, 9), (1_000, 500_000, 15), (60, 604_800, 19)])
def test_digits_between_matches_exactly_the_numbers_in_range(low: int, high: int, digits: int) -> None:
    pattern = re.compile(rf"^(?:{digits_between(low, high, max_digits=digits)})$")
    edges = [low - 1, low, low + 1, high - 1, high, high + 1, (low + high) // 2, 0, 10**digits]
    for number in edges:
        for text in {str(number), str(number).zfill(digits), "0" + str(number)}:
            expected = len(text) <= digits and low <= int(text) <= high
            assert bool(pattern.match(text)) == expected, text


def test_the_flag_and_id_schemas_admit_what_the_checks_take() -> None:
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
