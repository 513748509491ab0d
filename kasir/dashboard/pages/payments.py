"""Payments: the list (list-payments' filters, search and pages) and its CSV export, one payment's
page (amounts, QR, pay link, its story, events, deliveries and audit lines), cancelling one, and
creating one by a form.

Every read and write goes through the API's own functions: the list's query is checked by
``payment_filter`` and selected by ``kasir.payments.listing``; a payment is found by
``service.current_payment`` (expired first when overdue) and cancelled by ``service.cancel_or_expire``;
a new one is parsed by ``CreatePaymentBody`` and made by ``service.create_payment``.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Connection

from kasir.api.deps import expire_stale_payments
from kasir.api.routes.payments import payment_filter
from kasir.api.schemas import CreatePaymentBody, parse
from kasir.api.state import app_state
from kasir.clock import to_wire, today_wib, utcnow
from kasir.dashboard import payments_detail
from kasir.dashboard.web import (
    BUILDERS,
    EVERYONE,
    HEADERS,
    PREFIX,
    DashboardRoute,
    allowed,
    form,
    may,
    principal,
    redirect,
    render,
    signed_in,
)
from kasir.errors import InvalidRequest, KasirError, NotFound
from kasir.merchants.service import get_merchant
from kasir.payments import service
from kasir.payments.listing import STATUSES, PaymentFilter, all_matching, list_payments
from kasir.payments.methods import METHODS, describe_methods
from kasir.payments.views import PaymentRow, payment_url, payment_view
from kasir.qris import image
from kasir.sources import health
from kasir.sources.confirmation import automatic_sources
from kasir.team import audit
from kasir.team.sessions import Visitor

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
NAV_ENTRY = (f"{PREFIX}/payments", "payments", EVERYONE)

LIST = f"{PREFIX}/payments"
# Who may do what here (docs/dashboard.md, "Team roles"): everyone reads; owners and developers
# create and cancel; a cashier sees only what has been paid (the list, its CSV and a payment's
# page), never the callbacks that went out about it.
builders = allowed(BUILDERS)
PAID_ONLY = "paid"
# The list's query: list-payments' parameters, as the API names them.
FILTERS = ("search", "status", "payment_method", "paid_via", "start_date", "end_date")
# What the create form sends: create-payment's fields a person fills in. Nothing else of the
# body reaches the service (a callback URL, say, would skip the API's SSRF guard).
FORM_FIELDS = (
    "amount",
    "description",
    "customer_name",
    "customer_email",
    "customer_phone",
    "payment_method",
    "redirect_url",
)
QR_SIZE = 300

WORDS: dict[str, dict[str, str]] = {
    "id": {
        "payments_title": "Pembayaran",
        "new_payment": "Buat pembayaran",
        "export_csv": "Unduh CSV",
        "filter": "Saring",
        "reset_filters": "Hapus saringan",
        "search_label": "Cari (invoice, deskripsi, nama, email, telepon)",
        "status_label": "Status",
        "method_label": "Metode",
        "paid_via_label": "Dibayar lewat",
        "start_date_label": "Dari tanggal (WIB)",
        "end_date_label": "Sampai tanggal (WIB)",
        "any": "Semua",
        "status_pending": "menunggu",
        "status_paid": "dibayar",
        "status_expired": "kedaluwarsa",
        "status_cancelled": "dibatalkan",
        "col_invoice": "Invoice",
        "col_created": "Dibuat (WIB)",
        "col_description": "Deskripsi / pelanggan",
        "col_amount": "Jumlah",
        "col_status": "Status",
        "no_payments": "Tidak ada pembayaran yang cocok.",
        "total_found": "{total} pembayaran",
        "page_of": "Halaman {page} dari {pages}",
        "previous": "Sebelumnya",
        "next": "Berikutnya",
        "pages_nav": "Halaman",
        "payment_title": "Pembayaran {invoice}",
        "back_to_list": "Kembali ke daftar pembayaran",
        "final_amount_label": "Jumlah yang dibayar pembeli",
        "amount_breakdown": "Rp {amount} + kode unik {code}",
        "qr_alt": "QRIS untuk membayar Rp {amount}",
        "pay_link": "Tautan pembayaran",
        "customer_heading": "Pelanggan",
        "customer_name_label": "Nama pelanggan",
        "customer_email_label": "Email pelanggan",
        "customer_phone_label": "Telepon pelanggan",
        "description_label": "Deskripsi",
        "redirect_url_label": "Alamat kembali setelah bayar (redirect_url)",
        "amount_label": "Jumlah (rupiah, tanpa titik)",
        "none": "—",
        "timeline": "Riwayat",
        "step_created": "Dibuat",
        "step_paid": "Dibayar",
        "step_expired": "Kedaluwarsa",
        "step_expires": "Kedaluwarsa pada",
        "step_cancelled": "Dibatalkan",
        "cancelled_by": "oleh {actor}",
        "paid_by_credit": "oleh kredit {reference} (Rp {amount}) dari {source}",
        "paid_no_credit": "tanpa catatan kredit",
        "from_notification": "Notifikasi {package} di {source}: “{title}” — {text}",
        "notification_posted": "diposting {when} WIB",
        "late_credits": "Kredit terlambat",
        "events_heading": "Event dan pengiriman callback",
        "no_events": "Belum ada event.",
        "no_deliveries": "Tidak dikirim ke endpoint mana pun.",
        "attempt_no": "Percobaan {n}",
        "col_when": "Waktu (WIB)",
        "col_http": "HTTP",
        "col_duration": "Durasi",
        "col_error": "Galat",
        "col_outcome": "Hasil",
        "duration_ms": "{ms} ms",
        "no_attempts": "Belum ada percobaan.",
        "audit_heading": "Log audit",
        "no_audit": "Belum ada tindakan manual.",
        "cancel_payment": "Batalkan pembayaran…",
        "cancel_confirm": "Pembeli tidak akan bisa membayar lagi. Batalkan pembayaran ini?",
        "cancel_yes": "Ya, batalkan",
        "done_cancelled": "Pembayaran dibatalkan.",
        "done_created": "Pembayaran dibuat. Kirim tautan atau QR ini ke pembeli.",
        "source_silent_warning": (
            "Sumber pembayaran kanal ini sedang diam: pembayaran ini tidak akan terkonfirmasi otomatis "
            "sampai HP melapor lagi."
        ),
        "create": "Buat",
        "method_unavailable": "{name} (tidak tersedia: {reason})",
        "mode_note": "Pembayaran dibuat di mode yang sedang tampil.",
        "paid_only_note": "Sebagai kasir, Anda melihat pembayaran yang sudah dibayar saja.",
    },
    "en": {
        "payments_title": "Payments",
        "new_payment": "Create a payment",
        "export_csv": "Download CSV",
        "filter": "Filter",
        "reset_filters": "Clear filters",
        "search_label": "Search (invoice, description, name, email, phone)",
        "status_label": "Status",
        "method_label": "Method",
        "paid_via_label": "Paid via",
        "start_date_label": "From (WIB)",
        "end_date_label": "To (WIB)",
        "any": "Any",
        "status_pending": "pending",
        "status_paid": "paid",
        "status_expired": "expired",
        "status_cancelled": "cancelled",
        "col_invoice": "Invoice",
        "col_created": "Created (WIB)",
        "col_description": "Description / customer",
        "col_amount": "Amount",
        "col_status": "Status",
        "no_payments": "No payment matches.",
        "total_found": "{total} payments",
        "page_of": "Page {page} of {pages}",
        "previous": "Previous",
        "next": "Next",
        "pages_nav": "Pages",
        "payment_title": "Payment {invoice}",
        "back_to_list": "Back to the payments",
        "final_amount_label": "What the buyer pays",
        "amount_breakdown": "Rp {amount} + unique code {code}",
        "qr_alt": "QRIS to pay Rp {amount}",
        "pay_link": "Pay link",
        "customer_heading": "Customer",
        "customer_name_label": "Customer name",
        "customer_email_label": "Customer email",
        "customer_phone_label": "Customer phone",
        "description_label": "Description",
        "redirect_url_label": "Where the buyer goes after paying (redirect_url)",
        "amount_label": "Amount (rupiah, no separators)",
        "none": "—",
        "timeline": "Timeline",
        "step_created": "Created",
        "step_paid": "Paid",
        "step_expired": "Expired",
        "step_expires": "Expires at",
        "step_cancelled": "Cancelled",
        "cancelled_by": "by {actor}",
        "paid_by_credit": "by credit {reference} (Rp {amount}) from {source}",
        "paid_no_credit": "no credit recorded",
        "from_notification": "{package} notification on {source}: “{title}” — {text}",
        "notification_posted": "posted {when} WIB",
        "late_credits": "Late credits",
        "events_heading": "Events and callback deliveries",
        "no_events": "No event yet.",
        "no_deliveries": "Not sent to any endpoint.",
        "attempt_no": "Attempt {n}",
        "col_when": "When (WIB)",
        "col_http": "HTTP",
        "col_duration": "Duration",
        "col_error": "Error",
        "col_outcome": "Outcome",
        "duration_ms": "{ms} ms",
        "no_attempts": "No attempt yet.",
        "audit_heading": "Audit log",
        "no_audit": "No manual action yet.",
        "cancel_payment": "Cancel the payment…",
        "cancel_confirm": "The buyer will no longer be able to pay. Cancel this payment?",
        "cancel_yes": "Yes, cancel it",
        "done_cancelled": "Payment cancelled.",
        "done_created": "Payment created. Send this link or QR to the buyer.",
        "source_silent_warning": (
            "This channel's payment source is silent: this payment will not confirm by itself until the "
            "phone reports again."
        ),
        "create": "Create",
        "method_unavailable": "{name} (unavailable: {reason})",
        "mode_note": "The payment is made in the mode shown.",
        "paid_only_note": "As a cashier, you see the paid payments only.",
    },
}


def _sees_paid_only(visitor: Visitor) -> bool:
    """A cashier sees what has been paid and nothing else (issue 19: "the cashier signs in and
    sees only what has been paid")."""
    return not may(visitor, BUILDERS)


def _query_values(request: Request, visitor: Visitor) -> dict[str, str]:
    values = {name: request.query_params.get(name, "") for name in FILTERS}
    if _sees_paid_only(visitor):
        values["status"] = PAID_ONLY  # whatever the URL says
    return values


def _filter_of(values: dict[str, str], page: str | None = None) -> PaymentFilter:
    return payment_filter(**{name: values[name] or None for name in FILTERS}, page=page, limit=None)


def _link(values: dict[str, str], **extra: Any) -> str:
    query = {k: v for k, v in values.items() if v}
    query.update({k: str(v) for k, v in extra.items()})
    return f"{LIST}?{urlencode(query)}" if query else LIST


def _page_numbers(page: int, pages: int) -> list[int | None]:
    """1 … around the current page … the last; None is a gap."""
    shown = sorted({1, pages, *range(max(1, page - 2), min(pages, page + 2) + 1)})
    out: list[int | None] = []
    for number in shown:
        if out and out[-1] is not None and number - out[-1] > 1:
            out.append(None)
        out.append(number)
    return out


@router.get(LIST)
async def payments_list(request: Request, visitor: Visitor = Depends(signed_in)) -> Response:
    state = app_state(request)
    caller = principal(visitor)
    values = _query_values(request, visitor)
    paid_only = _sees_paid_only(visitor)
    context: dict[str, Any] = {
        "values": values,
        "statuses": (PAID_ONLY,) if paid_only else STATUSES,
        "paid_only": paid_only,
        "can_create": may(visitor, BUILDERS),
        "methods": list(METHODS.values()),
        "csv_url": f"{LIST}.csv"
        + (f"?{urlencode({k: v for k, v in values.items() if v})}" if any(values.values()) else ""),
        "found": None,
    }
    try:
        flt = _filter_of(values, request.query_params.get("page"))
    except InvalidRequest as exc:
        context["error"] = exc.message
        return render(request, "dashboard/payments.html", context, status_code=400, visitor=visitor, words=WORDS)
    await expire_stale_payments(state, caller)
    found = await state.db.read(lambda conn: list_payments(conn, caller, flt))
    paging = found["pagination"]
    context["found"] = found
    context["pages"] = [
        (n, _link(values, page=n) if n else None) for n in _page_numbers(flt.page, max(1, paging["total_pages"]))
    ]
    context["previous_url"] = _link(values, page=flt.page - 1) if flt.page > 1 else None
    context["next_url"] = _link(values, page=flt.page + 1) if flt.page < paging["total_pages"] else None
    return render(request, "dashboard/payments.html", context, visitor=visitor, words=WORDS)


@router.get(f"{LIST}.csv")
async def payments_csv(request: Request, visitor: Visitor = Depends(signed_in)) -> Response:
    """Every payment the list's filters select (not one page), as CSV."""
    state = app_state(request)
    caller = principal(visitor)
    flt = _filter_of(_query_values(request, visitor))
    await expire_stale_payments(state, caller)
    rows = await state.db.read(lambda conn: all_matching(conn, caller, flt))
    body = "\ufeff" + payments_detail.csv_text(rows)  # the BOM: spreadsheets then read UTF-8 names right
    name = f"payments-{visitor.merchant_username}-{visitor.mode}-{today_wib().isoformat()}.csv"
    headers = {**HEADERS, "Content-Disposition": f'attachment; filename="{name}"'}
    return Response(body.encode("utf-8"), media_type="text/csv; charset=utf-8", headers=headers)


# --- creating one -------------------------------------------------------------------------------


async def _new_form(
    request: Request,
    visitor: Visitor,
    values: dict[str, str],
    *,
    error: KasirError | None = None,
) -> Response:
    state = app_state(request)
    caller = principal(visitor)

    def read(conn: Connection) -> list[dict[str, Any]]:
        merchant = get_merchant(conn, caller.merchant_id)
        sources = automatic_sources(conn, caller.merchant_id, caller.mode, state.settings, state.pollers)
        return describe_methods(merchant, state.settings, caller.mode, sources=sources)

    methods = await state.db.read(read)
    if not values.get("payment_method"):
        values["payment_method"] = next((m["id"] for m in methods if m["available"]), "qris")
    context = {
        "values": values,
        "methods": methods,
        "error": error.message if error else None,
        "error_field": getattr(error, "field", None) if error else None,
    }
    status = error.status_code if error else 200
    return render(request, "dashboard/payments_new.html", context, status_code=status, visitor=visitor, words=WORDS)


@router.get(f"{LIST}/new")
async def new_payment_page(request: Request, visitor: Visitor = Depends(builders)) -> Response:
    return await _new_form(request, visitor, {name: "" for name in FORM_FIELDS})


@router.post(f"{LIST}/new")
async def create_payment(request: Request, visitor: Visitor = Depends(builders)) -> Response:
    params = await form(request, visitor)
    values = {name: params[name] if isinstance(params.get(name), str) else "" for name in FORM_FIELDS}
    state = app_state(request)
    caller = principal(visitor)
    settings = state.settings
    now = utcnow()
    try:
        body: CreatePaymentBody = parse(CreatePaymentBody, {k: v for k, v in values.items() if v != ""})
        row = await state.db.write(
            lambda conn: service.create_payment(conn, caller, body.to_new_payment(), settings, now)
        )
    except KasirError as exc:
        return await _new_form(request, visitor, values, error=exc)
    return redirect(f"{LIST}/{quote(row['invoice_id'], safe='')}?done=created")


# --- one payment --------------------------------------------------------------------------------


async def _qr_data_url(qris: str | None) -> str | None:
    if not qris:
        return None
    png = await run_in_threadpool(image.render_png, qris, QR_SIZE)
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


@router.get(LIST + "/{invoice}")
async def payment_page(request: Request, invoice: str, visitor: Visitor = Depends(signed_in)) -> Response:
    state = app_state(request)
    caller = principal(visitor)
    row = await service.current_payment(state.db, caller, invoice, state.settings.public_url, utcnow())
    if _sees_paid_only(visitor) and row["status"] != PAID_ONLY:
        # The words of an unknown invoice: a cashier cannot tell a pending payment from none.
        raise NotFound(f"payment {invoice} not found", code="payment_not_found")

    def read(conn: Connection) -> dict[str, Any]:
        found = payments_detail.story(conn, caller, row)
        silent = health.silent_channels(conn, caller.merchant_id, caller.mode) if row["status"] == "pending" else ()
        found["source_silent"] = row["payment_method"] in silent
        return found

    found = await state.db.read(read)
    if not may(visitor, BUILDERS):
        found["events"] = []  # the callbacks are the integration's: URLs and receivers' answers
    context = {
        **found,
        "p": payment_view(row, state.settings.public_url),
        "row": row,
        "method_name": METHODS[row["payment_method"]].name
        if row["payment_method"] in METHODS
        else row["payment_method"],
        "pay_url": payment_url(state.settings.public_url, row["invoice_id"]),
        "qr": await _qr_data_url(row["qris_string"]),
        "done": request.query_params.get("done"),
        "details_text": payments_detail.details_text,
        "can_cancel": may(visitor, BUILDERS),
        "shows_callbacks": may(visitor, BUILDERS),
        "to_wire": to_wire,
    }
    return render(request, "dashboard/payments_detail.html", context, visitor=visitor, words=WORDS)


@router.post(LIST + "/{invoice}/cancel")
async def cancel_payment(request: Request, invoice: str, visitor: Visitor = Depends(builders)) -> Response:
    await form(request, visitor)
    state = app_state(request)
    caller = principal(visitor)
    now = utcnow()

    def cancel(conn: Connection) -> tuple[PaymentRow, bool]:
        row, cancelled = service.cancel_or_expire(conn, caller, invoice, state.settings.public_url, now)
        if cancelled:
            audit.record(conn, visitor, "payment.cancel", row["invoice_id"], now, payment_id=int(row["id"]))
        return row, cancelled

    # As the API does: an overdue payment is expired and that committed, then the 409 answered,
    # so the refusal does not roll the expiry back; a foreign or unknown invoice is a 404.
    row, cancelled = await state.db.write(cancel)
    if not cancelled:
        raise service.not_pending(invoice, row)
    return redirect(f"{LIST}/{quote(row['invoice_id'], safe='')}?done=cancelled")
