from __future__ import annotations

import pytest

from kasir.api.schemas import CreatePaymentBody, parse
from kasir.errors import InvalidRequest
from kasir.inputs import boolean
from kasir.money import whole_rupiah


@pytest.mark.parametrize(("raw", "expected"), [(50000, 50000), ("50000", 50000), (" 1000 ", 1000), ("-5", -5)])
def test_whole_rupiah_accepts_integers(raw: object, expected: int) -> None:
    assert whole_rupiah(raw) == expected


@pytest.mark.parametrize("raw", [50000.0, "50000.5", "50.000", "1e5", True, None, [], "", "Rp 5000"])
def test_whole_rupiah_refuses_everything_else(raw: object) -> None:
    with pytest.raises(ValueError, match="whole number"):
        whole_rupiah(raw)


def test_form_booleans() -> None:
    assert boolean("true")
    assert boolean("1")
    assert boolean(True)
    assert not boolean("false")
    assert not boolean("0")
    assert not boolean("")
    with pytest.raises(ValueError, match="true or false"):
        boolean("maybe")


def test_parse_names_the_field() -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse(CreatePaymentBody, {"amount": 5000, "customer_email": "nope"})
    assert caught.value.field == "customer_email"
    assert caught.value.code == "invalid_parameter"
    with pytest.raises(InvalidRequest) as missing:
        parse(CreatePaymentBody, {})
    assert (missing.value.field, missing.value.code) == ("amount", "missing_parameter")
