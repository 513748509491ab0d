from __future__ import annotations

from kasir.qris.emv import crc16_ccitt_false, crc_of, is_valid
from tests.conftest import VALID_QRIS


def test_crc_matches_the_catalogue_check_value() -> None:
    # CRC-16/CCITT-FALSE's published check value for "123456789".
    assert crc16_ccitt_false(b"123456789") == 0x29B1


def test_crc_is_four_uppercase_hex_digits() -> None:
    assert crc_of("000201010211") == f"{crc16_ccitt_false(b'000201010211'):04X}"


def test_valid_and_tampered_qris() -> None:
    assert is_valid(VALID_QRIS)
    tampered = VALID_QRIS.replace("Warung", "Wareng")
    assert not is_valid(tampered)
    assert not is_valid(VALID_QRIS[:-1])
    assert not is_valid("hello")
