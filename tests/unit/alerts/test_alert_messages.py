"""What the owner reads (kasir.alerts.messages): each cause's title and advice, the summary, the
link built from KASIR_PUBLIC_URL and the page, test mode said so, WhatsApp's bold marks only on
WhatsApp, and an email subject line."""

from __future__ import annotations

import pytest

from kasir.alerts import messages
from kasir.alerts.service import CAUSES

PAYLOAD = {
    "alert_id": "alr_1",
    "cause": "source_silent",
    "subject": "src_1",
    "summary": "Sumber «HP kasir» (src_1) tidak melapor sejak 2026-12-01 10:00:00 WIB.",
    "page": "/dashboard/sources/src_1",
    "mode": "live",
    "merchant_name": "Toko Satu",
    "raised_at": "2026-12-01 10:02:01",
}


def test_a_whatsapp_alert_reads_as_documented() -> None:
    alert = messages.render("alert.source_silent", PAYLOAD, "https://kasir.toko.id/", medium="whatsapp")
    assert alert.text == (
        "Peringatan Kasir untuk Toko Satu\n"
        "\n"
        "*Sumber pembayaran berhenti melapor*\n"
        "Sumber «HP kasir» (src_1) tidak melapor sejak 2026-12-01 10:00:00 WIB.\n"
        "Pembayaran ke kanal ini tidak terkonfirmasi otomatis sampai ponsel melapor lagi. "
        "Periksa ponsel: daya, internet, dan aplikasi penerus notifikasi.\n"
        "\n"
        "Lihat: https://kasir.toko.id/dashboard/sources/src_1\n"
        "Waktu: 2026-12-01 10:02:01 WIB\n"
        "Peringatan yang sama tidak dikirim lagi dalam 1 jam."
    )
    assert alert.subject == "[Kasir] Sumber pembayaran berhenti melapor - Toko Satu"


def test_an_email_has_no_bold_marks_and_test_mode_says_so() -> None:
    alert = messages.render("alert.source_silent", {**PAYLOAD, "mode": "test"}, "http://x", medium="email")
    assert "*" not in alert.text
    assert alert.text.startswith("Peringatan Kasir untuk Toko Satu (MODE UJI)\n\nSumber pembayaran berhenti melapor\n")
    assert alert.subject == "[Kasir mode uji] Sumber pembayaran berhenti melapor - Toko Satu"


@pytest.mark.parametrize("cause", CAUSES)
def test_every_cause_has_a_title_and_advice(cause: str) -> None:
    alert = messages.render(f"alert.{cause}", {**PAYLOAD, "cause": cause}, "http://x", medium="whatsapp")
    assert f"*{messages.TITLES[cause]}*" in alert.text
    assert messages.ADVICE[cause] in alert.text


def test_not_an_alert() -> None:
    assert messages.is_alert("alert.link_exhausted")
    assert not messages.is_alert("order.created")
    with pytest.raises(ValueError, match="no alert message"):
        messages.render("alert.disk_full", PAYLOAD, "http://x", medium="email")
