"""kasir.api.body's checks of request input: JSON nesting, found without parsing, and control
characters, wherever text arrives (JSON strings and keys, the URL's path and query)."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

import pytest

from kasir.api.body import MAX_JSON_DEPTH, json_depth, loads, reject_control_characters, url_control_character
from kasir.errors import InvalidRequest


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("5", 0),
        ('"[[[[{{{{"', 0),  # brackets in a string are text
        ("[]", 1),
        ('{"a": [1, {"b": []}]}', 4),
        ('{"mutations": [{"amount": 5000, "reference": "R-1"}]}', 3),
        ("[[], [], [[]]]", 3),
        ('["\\"]]]]", [[]]]', 3),  # an escaped quote does not end the string
        ('["\\\\", [[]]]', 3),  # an escaped backslash does not escape the quote after it
        ("[" * 1000 + "]" * 1000, 1000),
        ('{"a":' * 1000 + "1" + "}" * 1000, 1000),
        ("]]]]][[", 2),  # not JSON: the count does not go below 0
        ('["[[[[', 1),  # an unclosed string runs to the end
    ],
)
def test_json_depth_counts_nesting_outside_strings(text: str, depth: int) -> None:
    assert json_depth(text) == depth


def test_json_depth_is_linear_on_strings_full_of_escapes() -> None:
    """A string regex that backtracks would take minutes on this (quadratic in 64 KiB)."""
    adversarial = '["' + '\\"' * 32_000  # one unclosed string of escaped quotes
    started = time.perf_counter()
    assert json_depth(adversarial) == 1
    assert json_depth('"' * 64_000) == 0
    assert time.perf_counter() - started < 1.0


def nested(depth: int) -> str:
    return '{"a": ' * (depth - 1) + "[]" + "}" * (depth - 1)


def test_loads_takes_the_deepest_body_allowed_and_refuses_one_level_more() -> None:
    assert json_depth(nested(MAX_JSON_DEPTH)) == MAX_JSON_DEPTH
    assert loads(nested(MAX_JSON_DEPTH))["a"]["a"] is not None
    with pytest.raises(InvalidRequest) as refused:
        loads(nested(MAX_JSON_DEPTH + 1))
    assert (refused.value.status_code, refused.value.code) == (400, "json_too_deep")


@pytest.mark.parametrize("text", ["[" * 200 + "]" * 200, "[" * 5000 + "]" * 5000, '{"a":' * 100_000])
def test_loads_refuses_deep_json_before_the_parser_recurses(text: str) -> None:
    """200 levels parse without overflowing the stack, and are refused all the same; 100,000
    would overflow it (RecursionError, a 500), and are refused before parsing starts."""
    with pytest.raises(InvalidRequest) as refused:
        loads(text, field="items")
    assert refused.value.code == "json_too_deep"
    assert refused.value.field == "items"


def test_loads_still_says_when_text_is_not_json() -> None:
    with pytest.raises(ValueError, match="Expecting"):
        loads('{"amount": }')


def test_numbers_with_a_fraction_become_exact_decimals_not_floats_or_text() -> None:
    parsed = loads('{"amount": 50000.0, "nan": NaN, "whole": 50000}')
    assert parsed == {"amount": Decimal("50000.0"), "nan": parsed["nan"], "whole": 50000}
    assert isinstance(parsed["amount"], Decimal)
    assert isinstance(parsed["nan"], Decimal)


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"description": "a\x00b"}, "description"),
        ({"customer_name": "\x1b[31mred"}, "customer_name"),
        ({"items": [{"name": "ok"}, {"name": "bell\x07"}]}, "items.1.name"),
        ([{"reference": "R"}, {"reference": "R\x0b"}], "1.reference"),
        ({"headers": {"X-A": "\x7f is not C0, \x1f is"}}, "headers.X-A"),
        ({"ke\x00y": "value"}, "body"),  # a key with one is named by its object
        ({"headers": {"X-\x01": "v"}}, "headers"),
    ],
)
def test_a_control_character_anywhere_is_refused_naming_the_field(value: Any, field: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        reject_control_characters(value)
    assert (refused.value.status_code, refused.value.code, refused.value.field) == (400, "control_character", field)


def test_tab_line_feed_carriage_return_del_and_c1_are_text() -> None:
    reject_control_characters({"notes": "line one\r\nline two\tend", "x": "\x7f\x85\x9f", "n": [1, None, True]})


@pytest.mark.parametrize("escaped", ["\\u0000", "\\u001f", "\\b", "\\f", "\\u000B"])
def test_loads_finds_control_characters_that_json_escapes_bring_in(escaped: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        loads('{"items": [{"name": "a' + escaped + 'b"}]}')
    assert (refused.value.code, refused.value.field) == ("control_character", "items.0.name")


def test_loads_lets_escaped_tab_line_feed_and_quotes_through() -> None:
    assert loads(json.dumps({"notes": 'a\tb\nc\r"d"\\'})) == {"notes": 'a\tb\nc\r"d"\\'}


def http(path: str = "/", query: bytes = b"") -> dict[str, Any]:
    return {"type": "http", "path": path, "query_string": query}


@pytest.mark.parametrize(
    ("scope", "field"),
    [
        (http("/v1/payments/PAY-\x00"), "path"),
        (http("/v1/store/orders/WA\x1b"), "path"),
        (http("/api/list-payments.php", b"search=%00"), "search"),
        (http("/api/list-payments.php", b"page=1&search=a%1Fb"), "search"),
        (http("/api/check-payment.php", b"invoice=%0b"), "invoice"),
        (http("/api/check-payment.php", b"invoice=%0C"), "invoice"),
        (http("/v1/events", b"sin%00ce=1"), "query"),
        (http("/v1/events", b"since=\x01"), "since"),  # sent bare, as no client should
        (http("/v1/events", b"since=%%00"), "since"),
    ],
)
def test_the_url_may_not_hold_a_control_character(scope: dict[str, Any], field: str) -> None:
    refused = url_control_character(scope)
    assert refused is not None
    assert (refused.status_code, refused.code, refused.field) == (400, "control_character", field)


@pytest.mark.parametrize(
    "scope",
    [
        http("/v1/payments/PAY-toko-1-ABC"),
        http("/api/list-payments.php", b"search=%2500&status="),  # the text "%00"
        http("/api/list-payments.php", b"search=a%09b%0Ac%0Dd"),  # tab, LF, CR
        http("/api/list-payments.php", b"search=%7F%C2%85+caf%C3%A9"),
        http("/pay", b"invoice=%E2%80%A8"),
    ],
)
def test_the_url_may_hold_any_other_text(scope: dict[str, Any]) -> None:
    assert url_control_character(scope) is None
