"""Buyers' phone numbers as they type them, normalised to the digits WhatsApp addresses them by
(``62`` and the national number), or refused with a reason."""

from __future__ import annotations

import pytest

from kasir.phone import domestic_mobile, normalise

MOBILE = "6281234567890"


@pytest.mark.parametrize(
    "typed",
    [
        "081234567890",
        "0812-3456-7890",
        "0812 3456 7890",
        "(0812) 3456.7890",
        "  0812-3456-7890  ",
        "+6281234567890",
        "+62 812-3456-7890",
        "+62 (812) 3456 7890",
        "6281234567890",
        "62 812 3456 7890",
        "62 0812 3456 7890",  # the trunk 0 kept after the country code: a common slip
        "+62 0812-3456-7890",
        "+62 (0) 812 3456 7890",
        "81234567890",
        "812-3456-7890",
        "0062 812 3456 7890",  # the international prefix dialled from abroad
        "0062 0812 3456 7890",
        "0812\u00a03456\u00a07890",  # no-break spaces, as copied from a web page
        "0812\t3456\n7890",
    ],
)
def test_the_ways_buyers_type_a_mobile_number(typed: str) -> None:
    assert normalise(typed) == MOBILE


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("0857-1111-2222", "6285711112222"),
        ("0812345678", "62812345678"),  # 9-digit national mobile number, the shortest
        ("0812345678901", "62812345678901"),  # 12 digits, the longest
        ("021 555 1234", "62215551234"),  # a Jakarta landline
        ("+62 21 5551234", "62215551234"),
    ],
)
def test_other_indonesian_numbers(typed: str, expected: str) -> None:
    assert normalise(typed) == expected


@pytest.mark.parametrize(
    "typed",
    [
        "0812-3456-789O",  # a letter O for a zero
        "0812 3456 7890 ext 12",
        "wa.me/6281234567890",
        "+62 812 3456 7890 #",
        "++62 812 3456 7890",
        "+",
        "",
        "   ",
        "-",
    ],
)
def test_anything_but_digits_and_separators_is_refused(typed: str) -> None:
    with pytest.raises(ValueError, match="must be a phone number"):
        normalise(typed)


@pytest.mark.parametrize(
    "typed",
    [
        "\u0660\u0668\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669\u0660",  # Arabic-Indic 081234567890
        "\uff10\uff18\uff11\uff12\uff13\uff14\uff15\uff16\uff17\uff18\uff19\uff10",  # full-width 081234567890
        "0812\u00b2345\u00b37890",  # superscripts are digits to str.isdigit
        "\u0966\u096e\u0967\u0968\u0969\u096a\u096b\u096c\u096d\u096e\u096f\u0966",  # Devanagari
    ],
)
def test_digits_of_other_scripts_are_refused(typed: str) -> None:
    assert any(ch.isdigit() for ch in typed)
    with pytest.raises(ValueError, match="must be a phone number"):
        normalise(typed)


@pytest.mark.parametrize(
    "typed",
    [
        "+1 415 555 2671",  # United States
        "+44 20 7946 0958",  # United Kingdom
        "+60 12-345 6789",  # Malaysia, a neighbour with a similar look
        "0060 12 345 6789",
        "+65 8123 4567",  # Singapore, a mobile starting with 8 after its country code
        "12345678901",
        "7 912 345 6789",
    ],
)
def test_foreign_numbers_are_refused(typed: str) -> None:
    with pytest.raises(ValueError, match="must be an Indonesian number"):
        normalise(typed)


@pytest.mark.parametrize(
    "typed",
    [
        "0812345",  # 6 national digits
        "+62 812",
        "62",
        "+62",
        "0",
        "08",
        "0812-3456-7890-12",  # 13 national digits
        "+62 812 3456 7890 1234",
        "62 00812 3456 7890",  # two trunk zeros leave a national number starting with 0
    ],
)
def test_too_short_or_too_long_is_refused(typed: str) -> None:
    with pytest.raises(ValueError, match="too short or too long"):
        normalise(typed)


@pytest.mark.parametrize("typed", ["08123456", "081234567", "+62 8123 4567"])
def test_a_mobile_number_of_fewer_than_9_national_digits_is_refused(typed: str) -> None:
    with pytest.raises(ValueError, match="too short or too long"):
        normalise(typed)


def test_the_result_is_always_ascii_digits_starting_with_62() -> None:
    for typed in ("0812-3456-7890", "+62 857 1111 2222", "0062 21 555 1234", "81234567890"):
        result = normalise(typed)
        assert result.isascii()
        assert result.isdigit()
        assert result.startswith("62")
        assert normalise(result) == result  # normalising again changes nothing


# --- a merchant's OVO number: the same reading, written as it is dialled at home ------------


@pytest.mark.parametrize(
    "typed",
    [
        "0812-3456-7890",
        "081234567890",
        "+62 812-3456-7890",
        "6281234567890",
        "62 0812 3456 7890",
        "0062 812 3456 7890",
        "812-3456-7890",
        "(0812) 3456.7890",
    ],
)
def test_an_ovo_number_is_read_as_a_buyer_phone_is_and_written_with_its_0(typed: str) -> None:
    """Whatever form a buyer's phone may take, an OVO number may too; it is kept as 08…, the way
    buyers type it into OVO and the pay page shows it."""
    assert domestic_mobile(typed) == "081234567890"
    assert normalise(typed) == "62" + domestic_mobile(typed)[1:]


@pytest.mark.parametrize("typed", ["021 555 1234", "+62 21 5551234"])
def test_a_landline_is_a_buyer_phone_but_not_an_ovo_number(typed: str) -> None:
    normalise(typed)  # WhatsApp Business runs on landlines; OVO accounts do not
    with pytest.raises(ValueError, match="mobile number"):
        domestic_mobile(typed)


@pytest.mark.parametrize("typed", ["0812-3456-789O", "+1 415 555 2671", "0812345", "", "wa.me/6281234567890"])
def test_an_ovo_number_is_refused_for_what_a_buyer_phone_is(typed: str) -> None:
    with pytest.raises(ValueError) as as_ovo:
        domestic_mobile(typed)
    with pytest.raises(ValueError) as as_phone:
        normalise(typed)
    assert str(as_ovo.value) == str(as_phone.value)
