"""An independent reading of QRIS for the acceptance tests: a TLV split and a bit-by-bit CRC that
share no code with kasir.qris, so a bug there cannot hide in the check."""

from __future__ import annotations


def tlv(payload: str) -> list[tuple[str, str]]:
    """Top-level (tag, value) pairs; the payload must split exactly."""
    objects, pos = [], 0
    while pos < len(payload):
        tag, length = payload[pos : pos + 2], int(payload[pos + 2 : pos + 4])
        objects.append((tag, payload[pos + 4 : pos + 4 + length]))
        pos += 4 + length
    assert pos == len(payload), payload
    return objects


def crc16(text: str) -> str:
    """CRC-16/CCITT-FALSE, bit by bit, as EMV MPM §4.7.3 describes it."""
    crc = 0xFFFF
    for byte in text.encode("utf-8"):
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return f"{crc:04X}"


def with_crc(body: str) -> str:
    return body + "6304" + crc16(body + "6304")


def wrong_crc(qris: str) -> str:
    return qris[:-1] + ("0" if qris[-1] != "0" else "1")
