"""What the owner reads, on WhatsApp or in an email, when an alert is raised (in Indonesian,
the dashboard's default language; docs/alerts.md).

Written from the alert event's payload when the message is sent, like buyer messages
(kasir.delivery.notifiers.buyer_texts), so a retried message says what the alert said when it was raised; the
link is ``KASIR_PUBLIC_URL`` and the page that shows the problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kasir.alerts.service import CALLBACKS_FAILING, ENDPOINT_DISABLED, EVENT_PREFIX, LINK_EXHAUSTED, SOURCE_SILENT
from kasir.delivery.hooks import DisableCause, EndpointDisabled
from kasir.delivery.notifiers.renderers import Text

TITLES = {
    ENDPOINT_DISABLED: "Endpoint webhook dinonaktifkan",
    SOURCE_SILENT: "Sumber pembayaran berhenti melapor",
    CALLBACKS_FAILING: "Callback gagal terkirim",
    LINK_EXHAUSTED: "Link pembayaran habis",
}
# What to do, one line each: the owner reads this on a phone, often away from a computer.
ADVICE = {
    ENDPOINT_DISABLED: "Callback ke endpoint ini berhenti. Perbaiki server penerima, lalu aktifkan lagi.",
    SOURCE_SILENT: "Pembayaran ke kanal ini tidak terkonfirmasi otomatis sampai ponsel melapor lagi. "
    "Periksa ponsel: daya, internet, dan aplikasi penerus notifikasi.",
    CALLBACKS_FAILING: "Server penerima belum menjawab 2xx. Kasir terus mencoba sesuai jadwal.",
    LINK_EXHAUSTED: "Pembeli baru tidak bisa membayar lewat link ini. Naikkan batasnya atau buat link baru.",
}


@dataclass(frozen=True, slots=True)
class AlertText:
    subject: str  # an email's subject line
    text: str


def is_alert(event_type: str) -> bool:
    return event_type.startswith(EVENT_PREFIX)


def render(event_type: str, payload: Mapping[str, Any], public_url: str, *, medium: str) -> AlertText:
    """The alert's message for ``medium`` (``whatsapp``: ``*bold*``; ``email``: plain text)."""
    cause = event_type.removeprefix(EVENT_PREFIX)
    title = TITLES.get(cause)
    if title is None:
        raise ValueError(f"no alert message for {event_type}")
    merchant = str(payload.get("merchant_name") or "").strip()
    test = payload.get("mode") == "test"
    link = public_url.rstrip("/") + str(payload["page"])
    heading = f"*{title}*" if medium == "whatsapp" else title
    lines = [
        f"Peringatan Kasir{f' untuk {merchant}' if merchant else ''}{' (MODE UJI)' if test else ''}",
        "",
        heading,
        str(payload.get("summary") or ""),
        ADVICE[cause],
        "",
        f"Lihat: {link}",
    ]
    if payload.get("raised_at"):
        lines.append(f"Waktu: {payload['raised_at']} WIB")
    lines.append("Peringatan yang sama tidak dikirim lagi dalam 1 jam.")
    subject = f"[Kasir{' mode uji' if test else ''}] {title}" + (f" - {merchant}" if merchant else "")
    return AlertText(subject, "\n".join(lines))


def notifier_text(event_type: str, payload: Mapping[str, Any], public_url: str, medium: str) -> Text:
    """``render`` as the delivery worker's renderer of ``alert.*`` deliveries
    (kasir.delivery.notifiers.renderers; registered by kasir/alerts/__init__.py)."""
    alert = render(event_type, payload, public_url, medium=medium)
    return Text(alert.text, alert.subject)


def disabled_reason(disabled: EndpointDisabled) -> str:
    """Why Kasir disabled an endpoint, as the owner's alert says it."""
    if disabled.cause is DisableCause.GONE:
        return "server penerima menjawab 410 Gone"
    return f"tidak ada callback yang berhasil selama {(disabled.failing_for or 0) / 86400:g} hari"
