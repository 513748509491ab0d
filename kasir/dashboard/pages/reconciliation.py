"""Reconciliation: the credits matching could not settle (unmatched, late) and the notifications
no parser read, each assignable to a payment by hand with a confirmation step, through the same
services as ``POST /v1/mutations/{id}/assign`` and ``POST /v1/sources/{id}/notifications/{nid}/assign``,
with an audit line in the same transaction (docs/mutations.md, docs/sources.md)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import Connection

from kasir.api.state import app_state
from kasir.clock import utcnow
from kasir.dashboard import reconciliation_data
from kasir.dashboard.web import BUILDERS, PREFIX, DashboardRoute, allowed, form, principal, redirect, render
from kasir.errors import InvalidRequest
from kasir.payments import reconciliation
from kasir.payments.service import get_payment
from kasir.sources import notifications, registry
from kasir.team import audit
from kasir.team.sessions import Visitor

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
BASE = f"{PREFIX}/reconciliation"
NAV_ENTRY = (BASE, "reconciliation", BUILDERS)
# Owners and developers only (docs/dashboard.md, \"Team roles\"): a cashier gets the 403 page.
builders = allowed(BUILDERS)
PAGE_SIZE = 20
# What an invoice id looks like (PAY-toko_kopi-1795314355-OT93MK): the notice after an
# assignment names one, and nothing else.
INVOICE = re.compile(r"[A-Za-z0-9_.:-]{1,80}")
# The audit actions this page writes (and lists, most recent first).
ASSIGN_MUTATION = "assign_mutation"
ASSIGN_NOTIFICATION = "assign_notification"
REPARSE_NOTIFICATION = "reparse_notification"
ACTIONS = (ASSIGN_MUTATION, ASSIGN_NOTIFICATION, REPARSE_NOTIFICATION)

WORDS: dict[str, dict[str, str]] = {
    "id": {
        "rec_intro": (
            "Uang masuk yang tidak cocok dengan pembayaran mana pun, dan notifikasi yang tidak terbaca."
            " Tetapkan masing-masing ke pembayarannya dengan tangan."
        ),
        "rec_credits": "Mutasi belum cocok",
        "rec_no_credits": "Tidak ada mutasi yang menunggu.",
        "rec_notifications": "Notifikasi perlu ditinjau",
        "rec_no_notifications": "Tidak ada notifikasi yang menunggu.",
        "rec_amount": "Nominal",
        "rec_channel": "Kanal",
        "rec_reference": "Referensi",
        "rec_time": "Waktu (WIB)",
        "rec_status": "Status",
        "rec_description": "Keterangan",
        "rec_source": "Sumber",
        "rec_app": "Aplikasi",
        "rec_text": "Isi notifikasi",
        "rec_outcome": "Hasil",
        "rec_status_unmatched": "tidak cocok",
        "rec_status_late": "terlambat",
        "rec_status_matched": "cocok",
        "rec_late_for": "terlambat untuk {invoice}",
        "rec_assign": "Tetapkan ke pembayaran",
        "rec_reparse": "Baca ulang",
        "rec_page": "Halaman {page} dari {pages}",
        "rec_newer": "Lebih baru",
        "rec_older": "Lebih lama",
        "rec_choose_title": "Pilih pembayaran",
        "rec_credit": "Mutasi",
        "rec_notification": "Notifikasi",
        "rec_invoice_id": "ID invoice pembayaran",
        "rec_next": "Lanjut",
        "rec_candidates": "Pembayaran yang masih bisa dibayar di kanal ini",
        "rec_no_candidates": "Tidak ada pembayaran tertunda atau kedaluwarsa di kanal ini.",
        "rec_choose": "Pilih",
        "rec_confirm_title": "Konfirmasi penetapan",
        "rec_confirm_lead": (
            "Bandingkan nominal sebelum mengonfirmasi. Pembayaran akan menjadi lunas dan callback toko dikirim."
        ),
        "rec_payment": "Pembayaran",
        "rec_final_amount": "Nominal yang harus dibayar",
        "rec_expires": "Kedaluwarsa (WIB)",
        "rec_payment_status_pending": "menunggu",
        "rec_payment_status_paid": "lunas",
        "rec_payment_status_expired": "kedaluwarsa",
        "rec_payment_status_cancelled": "dibatalkan",
        "rec_amounts_differ": "Nominal berbeda: mutasi Rp {credit}, pembayaran Rp {payment}.",
        "rec_amounts_equal": "Nominal sama.",
        "rec_not_payable": "Pembayaran ini {status}: tidak dapat dibayar lagi.",
        "rec_other_channel": "Pembayaran ini memakai kanal lain ({channel}).",
        "rec_notification_amount": "Notifikasi dicatat sebagai uang masuk sebesar nominal pembayaran: Rp {payment}.",
        "rec_confirm": "Ya, tetapkan dan tandai lunas",
        "rec_cancel": "Batal",
        "rec_done_assigned": "Ditetapkan: {invoice} sudah lunas.",
        "rec_done_reparsed": "Dibaca ulang: hasilnya {outcome}.",
        "rec_recent_actions": "Tindakan manual terakhir",
        "rec_no_actions": "Belum ada tindakan manual.",
        "rec_action_assign_mutation": "menetapkan mutasi {subject} ke {invoice}",
        "rec_action_assign_notification": "menetapkan notifikasi {subject} ke {invoice}",
        "rec_action_reparse_notification": "membaca ulang notifikasi {subject}: {outcome}",
        "rec_already_matched": "Mutasi ini sudah membayar {invoice}.",
        "rec_code": "Kode",
        "rec_received_at": "Diterima (WIB)",
        "rec_outcome_unparsed": "tidak terbaca",
        "rec_outcome_invalid": "nominal tidak sah",
        "rec_outcome_credited": "menjadi mutasi",
        "rec_outcome_ignored": "diabaikan",
        "rec_credited_already": "Notifikasi ini sudah menjadi mutasi {mutation}.",
        "rec_credit_paid": "Mutasi itu membayar {invoice}.",
        "rec_actor_at": "{actor}, {when} WIB",
    },
    "en": {
        "rec_intro": (
            "Money in that matched no payment, and notifications no parser read. Assign each to its payment by hand."
        ),
        "rec_credits": "Unmatched credits",
        "rec_no_credits": "No credit is waiting.",
        "rec_notifications": "Notifications to review",
        "rec_no_notifications": "No notification is waiting.",
        "rec_amount": "Amount",
        "rec_channel": "Channel",
        "rec_reference": "Reference",
        "rec_time": "Time (WIB)",
        "rec_status": "Status",
        "rec_description": "Description",
        "rec_source": "Source",
        "rec_app": "App",
        "rec_text": "Notification text",
        "rec_outcome": "Outcome",
        "rec_status_unmatched": "unmatched",
        "rec_status_late": "late",
        "rec_status_matched": "matched",
        "rec_late_for": "late for {invoice}",
        "rec_assign": "Assign to a payment",
        "rec_reparse": "Re-parse",
        "rec_page": "Page {page} of {pages}",
        "rec_newer": "Newer",
        "rec_older": "Older",
        "rec_choose_title": "Choose the payment",
        "rec_credit": "Credit",
        "rec_notification": "Notification",
        "rec_invoice_id": "The payment's invoice id",
        "rec_next": "Next",
        "rec_candidates": "Payments on this channel that can still be paid",
        "rec_no_candidates": "No pending or expired payment on this channel.",
        "rec_choose": "Choose",
        "rec_confirm_title": "Confirm the assignment",
        "rec_confirm_lead": (
            "Compare the amounts before you confirm. The payment becomes paid and the shop's callback goes out."
        ),
        "rec_payment": "Payment",
        "rec_final_amount": "Amount to pay",
        "rec_expires": "Expires (WIB)",
        "rec_payment_status_pending": "pending",
        "rec_payment_status_paid": "paid",
        "rec_payment_status_expired": "expired",
        "rec_payment_status_cancelled": "cancelled",
        "rec_amounts_differ": "The amounts differ: credit Rp {credit}, payment Rp {payment}.",
        "rec_amounts_equal": "The amounts are the same.",
        "rec_not_payable": "This payment is {status}: it cannot be paid again.",
        "rec_other_channel": "This payment is on another channel ({channel}).",
        "rec_notification_amount": "The notification is recorded as money in of the payment's amount: Rp {payment}.",
        "rec_confirm": "Yes, assign it and mark it paid",
        "rec_cancel": "Cancel",
        "rec_done_assigned": "Assigned: {invoice} is paid.",
        "rec_done_reparsed": "Re-parsed: it is now {outcome}.",
        "rec_recent_actions": "Latest manual actions",
        "rec_no_actions": "No manual action yet.",
        "rec_action_assign_mutation": "assigned credit {subject} to {invoice}",
        "rec_action_assign_notification": "assigned notification {subject} to {invoice}",
        "rec_action_reparse_notification": "re-parsed notification {subject}: {outcome}",
        "rec_already_matched": "This credit already paid {invoice}.",
        "rec_code": "Code",
        "rec_received_at": "Received (WIB)",
        "rec_outcome_unparsed": "unparsed",
        "rec_outcome_invalid": "invalid amount",
        "rec_outcome_credited": "became a credit",
        "rec_outcome_ignored": "ignored",
        "rec_credited_already": "This notification is already the credit {mutation}.",
        "rec_credit_paid": "That credit paid {invoice}.",
        "rec_actor_at": "{actor}, {when} WIB",
    },
}


def page_number(value: str | None) -> int:
    """A page number from the query; anything else is the first page."""
    if value and value.isascii() and value.isdigit() and 0 < int(value) < 10**6:
        return int(value)
    return 1


def invoice_of(params: dict[str, Any]) -> str:
    invoice = params.get("invoice_id")
    if not isinstance(invoice, str) or not invoice.strip():
        raise InvalidRequest("invoice_id is required", field="invoice_id", code="missing_parameter")
    return invoice.strip()


@router.get(BASE)
async def reconciliation_page(request: Request, visitor: Visitor = Depends(builders)) -> Response:
    caller = principal(visitor)
    page = page_number(request.query_params.get("page"))
    npage = page_number(request.query_params.get("npage"))
    flt = reconciliation.MutationFilter(matched=False, page=page, limit=PAGE_SIZE)

    def read(conn: Connection) -> dict[str, Any]:
        actions = [
            line
            for line in audit.recent(conn, visitor.merchant_id, visitor.mode, limit=100)
            if line["action"] in ACTIONS
        ]
        return {
            "credits": reconciliation.list_mutations(conn, caller, flt),
            "review": reconciliation_data.review_notifications(conn, caller, npage, PAGE_SIZE),
            "actions": actions[:10],
        }

    found = await app_state(request).db.read(read)
    context = {
        **found,
        "page": page,
        "npage": npage,
        "done": request.query_params.get("done"),
        "invoice": invoice if INVOICE.fullmatch(invoice := request.query_params.get("invoice", "")) else "",
    }
    return render(request, "dashboard/reconciliation.html", context, visitor=visitor, words=WORDS)


# --- a credit ------------------------------------------------------------------------------------


@router.get(BASE + "/mutations/{mutation_id}")
async def choose_for_mutation(request: Request, mutation_id: str, visitor: Visitor = Depends(builders)) -> Response:
    caller = principal(visitor)
    now = utcnow()

    def read(conn: Connection) -> dict[str, Any]:
        mutation = reconciliation.get_mutation(conn, caller, mutation_id)
        return {
            "mutation": mutation,
            "candidates": reconciliation_data.payable_payments(conn, caller, mutation["channel"], now),
        }

    found = await app_state(request).db.read(read)
    return render(request, "dashboard/reconciliation_choose.html", found, visitor=visitor, words=WORDS)


@router.get(BASE + "/mutations/{mutation_id}/confirm")
async def confirm_for_mutation(request: Request, mutation_id: str, visitor: Visitor = Depends(builders)) -> Response:
    caller = principal(visitor)
    invoice = invoice_of(dict(request.query_params))
    now = utcnow()

    def read(conn: Connection) -> dict[str, Any]:
        mutation = reconciliation.get_mutation(conn, caller, mutation_id)
        payment = reconciliation_data.shown_payment(get_payment(conn, caller, invoice), now)
        return {"mutation": mutation, "payment": payment}

    found = await app_state(request).db.read(read)
    return render(request, "dashboard/reconciliation_confirm.html", found, visitor=visitor, words=WORDS)


@router.post(BASE + "/mutations/{mutation_id}/assign")
async def assign_mutation(request: Request, mutation_id: str, visitor: Visitor = Depends(builders)) -> Response:
    params = await form(request, visitor)
    invoice = invoice_of(params)
    caller = principal(visitor)
    state = app_state(request)
    public_url = state.settings.public_url
    now = utcnow()

    def settle(conn: Connection) -> str:
        mutation, paid = reconciliation.assign(conn, caller, mutation_id, invoice, public_url, now)
        audit.record(
            conn,
            visitor,
            ASSIGN_MUTATION,
            mutation["public_id"],
            now,
            payment_id=paid["id"],
            details={"invoice_id": paid["invoice_id"], "amount": mutation["amount"], "channel": mutation["channel"]},
        )
        return str(paid["invoice_id"])

    paid_invoice = await state.db.write(settle, retry_conflicts=True)
    return redirect(f"{BASE}?done=assigned&invoice={quote(paid_invoice)}")


# --- a notification ------------------------------------------------------------------------------


def _notification_url(source_id: str, notification_id: str) -> str:
    return f"{BASE}/sources/{source_id}/notifications/{notification_id}"


@router.get(BASE + "/sources/{source_id}/notifications/{notification_id}")
async def choose_for_notification(
    request: Request, source_id: str, notification_id: str, visitor: Visitor = Depends(builders)
) -> Response:
    caller = principal(visitor)
    now = utcnow()

    def read(conn: Connection) -> dict[str, Any]:
        source = registry.get(conn, caller, source_id)
        shown = notifications.get_notification(conn, source, notification_id)
        return {
            "source": source,
            "notification": shown,
            "candidates": reconciliation_data.payable_payments(conn, caller, shown["channel"], now),
        }

    found = await app_state(request).db.read(read)
    context = {**found, "done": request.query_params.get("done")}
    return render(request, "dashboard/reconciliation_choose.html", context, visitor=visitor, words=WORDS)


@router.get(BASE + "/sources/{source_id}/notifications/{notification_id}/confirm")
async def confirm_for_notification(
    request: Request, source_id: str, notification_id: str, visitor: Visitor = Depends(builders)
) -> Response:
    caller = principal(visitor)
    invoice = invoice_of(dict(request.query_params))
    now = utcnow()

    def read(conn: Connection) -> dict[str, Any]:
        source = registry.get(conn, caller, source_id)
        shown = notifications.get_notification(conn, source, notification_id)
        payment = reconciliation_data.shown_payment(get_payment(conn, caller, invoice), now)
        return {"source": source, "notification": shown, "payment": payment}

    found = await app_state(request).db.read(read)
    return render(request, "dashboard/reconciliation_confirm.html", found, visitor=visitor, words=WORDS)


@router.post(BASE + "/sources/{source_id}/notifications/{notification_id}/assign")
async def assign_notification(
    request: Request, source_id: str, notification_id: str, visitor: Visitor = Depends(builders)
) -> Response:
    params = await form(request, visitor)
    invoice = invoice_of(params)
    caller = principal(visitor)
    state = app_state(request)
    settings = state.settings
    now = utcnow()

    def settle(conn: Connection) -> str:
        source = registry.get(conn, caller, source_id)
        row, paid = notifications.assign(conn, caller, source, notification_id, invoice, settings, now)
        audit.record(
            conn,
            visitor,
            ASSIGN_NOTIFICATION,
            row["public_id"],
            now,
            payment_id=paid["id"],
            details={
                "invoice_id": paid["invoice_id"],
                "source_id": source["public_id"],
                "mutation_id": row.get("mutation_public_id"),
                "amount": row["amount"],
            },
        )
        return str(paid["invoice_id"])

    paid_invoice = await state.db.write(settle, retry_conflicts=True)
    return redirect(f"{BASE}?done=assigned&invoice={quote(paid_invoice)}")


@router.post(BASE + "/sources/{source_id}/notifications/{notification_id}/reparse")
async def reparse_notification(
    request: Request, source_id: str, notification_id: str, visitor: Visitor = Depends(builders)
) -> Response:
    await form(request, visitor)
    caller = principal(visitor)
    state = app_state(request)
    settings = state.settings
    now = utcnow()

    def work(conn: Connection) -> None:
        source = registry.get(conn, caller, source_id)
        row = notifications.reparse(conn, source, notification_id, settings, now)
        invoice = row.get("invoice_id")
        audit.record(
            conn,
            visitor,
            REPARSE_NOTIFICATION,
            row["public_id"],
            now,
            payment_id=int(get_payment(conn, caller, invoice)["id"]) if invoice else None,
            details={"outcome": row["outcome"], "code": row["code"], "invoice_id": invoice},
        )

    await state.db.write(work, retry_conflicts=True)
    return redirect(f"{_notification_url(source_id, notification_id)}?done=reparsed")
