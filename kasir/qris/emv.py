"""EMVCo MPM primitives. This module starts with the CRC, which is enough to validate a merchant's
QRIS on save; the full TLV parser and static→dynamic conversion build on it."""

from __future__ import annotations

import re

_CRC_TAIL = re.compile(r"6304([0-9A-F]{4})$")


def crc16_ccitt_false(data: bytes) -> int:
    """CRC-16/CCITT-FALSE: polynomial 0x1021, initial value 0xFFFF, no reflection, no xor-out."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def crc_of(payload_up_to_6304: str) -> str:
    """The four uppercase hex digits that follow ``6304``, computed over everything before them."""
    return f"{crc16_ccitt_false(payload_up_to_6304.encode('ascii')):04X}"


def crc_is_valid(qris: str) -> bool:
    if not qris.startswith("000201") or not qris.isascii():
        return False
    match = _CRC_TAIL.search(qris)
    return match is not None and crc_of(qris[:-4]) == match.group(1)
