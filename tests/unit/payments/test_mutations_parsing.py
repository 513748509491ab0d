"""``parse_credits``: the one gate every reported credit passes (API, forwarder, sources).

Pure parsing, no database: body shapes, each field's rules, all-or-nothing batches and the names
errors give to the field at fault.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kasir.errors import InvalidRequest
from kasir.payments.mutations import MAX_AMOUNT, MAX_BATCH, Credit, mutation_view, parse_credits

NOW = datetime(2026, 4, 16, 5, 25, 30, tzinfo=UTC)
GRACE = 120


def parse(body: Any, now: datetime = NOW, grace: int = GRACE) -> list[Credit]:
    return parse_credits(body, now=now, clock_grace=grace)


def good(**fields: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"channel": "qris", "amount": 50123, "reference": "TRX-1"}
    item.update(fields)
    return {k: v for k, v in item.items() if v is not ...}


def refused(body: Any, code: str, field: str | None, now: datetime = NOW) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        parse(body, now=now)
    assert caught.value.code == code, caught.value.message
    assert caught.value.field == field, caught.value.message
    assert caught.value.message.strip()
    return caught.value


def refused_single(code: str, field: str | None, **fields: Any) -> InvalidRequest:
    return refused(good(**fields), code, field)


# --- body shapes ----------------------------------------------------------------------------


def test_one_object_is_one_credit() -> None:
    assert parse(good(description="dari BUDI")) == [Credit("qris", 50123, "TRX-1", None, "dari BUDI")]


def test_a_list_and_a_mutations_object_are_batches_in_order() -> None:
    items = [good(reference=f"R{i}", amount=1000 + i) for i in range(3)]
    expected = [Credit("qris", 1000 + i, f"R{i}") for i in range(3)]
    assert parse(items) == expected
    assert parse({"mutations": items}) == expected


def test_a_mutations_key_holding_one_object_is_one_credit() -> None:
    assert parse({"mutations": good()}) == [Credit("qris", 50123, "TRX-1")]


def test_repeats_are_parsed_not_merged() -> None:
    """Recognising a repeated reference is matching's job; parsing keeps every item."""
    assert len(parse([good(), good()])) == 2


@pytest.mark.parametrize("body", ["qris", 42, None, True, {"mutations": "x"}, {"mutations": 5}])
def test_a_body_that_is_no_credit_nor_list_is_invalid_body(body: Any) -> None:
    refused(body, "invalid_body", None)


@pytest.mark.parametrize("body", [[], {"mutations": []}])
def test_an_empty_batch_is_refused(body: Any) -> None:
    refused(body, "empty_batch", None)


def test_a_batch_of_max_batch_is_accepted_and_one_more_is_not() -> None:
    assert MAX_BATCH == 1000
    items = [good(reference=f"R{i}") for i in range(MAX_BATCH)]
    assert len(parse(items)) == MAX_BATCH
    refused([*items, good(reference="one-too-many")], "too_many_mutations", None)


def test_an_item_that_is_not_an_object_is_named() -> None:
    refused([good(), "x", good()], "invalid_body", "mutations[1]")
    refused([good(), None], "invalid_body", "mutations[1]")


def test_errors_in_a_batch_name_the_item_and_field() -> None:
    batch = [good(reference="A"), good(reference="B"), good(reference="C", amount=0)]
    refused(batch, "invalid_amount", "mutations[2].amount")
    refused({"mutations": batch}, "invalid_amount", "mutations[2].amount")


def test_the_first_bad_item_is_the_one_named() -> None:
    batch = [good(), good(channel="bca"), good(amount=-1)]
    refused(batch, "invalid_channel", "mutations[1].channel")


def test_a_single_credit_names_the_bare_field() -> None:
    refused_single("invalid_amount", "amount", amount="abc")
    refused([good(amount="abc")], "invalid_amount", "amount")  # a list of one reads as one credit


# --- amount ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [(1, 1), (50123, 50123), ("50123", 50123), (" 50123 ", 50123), ("0050123", 50123), (MAX_AMOUNT, MAX_AMOUNT)],
)
def test_whole_rupiah_amounts(given: Any, expected: int) -> None:
    assert parse(good(amount=given))[0].amount == expected


@pytest.mark.parametrize(
    "given",
    [
        0,
        -1,
        "-5",
        "+5",
        "0",
        "",
        "   ",
        "abc",
        "1.5",  # a JSON 1.5 reaches the parser as text (floats are never built)
        "5000.0",
        "5e3",
        "1.000",
        "1,000",
        "Rp 5000",
        "١٢٣",  # Arabic-Indic digits
        1.5,
        5000.0,
        True,
        False,
        None,
        [5000],
        {"value": 5000},
        MAX_AMOUNT + 1,
        10**30,
        "9" * 16,
    ],
)
def test_anything_else_is_invalid_amount(given: Any) -> None:
    refused_single("invalid_amount", "amount", amount=given)


def test_a_missing_amount_is_invalid_amount() -> None:
    refused_single("invalid_amount", "amount", amount=...)


# --- channel --------------------------------------------------------------------------------


@pytest.mark.parametrize("channel", ["qris", "qris_user", "gopay_qris", "ovo"])
def test_every_payment_method_is_a_channel(channel: str) -> None:
    assert parse(good(channel=channel))[0].channel == channel


@pytest.mark.parametrize(
    "channel",
    [
        "bca",
        "QRIS",
        " qris",
        "qris ",
        "",
        None,
        7,
        True,
        pytest.param(
            ["qris"],
        ),
        pytest.param(
            {"id": "qris"},
        ),
    ],
)
def test_anything_else_is_invalid_channel(channel: Any) -> None:
    refused_single("invalid_channel", "channel", channel=channel)


def test_a_missing_channel_is_invalid_channel() -> None:
    refused_single("invalid_channel", "channel", channel=...)


# --- reference ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("TRX-1", "TRX-1"),
        ("  TRX-1\t", "TRX-1"),
        (12345, "12345"),
        ("Référence ü 12", "Référence ü 12"),
        ("R" * 100, "R" * 100),
        ("  " + "R" * 100 + "  ", "R" * 100),  # the limit is on the stripped text
    ],
)
def test_references(given: Any, expected: str) -> None:
    assert parse(good(reference=given))[0].reference == expected


@pytest.mark.parametrize("given", [None, "", "   ", "\t\n", True, False, 1.5, ["X"], {"id": "X"}])
def test_no_usable_reference_is_missing_reference(given: Any) -> None:
    refused_single("missing_reference", "reference", reference=given)


def test_an_absent_reference_is_missing_reference() -> None:
    refused_single("missing_reference", "reference", reference=...)


@pytest.mark.parametrize("given", ["R" * 101, "A\nB", "A\x00B", "A\x1bB", "A\u200bB", "A\ud800B"])
def test_long_or_unprintable_references_are_invalid(given: str) -> None:
    refused_single("invalid_reference", "reference", reference=given)


# --- occurred_at ----------------------------------------------------------------------------

MOMENT = datetime(2026, 4, 16, 5, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "given",
    [
        int(MOMENT.timestamp()),
        str(int(MOMENT.timestamp())),
        f" {int(MOMENT.timestamp())} ",
        "2026-04-16T05:00:00Z",
        "2026-04-16T05:00:00+00:00",
        "2026-04-16T12:00:00+07:00",
        "2026-04-16T00:00:00-05:00",
        "2026-04-16 12:00:00",  # no offset: WIB, as Indonesian statements print it
        "2026-04-16T12:00:00",
        " 2026-04-16 12:00:00 ",
    ],
)
def test_occurred_at_forms_are_one_moment(given: Any) -> None:
    [parsed] = parse(good(occurred_at=given))
    assert parsed.occurred_at == MOMENT
    assert parsed.occurred_at.utcoffset() == timedelta(0)


def test_occurred_at_keeps_fractions_of_a_second() -> None:
    [parsed] = parse(good(occurred_at="2026-04-16 12:00:00.250"))
    assert parsed.occurred_at == MOMENT + timedelta(milliseconds=250)


@pytest.mark.parametrize("given", [None, ""])
def test_no_occurred_at_means_when_kasir_received_it(given: Any) -> None:
    assert parse(good(occurred_at=given))[0].occurred_at is None


@pytest.mark.parametrize(
    "given",
    [
        "yesterday",
        "2026-04-16",
        "16/04/2026 12:00:00",
        "2026-02-30 10:00:00",
        "2026-04-16 25:00:00",
        "2026-04-16T12:00:00+25:00",
        "1776315600.5",
        "12345678",
        True,
        1.5,
        [1776315600],
        {"t": 1776315600},
        10**15,
        "-1776315600",
    ],
)
def test_other_times_are_invalid_occurred_at(given: Any) -> None:
    refused_single("invalid_occurred_at", "occurred_at", occurred_at=given)


@pytest.mark.parametrize(
    "given",
    [
        pytest.param(
            "0001-01-01 00:00:00",
        ),
        pytest.param(
            "9999-12-31T23:00:00-05:00",
        ),
    ],
)
def test_unrepresentable_times_are_invalid_occurred_at(given: str) -> None:
    refused_single("invalid_occurred_at", "occurred_at", occurred_at=given)


def test_occurred_at_may_run_ahead_by_the_clock_grace_only() -> None:
    at_grace = NOW + timedelta(seconds=GRACE)
    assert parse(good(occurred_at=int(at_grace.timestamp())))[0].occurred_at == at_grace
    refused_single("occurred_at_in_future", "occurred_at", occurred_at=int(at_grace.timestamp()) + 1)
    refused(
        [good(reference="A"), good(reference="B", occurred_at="2026-04-16T06:00:00Z")],
        "occurred_at_in_future",
        "mutations[1].occurred_at",
    )


def test_without_grace_the_future_starts_now() -> None:
    assert parse(good(occurred_at=int(NOW.timestamp())), grace=0)[0].occurred_at == NOW
    with pytest.raises(InvalidRequest) as caught:
        parse(good(occurred_at=int(NOW.timestamp()) + 1), grace=0)
    assert caught.value.code == "occurred_at_in_future"


# --- description ----------------------------------------------------------------------------


@pytest.mark.parametrize(("given", "expected"), [(None, None), ("", None), ("d" * 500, "d" * 500), ("ü", "ü")])
def test_descriptions(given: Any, expected: str | None) -> None:
    assert parse(good(description=given))[0].description == expected


@pytest.mark.parametrize(
    "given",
    [
        "d" * 501,
        5,
        True,
        ["x"],
        {"x": 1},
        pytest.param(
            "a\ud800b",
        ),
    ],
)
def test_other_descriptions_are_invalid(given: Any) -> None:
    refused_single("invalid_description", "description", description=given)


# --- the view -------------------------------------------------------------------------------


def _row(status: str) -> dict[str, Any]:
    return {
        "public_id": "mut_x",
        "channel": "qris",
        "amount": 50123,
        "reference": "TRX-1",
        "occurred_at": MOMENT,
        "received_at": NOW,
        "description": None,
        "source": "api",
        "status": status,
        "invoice_id": "PAY-a-1-AAAAAA" if status == "matched" else None,
        "late_invoice_id": "PAY-a-1-BBBBBB",
        "settled_by": "matching" if status == "matched" else None,
        "settled_at": NOW if status == "matched" else None,
        "mode": "test",
    }


def test_the_view_shows_wib_times_and_the_late_invoice_only_when_late() -> None:
    matched = mutation_view(_row("matched"))
    assert matched["occurred_at"] == "2026-04-16 12:00:00"
    assert matched["received_at"] == "2026-04-16 12:25:30"
    assert matched["invoice_id"] == "PAY-a-1-AAAAAA"
    assert matched["late_for_invoice_id"] is None
    assert mutation_view(_row("late"))["late_for_invoice_id"] == "PAY-a-1-BBBBBB"
    assert mutation_view(_row("unmatched"))["late_for_invoice_id"] is None
    assert mutation_view(_row("unmatched"))["settled_at"] is None
