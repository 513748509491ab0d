"""Which custom headers an endpoint may carry (RFC 9110 field names and values, minus obs-text),
and how a try that raised is written for the attempt log: naming the header, never showing a
secret, never a raw control character."""

from __future__ import annotations

import json

import pytest

from kasir.delivery import dispatch
from kasir.delivery.queue import Job
from kasir.delivery.service import check_headers
from kasir.errors import InvalidRequest

SECRET = "whsec_c2VjcmV0LXNpZ25pbmcta2V5LTEyMzQ1Ng=="


def refusal(headers: dict[str, str]) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        check_headers(headers)
    assert caught.value.code == "invalid_header"
    assert caught.value.field == "headers"
    return caught.value


@pytest.mark.parametrize(
    ("value", "words"),
    [
        pytest.param("a\x00b", "control character (0x00)", id="nul"),
        pytest.param("a\x01b", "control character (0x01)", id="soh"),
        pytest.param("a\x1b[31mb", "control character (0x1b)", id="esc"),
        pytest.param("a\x7fb", "control character (0x7f)", id="del"),
        pytest.param("a\x0bb", "control character (0x0b)", id="vt"),
        pytest.param("a\rb", "line break", id="cr"),
        pytest.param("a\nb", "line break", id="lf"),
        pytest.param("a\r\nX-Injected: 1", "line break", id="crlf"),
        pytest.param("kopi-\u00e9", "non-ASCII character (U+00E9)", id="latin-1"),
        pytest.param("\u20ac5", "non-ASCII character (U+20AC)", id="euro"),
        pytest.param(" leading", "starts or ends with a space or a tab", id="leading-space"),
        pytest.param("trailing ", "starts or ends with a space or a tab", id="trailing-space"),
        pytest.param("\tleading", "starts or ends with a space or a tab", id="leading-tab"),
        pytest.param(" ", "starts or ends with a space or a tab", id="only-space"),
        pytest.param("x" * 1025, "longer than 1024", id="too-long"),
    ],
)
def test_a_value_that_is_not_one_line_of_visible_ascii_is_refused_naming_the_header(value: str, words: str) -> None:
    error = refusal({"X-Shop": "kopi", "X-Trace": value})
    assert "X-Trace" in error.message
    assert words in error.message
    if value.strip():
        assert value.strip() not in error.message  # a value may be a credential: never echoed


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("X_Shop", id="underscore"),
        pytest.param("X Shop", id="space"),
        pytest.param("X:Shop", id="colon"),
        pytest.param("X-Shop\x00", id="nul"),
        pytest.param("X-\u00e9", id="non-ascii"),
        pytest.param("", id="empty"),
        pytest.param("X" * 65, id="too-long"),
    ],
)
def test_a_name_that_is_not_a_token_is_refused(name: str) -> None:
    error = refusal({name: "v"})
    assert "not a valid header name" in error.message
    assert "\x00" not in error.message


@pytest.mark.parametrize("name", ["Host", "content-length", "Content-Type", "Transfer-Encoding", "CONNECTION"])
def test_the_http_clients_own_headers_cannot_be_set(name: str) -> None:
    assert "cannot be set" in refusal({name: "v"}).message


def test_a_value_that_is_not_a_string_is_refused() -> None:
    assert "not a string" in refusal({"X-Count": 5}).message  # type: ignore[dict-item]


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Shop": "kopi susu"},
        {"Authorization": "Bearer eyJhbGciOi.J9-_~+/=="},
        {"X-Tab": "a\tb"},
        {"X-Empty": ""},
        {"X-Punctuation": "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"},
        {"X-" + "A" * 62: "x" * 1024},
    ],
)
def test_visible_ascii_with_inner_spaces_and_tabs_is_kept_as_given(headers: dict[str, str]) -> None:
    stored = check_headers(headers)
    assert stored is not None
    assert json.loads(stored) == headers


def test_no_headers_store_nothing() -> None:
    assert check_headers(None) is None
    assert check_headers({}) is None


def job(**fields: object) -> Job:
    values: dict[str, object] = {
        "id": 1,
        "public_id": "dlv_1",
        "url": "http://127.0.0.1:9/hook",
        "dialect": "standard",
        "attempts": 0,
        "merchant_id": 1,
        "mode": "test",
        "endpoint_id": 1,
        "event_id": "evt_1",
        "event_type": "payment.created",
        "secrets": [SECRET],
    }
    values.update(fields)
    return Job(**values)  # type: ignore[arg-type]


def test_prepare_refuses_a_stored_header_that_could_not_go_on_the_wire() -> None:
    """A row saved before the API checked values: ``prepare`` raises, naming the header, and the
    callers turn that into a failed try."""
    with pytest.raises(dispatch.InvalidHeader, match=r"X-Bad contains a control character \(0x00\)"):
        dispatch.prepare(job(headers={"X-Bad": "a\x00b"}), 1_700_000_000)


def test_a_failure_never_shows_a_secret_nor_a_raw_control_character() -> None:
    exc = RuntimeError(f"cannot sign with {SECRET} for Bearer tok_live_9f8e7d6c5b\x00 now")
    headers = {"Authorization": "Bearer tok_live_9f8e7d6c5b"}
    result = dispatch.failure(dispatch.SEND_FAILED, exc, secrets=dispatch.secret_values(headers, [SECRET]))
    assert result.error is not None
    assert result.error == "cannot send the request: RuntimeError: cannot sign with *** for ***\\x00 now"
    assert SECRET not in result.error
    assert "tok_live_9f8e7d6c5b" not in result.error
    assert "\x00" not in result.error
    assert result.status_code is None
    assert not result.ok


def test_the_log_of_a_request_that_was_never_prepared_masks_as_always() -> None:
    known = dispatch.known_request(job(headers={"Authorization": "Bearer abc123456", "X-Bad": "a\x00b"}))
    assert known.url == "http://127.0.0.1:9/hook"
    assert known.body == b""
    logged = dispatch.logged_headers(known.headers)
    assert "abc123456" not in logged
    assert '"Authorization": "Bearer ***"' in logged
    assert '"X-Bad": "a\\u0000b"' in logged  # JSON escapes it: storable on PostgreSQL
