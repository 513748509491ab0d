"""Alerts to the owner: what broke, when, and where the messages went (docs/alerts.md).

Owners and developers see the list, each alert with its messages' delivery state and a link to
the page that shows the problem; only an owner changes where alerts go (a WhatsApp number, and
email to the owners' sign-in addresses, to addresses of the owner's choice, or none)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import Connection

from kasir.alerts import recipients, views
from kasir.alerts.messages import TITLES
from kasir.api.state import app_state
from kasir.clock import utcnow
from kasir.dashboard.web import BUILDERS, OWNER, PREFIX, DashboardRoute, allowed, form, language, may, redirect, render
from kasir.errors import InvalidRequest
from kasir.team import audit, users
from kasir.team.sessions import Visitor

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
BASE = f"{PREFIX}/alerts"
NAV_ENTRY = (BASE, "alerts", BUILDERS)
builders = allowed(BUILDERS)
owners_only = allowed(OWNER)
PAGE_SIZE = 20
ALERT_ID = re.compile(r"alr_[0-9a-f]{1,40}")
EMAIL_CHOICES = ("owners", "list", "none")

WORDS: dict[str, dict[str, str]] = {
    "id": {
        "alr_title": "Peringatan",
        "alr_lead": (
            "Kasir mengabari pemilik lewat WhatsApp dan/atau email bila ada yang rusak sebelum pembeli "
            "mengeluh: endpoint webhook dinonaktifkan, sumber pembayaran berhenti melapor, callback gagal "
            "terlalu lama, link pembayaran habis. Paling banyak satu pesan per masalah per jam."
        ),
        "alr_recipients": "Penerima",
        "alr_whatsapp": "WhatsApp",
        "alr_whatsapp_hint": "Nomor pemilik, misalnya 0812-3456-7890. Kosongkan bila tidak mau lewat WhatsApp.",
        "alr_email": "Email",
        "alr_email_owners": "Ke email masuk para pemilik",
        "alr_email_list": "Ke alamat ini",
        "alr_email_none": "Tidak lewat email",
        "alr_emails": "Alamat email",
        "alr_emails_hint": "Untuk pilihan «Ke alamat ini»: satu alamat per baris, paling banyak 5.",
        "alr_save": "Simpan penerima",
        "alr_saved": "Penerima peringatan disimpan.",
        "alr_none_set": "belum diisi",
        "alr_no_email": "tidak ada",
        "alr_no_recipient": (
            "Belum ada penerima: peringatan hanya tampil di halaman ini. Isi nomor WhatsApp atau email di bawah."
        ),
        "alr_owner_only": "Hanya pemilik yang dapat mengubah penerima.",
        "alr_via_log": "Server ini belum mengirim {medium} sungguhan: pesan ditulis ke log server ({setting}).",
        "alr_list": "Riwayat peringatan",
        "alr_none": "Belum ada peringatan. Bagus!",
        "alr_see": "Lihat masalahnya",
        "alr_messages": "Pesan",
        "alr_no_messages": "Tidak ada pesan terkirim: belum ada penerima saat itu.",
        "alr_attempts": "{n} percobaan",
        "alr_attempt_log": "Log percobaan",
        "alr_older": "Lebih lama",
        "alr_newest": "Terbaru",
        "alr_status_pending": "menunggu",
        "alr_status_succeeded": "terkirim",
        "alr_status_failed": "gagal",
        "alr_cause_endpoint_disabled": TITLES["endpoint_disabled"],
        "alr_cause_source_silent": TITLES["source_silent"],
        "alr_cause_callbacks_failing": TITLES["callbacks_failing"],
        "alr_cause_link_exhausted": TITLES["link_exhausted"],
        "alr_error_invalid_whatsapp": "Nomor WhatsApp tidak valid: {detail}",
        "alr_error_invalid_email": "Alamat email tidak valid: {detail}",
        "alr_error_invalid_choice": "Pilih ke mana email dikirim.",
    },
    "en": {
        "alr_title": "Alerts",
        "alr_lead": (
            "Kasir tells the owner by WhatsApp and/or email when something breaks, before a buyer "
            "complains: a webhook endpoint disabled, a payment source that stopped reporting, callbacks "
            "failing too long, a payment link used up. At most one message per problem per hour."
        ),
        "alr_recipients": "Recipients",
        "alr_whatsapp": "WhatsApp",
        "alr_whatsapp_hint": "The owner's number, e.g. 0812-3456-7890. Leave empty for no WhatsApp.",
        "alr_email": "Email",
        "alr_email_owners": "To the owners' sign-in addresses",
        "alr_email_list": "To these addresses",
        "alr_email_none": "No email",
        "alr_emails": "Email addresses",
        "alr_emails_hint": "For «To these addresses»: one address a line, at most 5.",
        "alr_save": "Save recipients",
        "alr_saved": "Alert recipients saved.",
        "alr_none_set": "not set",
        "alr_no_email": "none",
        "alr_no_recipient": (
            "No recipient yet: alerts show on this page only. Give a WhatsApp number or an email below."
        ),
        "alr_owner_only": "Only an owner can change the recipients.",
        "alr_via_log": "This server sends no real {medium} yet: messages go to the server log ({setting}).",
        "alr_list": "Alert history",
        "alr_none": "No alerts yet. Good!",
        "alr_see": "See the problem",
        "alr_messages": "Messages",
        "alr_no_messages": "No message sent: there was no recipient then.",
        "alr_attempts": "{n} attempt(s)",
        "alr_attempt_log": "Attempt log",
        "alr_older": "Older",
        "alr_newest": "Newest",
        "alr_status_pending": "pending",
        "alr_status_succeeded": "sent",
        "alr_status_failed": "failed",
        "alr_cause_endpoint_disabled": "Webhook endpoint disabled",
        "alr_cause_source_silent": "Payment source stopped reporting",
        "alr_cause_callbacks_failing": "Callbacks failing",
        "alr_cause_link_exhausted": "Payment link used up",
        "alr_error_invalid_whatsapp": "Not a valid WhatsApp number: {detail}",
        "alr_error_invalid_email": "Not a valid email address: {detail}",
        "alr_error_invalid_choice": "Choose where email goes.",
    },
}


def _form_values(to: recipients.Recipients) -> dict[str, Any]:
    choice = "owners" if to.owners_default else "none" if to.email_off else "list"
    return {
        "whatsapp": to.whatsapp or "",
        "email_choice": choice,
        "emails": "" if to.owners_default else "\n".join(to.emails),
    }


async def _page(
    request: Request, visitor: Visitor, *, values: dict[str, Any] | None = None, error: str = ""
) -> Response:
    state = app_state(request)
    settings = state.settings
    before = request.query_params.get("before") or None
    before = before if before and ALERT_ID.fullmatch(before) else None

    def read(conn: Connection) -> tuple[recipients.Recipients, tuple[str, ...], list[dict[str, Any]]]:
        to = recipients.recipients_of(conn, visitor.merchant_id)
        owners = users.owner_emails(conn, visitor.merchant_id)
        rows = views.list_alerts(conn, visitor.merchant_id, visitor.mode, limit=PAGE_SIZE, before=before)
        return to, owners, rows

    to, owners, rows = await state.db.read(read)
    context = {
        "to": to,
        "owners": owners,
        "alerts": rows,
        "values": values or _form_values(to),
        "email_choices": EMAIL_CHOICES,
        "error": error,
        "done": request.query_params.get("done"),
        "can_edit": may(visitor, OWNER),
        "can_see_log": may(visitor, BUILDERS),
        "whatsapp_via_log": settings.notifier == "log",
        "email_via_log": not settings.smtp_host,
        "before": before,
        "next_before": rows[-1]["public_id"] if len(rows) == PAGE_SIZE else None,
    }
    return render(
        request, "dashboard/alerts.html", context, visitor=visitor, words=WORDS, status_code=400 if error else 200
    )


@router.get(BASE)
async def alerts_page(request: Request, visitor: Visitor = Depends(builders)) -> Response:
    return await _page(request, visitor)


@router.post(f"{BASE}/recipients")
async def save_recipients(request: Request, visitor: Visitor = Depends(owners_only)) -> Response:
    params = await form(request, visitor)
    words = WORDS[language(request)]
    values = {
        "whatsapp": params.get("whatsapp") if isinstance(params.get("whatsapp"), str) else "",
        "email_choice": params.get("email_choice"),
        "emails": params.get("emails") if isinstance(params.get("emails"), str) else "",
    }
    try:
        whatsapp = recipients.parse_whatsapp(values["whatsapp"])
        choice = values["email_choice"]
        if choice not in EMAIL_CHOICES:
            raise InvalidRequest("choose where email goes", field="email_choice", code="invalid_choice")
        emails = None if choice == "owners" else [] if choice == "none" else recipients.parse_emails(values["emails"])
    except InvalidRequest as exc:
        template = words.get(f"alr_error_{exc.code}", "{detail}")
        return await _page(request, visitor, values=values, error=template.format(detail=exc.message))
    now = utcnow()

    def save(conn: Connection) -> None:
        recipients.save_recipients(conn, visitor.merchant_id, whatsapp=whatsapp, emails=emails, now=now)
        details = {"whatsapp": whatsapp, "emails": "owners" if emails is None else emails}
        audit.record(conn, visitor, "change_alert_recipients", "alert_recipients", now, details=details)

    await app_state(request).db.write(save)
    return redirect(f"{BASE}?done=saved")
