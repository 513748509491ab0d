"""The demo platform QRIS that `make run` configures, so a newcomer's first payment already shows
a QR code to scan.

It is labelled on its face (the merchant name a payment app displays says "JANGAN BAYAR", do
not pay) and names an acquirer that does not exist, so a banking app that scans it shows the
demo merchant and refuses to pay: no money can go anywhere. Payments are confirmed in test mode
through the sandbox instead.
"""

from __future__ import annotations

from kasir.qris.emv import DataObject, QrisError, encode, parse, with_crc

DEMO_NAME = "KASIR DEMO (JANGAN BAYAR)"  # 25 characters, the EMV maximum for tag 59


def _template(*pairs: tuple[str, str]) -> str:
    return "".join(encode(tag, value) for tag, value in pairs)


_DEMO_ACCOUNT = DataObject("26", _template(("00", "ID.KASIR.DEMO.WWW"), ("01", "9360000000000000000"), ("03", "UMI")))

DEMO_STATIC_QRIS = with_crc(
    [
        DataObject("00", "01"),
        DataObject("01", "11"),
        _DEMO_ACCOUNT,
        DataObject("51", _template(("00", "ID.CO.QRIS.WWW"), ("02", "ID0000000000000"), ("03", "UMI"))),
        DataObject("52", "5999"),
        DataObject("53", "360"),
        DataObject("58", "ID"),
        DataObject("59", DEMO_NAME),
        DataObject("60", "JAKARTA"),
        DataObject("61", "10110"),
        DataObject("62", _template(("07", "KASIRDEMO"))),
    ]
)


def is_demo(qris: str | None) -> bool:
    """Whether ``qris`` is the demo QRIS, static or with an amount embedded."""
    if qris is None:
        return False
    try:
        return parse(qris).get("26") == _DEMO_ACCOUNT.value
    except QrisError:
        return False
