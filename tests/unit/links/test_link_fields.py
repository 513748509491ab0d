"""A payment link's fields as a merchant sends them (kasir.links.fields): each field's own rules,
then the rules between them (a fixed price or a range; single use is one use), on a new link and
on a change to an existing one. Money is whole rupiah throughout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kasir.config import Settings
from kasir.errors import InvalidRequest
from kasir.links.fields import DEFAULTS, FIELDS, parse_changes, resolve

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
SETTINGS = Settings(min_amount=1_000, max_amount_qris=500_000, max_amount_own_channel=10_000_000)


def new(**params: Any) -> dict[str, Any]:
    return resolve(None, parse_changes({"title": "Kopi Gayo 250 g", **params}), SETTINGS, NOW)


def changed(current: dict[str, Any], **params: Any) -> dict[str, Any]:
    return resolve(current, parse_changes(params), SETTINGS, NOW)


def refused(code: str, field: str | None = None) -> Any:
    class Refusal:
        def __enter__(self) -> None:
            return None

        def __exit__(self, kind: Any, exc: Any, _tb: Any) -> bool:
            assert isinstance(exc, InvalidRequest), f"expected a 400 {code}, got {exc!r}"
            assert exc.code == code, exc.message
            if field is not None:
                assert exc.field == field, exc.message
            return True

    return Refusal()


# --- a new link ------------------------------------------------------------------------------------


def test_a_fixed_price_link_takes_the_defaults() -> None:
    values = new(amount=85_000)
    assert values == {
        **DEFAULTS,
        "title": "Kopi Gayo 250 g",
        "amount": 85_000,
        "reusable": True,
        "max_paid_uses": None,
        "payment_method": "qris",
        "active": True,
    }
    assert set(values) == set(FIELDS)


def test_an_open_amount_link_has_its_bounds_and_no_amount() -> None:
    values = new(amount_min="10000", amount_max="250000")
    assert (values["amount"], values["amount_min"], values["amount_max"]) == (None, 10_000, 250_000)


def test_form_strings_are_typed() -> None:
    values = new(
        amount="5000",
        reusable="1",
        max_paid_uses="10",
        expires_at="2026-12-24 18:00",
        file_id="7",
        active="on",
        description="  ",
    )
    assert values["amount"] == 5000
    assert values["reusable"] is True
    assert values["max_paid_uses"] == 10
    assert values["expires_at"] == datetime(2026, 12, 24, 11, 0, tzinfo=UTC)  # read as WIB
    assert values["file_id"] == 7
    assert values["active"] is True
    assert values["description"] is None


@pytest.mark.parametrize(
    ("params", "code", "field"),
    [
        ({"title": ""}, "missing_title", "title"),
        ({"title": "   "}, "missing_title", "title"),
        ({"title": 5}, "invalid_title", "title"),
        ({"title": "x" * 201}, "title_too_long", "title"),
        ({"title": "Kopi\nGayo"}, "invalid_title", "title"),
        ({"description": "x" * 2001}, "description_too_long", "description"),
        ({"description": ["x"]}, "invalid_description", "description"),
        ({"amount": "50.000"}, "invalid_amount", "amount"),
        ({"amount": 50_000.5}, "invalid_amount", "amount"),
        ({"amount": True}, "invalid_amount", "amount"),
        ({"amount": 0}, "invalid_amount", "amount"),
        ({"amount": -5000}, "invalid_amount", "amount"),
        ({"amount_min": "lots", "amount_max": 5000}, "invalid_amount", "amount_min"),
        ({"amount": 5000, "reusable": "maybe"}, "invalid_parameter", "reusable"),
        ({"amount": 5000, "max_paid_uses": 0}, "invalid_max_paid_uses", "max_paid_uses"),
        ({"amount": 5000, "max_paid_uses": "2.5"}, "invalid_max_paid_uses", "max_paid_uses"),
        ({"amount": 5000, "max_paid_uses": 1_000_001}, "invalid_max_paid_uses", "max_paid_uses"),
        ({"amount": 5000, "max_paid_uses": True}, "invalid_max_paid_uses", "max_paid_uses"),
        ({"amount": 5000, "expires_at": "tomorrow"}, "invalid_expires_at", "expires_at"),
        ({"amount": 5000, "redirect_url": "javascript:alert(1)"}, "invalid_url", "redirect_url"),
        ({"amount": 5000, "redirect_url": "ftp://toko.test/x"}, "invalid_url", "redirect_url"),
        ({"amount": 5000, "redirect_url": "https://"}, "invalid_url", "redirect_url"),
        ({"amount": 5000, "redirect_url": "https://toko.test/a b"}, "invalid_url", "redirect_url"),
        ({"amount": 5000, "redirect_url": "https://toko.test/" + "a" * 2048}, "invalid_url", "redirect_url"),
        ({"amount": 5000, "payment_method": "dana"}, "invalid_payment_method", "payment_method"),
        ({"amount": 5000, "file_id": "abc"}, "invalid_parameter", "file_id"),
        ({"amount": 5000, "content_id": 0}, "invalid_parameter", "content_id"),
        ({"amount": 5000, "product_image_id": 10**16}, "invalid_parameter", "product_image_id"),
        ({"amount": 5000, "active": "yes please"}, "invalid_parameter", "active"),
        ({"amount": 5000, "ammount": 5000}, "unknown_field", "ammount"),
    ],
)
def test_each_field_is_refused_naming_itself(params: dict[str, Any], code: str, field: str) -> None:
    with refused(code, field):
        new(**params)


@pytest.mark.parametrize(
    ("params", "code", "field"),
    [
        ({}, "missing_amount", "amount"),
        ({"amount": 5000, "amount_min": 1000}, "amount_conflict", "amount"),
        ({"amount_min": 1000}, "missing_amount", "amount_max"),
        ({"amount_max": 9000}, "missing_amount", "amount_min"),
        ({"amount_min": 9000, "amount_max": 1000}, "invalid_amount_range", "amount_min"),
        ({"amount": 999}, "amount_out_of_range", "amount"),
        # The platform QRIS (qris) is capped lower than a merchant's own channel.
        ({"amount": 500_001}, "amount_out_of_range", "amount"),
        ({"amount_min": 500, "amount_max": 9000}, "amount_out_of_range", "amount_min"),
        ({"amount_min": 1000, "amount_max": 600_000}, "amount_out_of_range", "amount_max"),
        ({"amount": 5000, "reusable": False, "max_paid_uses": 3}, "single_use_cap", "max_paid_uses"),
        ({"amount": 5000, "expires_at": NOW.isoformat()}, "expires_at_past", "expires_at"),
    ],
)
def test_fields_are_checked_together(params: dict[str, Any], code: str, field: str) -> None:
    with refused(code, field):
        new(**params)


def test_a_title_is_required_on_a_new_link_only() -> None:
    with refused("missing_title", "title"):
        resolve(None, parse_changes({"amount": 5000}), SETTINGS, NOW)


def test_the_amount_ceiling_follows_the_method() -> None:
    assert new(amount=2_000_000, payment_method="qris_user")["amount"] == 2_000_000
    assert new(amount_min=1000, amount_max=10_000_000, payment_method="ovo")["amount_max"] == 10_000_000
    with refused("amount_out_of_range", "amount"):
        new(amount=10_000_001, payment_method="gopay_qris")


def test_single_use_is_one_use() -> None:
    assert new(amount=5000, reusable=False)["max_paid_uses"] == 1
    assert new(amount=5000, reusable="false", max_paid_uses=1)["max_paid_uses"] == 1


def test_an_expiry_in_the_future_is_kept_as_utc() -> None:
    later = NOW + timedelta(days=3)
    assert new(amount=5000, expires_at=int(later.timestamp()))["expires_at"] == later
    assert new(amount=5000, expires_at="2026-12-04T15:00:00+07:00")["expires_at"] == later


# --- a change -------------------------------------------------------------------------------------


def test_a_change_keeps_what_it_does_not_send() -> None:
    current = new(amount=85_000, max_paid_uses=20, description="Arabika", redirect_url="https://toko.test/ok")
    values = changed(current, title="Kopi Gayo 500 g")
    assert values == {**current, "title": "Kopi Gayo 500 g"}


def test_sending_bounds_makes_a_fixed_price_open_and_an_amount_makes_it_fixed() -> None:
    fixed = new(amount=85_000)
    opened = changed(fixed, amount_min=5000, amount_max=50_000)
    assert (opened["amount"], opened["amount_min"], opened["amount_max"]) == (None, 5000, 50_000)
    fixed_again = changed(opened, amount=30_000)
    assert (fixed_again["amount"], fixed_again["amount_min"], fixed_again["amount_max"]) == (30_000, None, None)


def test_one_bound_of_an_open_link_changes_alone() -> None:
    opened = new(amount_min=5000, amount_max=50_000)
    assert changed(opened, amount_max=75_000)["amount_min"] == 5000
    with refused("invalid_amount_range", "amount_min"):
        changed(opened, amount_max=4000)


def test_a_fixed_price_needs_both_bounds_to_open() -> None:
    with refused("missing_amount", "amount_min"):
        changed(new(amount=85_000), amount_max=90_000)


def test_removing_the_price_without_bounds_is_refused() -> None:
    with refused("missing_amount", "amount"):
        changed(new(amount=85_000), amount=None)


def test_a_method_change_is_held_to_its_ceiling() -> None:
    own = new(amount=2_000_000, payment_method="qris_user")
    with refused("amount_out_of_range", "amount"):
        changed(own, payment_method="qris")


def test_single_use_and_reusable_switch_their_cap() -> None:
    capped = new(amount=5000, max_paid_uses=10)
    single = changed(capped, reusable=False)
    assert (single["reusable"], single["max_paid_uses"]) == (False, 1)
    # Made reusable again: no cap unless one is sent.
    assert changed(single, reusable=True)["max_paid_uses"] is None
    assert changed(single, reusable=True, max_paid_uses=5)["max_paid_uses"] == 5
    assert changed(capped, max_paid_uses=None)["max_paid_uses"] is None


def test_an_expiry_is_cleared_by_null_and_an_old_one_is_not_rechecked() -> None:
    later = NOW + timedelta(hours=1)
    current = new(amount=5000, expires_at=later.isoformat())
    assert changed(current, expires_at=None)["expires_at"] is None
    # Changing the title an hour after the link expired does not refuse the old expiry.
    assert resolve(current, parse_changes({"title": "Baru"}), SETTINGS, NOW + timedelta(hours=2))["expires_at"] == later
