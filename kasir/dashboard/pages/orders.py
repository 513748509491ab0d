"""WA Store orders (seed 004): listed with wa-store-orders' filters (and list-payments' WIB days),
one order's page (items, buyer, payment, story, audit lines), and its steps: processed, completed,
cancelled, a payment issued again (docs/store.md).

Everything goes through the API's own functions: the list's query is checked by ``order_filter``
and selected by ``orders.list_orders``; an order is read by ``orders.get_order`` after the
merchant's overdue payments are expired, as the API reads it; a step is ``orders.take_step``, and
which steps an order can take is ``orders.allowed_steps``: the page offers only those, and a step
the service refuses anyway (a stale page, a race) comes back on the order's page with its reason.

Roles (docs/dashboard.md, "Team roles"): everyone lists and opens orders, and a cashier, who hands
the goods over, marks them processed and completed; cancelling and billing again are the owner's
and the developer's. A cashier sees the buyer's name and a masked phone number: enough to hand
over to the right person, not a list of numbers to copy.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import Connection

from kasir.api.deps import expire_stale_payments
from kasir.api.routes.store import order_filter
from kasir.api.schemas import query_count
from kasir.api.state import app_state
from kasir.clock import utcnow
from kasir.dashboard.payments_detail import details_text
from kasir.dashboard.web import (
    BUILDERS,
    EVERYONE,
    PREFIX,
    DashboardRoute,
    allowed,
    form,
    may,
    principal,
    redirect,
    render,
)
from kasir.delivery.notifiers import masked_phone
from kasir.errors import Conflict, InvalidRequest, KasirError
from kasir.merchants.service import Principal
from kasir.payments.methods import METHODS
from kasir.store import orders
from kasir.store.views import order_view
from kasir.team import audit
from kasir.team.sessions import Visitor

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
BASE = f"{PREFIX}/orders"
NAV_ENTRY = (BASE, "orders", EVERYONE)
PAGE_SIZE = 20
# The list's query: wa-store-orders' status and search, and list-payments' WIB days.
FILTERS = ("search", "status", "start_date", "end_date")
PAYMENT_STATUSES = ("pending", "paid", "expired", "cancelled")
# Who may take each step (the route of each refuses anyone else with the 403 page).
STEP_ROLES = {"process": EVERYONE, "complete": EVERYONE, "cancel": BUILDERS, "payment": BUILDERS}
# The order's story, in its order: the order view's ``<step>_at`` times.
STORY = ("created", "paid", "processing", "completed", "cancelled")

WORDS: dict[str, dict[str, str]] = {
    "id": {
        "ord_title": "Pesanan WA Store",
        "ord_intro": (
            "Pesanan dari chat WhatsApp, dibayar lewat Kasir. Tandai diproses saat disiapkan dan selesai saat "
            "diserahkan; pembeli mendapat pesan WhatsApp di setiap langkah."
        ),
        "ord_search_label": "Cari (nomor pesanan, nama, telepon, invoice)",
        "ord_status_label": "Status",
        "ord_start_date_label": "Dari tanggal (WIB)",
        "ord_end_date_label": "Sampai tanggal (WIB)",
        "ord_any": "Semua",
        "ord_filter": "Saring",
        "ord_reset": "Hapus saringan",
        "ord_status_pending": "belum ditagih",
        "ord_status_waiting_payment": "menunggu pembayaran",
        "ord_status_paid": "dibayar",
        "ord_status_processing": "diproses",
        "ord_status_completed": "selesai",
        "ord_status_cancelled": "dibatalkan",
        "ord_payment_pending": "menunggu",
        "ord_payment_paid": "dibayar",
        "ord_payment_expired": "kedaluwarsa",
        "ord_payment_cancelled": "dibatalkan",
        "ord_col_number": "Pesanan",
        "ord_col_created": "Dibuat (WIB)",
        "ord_col_customer": "Pembeli",
        "ord_col_items": "Barang",
        "ord_col_total": "Total",
        "ord_col_status": "Status",
        "ord_total_found": "{total} pesanan",
        "ord_page_of": "Halaman {page} dari {pages}",
        "ord_previous": "Sebelumnya",
        "ord_next": "Berikutnya",
        "ord_pages_nav": "Halaman",
        "ord_none_found": "Tidak ada pesanan yang cocok.",
        "ord_back": "Kembali ke daftar pesanan",
        "ord_order_title": "Pesanan {number}",
        "ord_items": "Barang",
        "ord_item": "Barang",
        "ord_quantity": "Jumlah",
        "ord_price": "Harga",
        "ord_subtotal": "Subtotal",
        "ord_total": "Total",
        "ord_customer": "Pembeli",
        "ord_customer_name": "Nama",
        "ord_customer_phone": "Telepon / WhatsApp",
        "ord_phone_masked": "disamarkan untuk kasir",
        "ord_notes": "Catatan",
        "ord_none": "—",
        "ord_payment": "Pembayaran",
        "ord_no_payment": "Belum ada tagihan untuk pesanan ini.",
        "ord_invoice": "Invoice",
        "ord_payment_status": "Status pembayaran",
        "ord_final_amount": "Yang dibayar pembeli",
        "ord_breakdown": "Rp {total} + kode unik {code}",
        "ord_method": "Metode",
        "ord_expires": "Batas bayar (WIB)",
        "ord_paid_amount": "Diterima",
        "ord_reference": "Referensi",
        "ord_pay_link": "Tautan pembayaran",
        "ord_actions": "Tindakan",
        "ord_no_actions": "Tidak ada langkah yang bisa Anda lakukan untuk pesanan ini sekarang.",
        "ord_notify": "Kirim pesan WhatsApp ke pembeli",
        "ord_do_process": "Tandai diproses",
        "ord_do_complete": "Tandai selesai",
        "ord_do_payment": "Buat tagihan baru",
        "ord_payment_method": "Metode tagihan",
        "ord_do_cancel": "Batalkan pesanan…",
        "ord_cancel_confirm": (
            "Pesanan dibatalkan dan pembayarannya yang masih menunggu ikut dibatalkan. Pesanan yang sudah dibayar "
            "tetap dibayar: pengembalian dana dilakukan sendiri. Batalkan pesanan ini?"
        ),
        "ord_cancel_yes": "Ya, batalkan pesanan",
        "ord_done_process": "Pesanan ditandai diproses.",
        "ord_done_complete": "Pesanan ditandai selesai.",
        "ord_done_cancel": "Pesanan dibatalkan.",
        "ord_done_payment": "Tagihan baru dibuat; tautannya dikirim ke pembeli bila pesan dicentang.",
        "ord_story": "Riwayat",
        "ord_step_created": "Dibuat",
        "ord_step_paid": "Dibayar",
        "ord_step_processing": "Diproses",
        "ord_step_completed": "Selesai",
        "ord_step_cancelled": "Dibatalkan",
        "ord_audit": "Log audit",
        "ord_no_audit": "Belum ada tindakan manual.",
    },
    "en": {
        "ord_title": "WA Store orders",
        "ord_intro": (
            "Orders taken in WhatsApp chats, paid through Kasir. Mark one processing while it is prepared and "
            "completed when it is handed over; the buyer gets a WhatsApp message at each step."
        ),
        "ord_search_label": "Search (order number, name, phone, invoice)",
        "ord_status_label": "Status",
        "ord_start_date_label": "From (WIB)",
        "ord_end_date_label": "To (WIB)",
        "ord_any": "Any",
        "ord_filter": "Filter",
        "ord_reset": "Clear filters",
        "ord_status_pending": "not billed yet",
        "ord_status_waiting_payment": "waiting for payment",
        "ord_status_paid": "paid",
        "ord_status_processing": "processing",
        "ord_status_completed": "completed",
        "ord_status_cancelled": "cancelled",
        "ord_payment_pending": "pending",
        "ord_payment_paid": "paid",
        "ord_payment_expired": "expired",
        "ord_payment_cancelled": "cancelled",
        "ord_col_number": "Order",
        "ord_col_created": "Created (WIB)",
        "ord_col_customer": "Buyer",
        "ord_col_items": "Items",
        "ord_col_total": "Total",
        "ord_col_status": "Status",
        "ord_total_found": "{total} orders",
        "ord_page_of": "Page {page} of {pages}",
        "ord_previous": "Previous",
        "ord_next": "Next",
        "ord_pages_nav": "Pages",
        "ord_none_found": "No order matches.",
        "ord_back": "Back to the orders",
        "ord_order_title": "Order {number}",
        "ord_items": "Items",
        "ord_item": "Item",
        "ord_quantity": "Quantity",
        "ord_price": "Price",
        "ord_subtotal": "Subtotal",
        "ord_total": "Total",
        "ord_customer": "Buyer",
        "ord_customer_name": "Name",
        "ord_customer_phone": "Phone / WhatsApp",
        "ord_phone_masked": "masked for cashiers",
        "ord_notes": "Notes",
        "ord_none": "—",
        "ord_payment": "Payment",
        "ord_no_payment": "This order has no payment yet.",
        "ord_invoice": "Invoice",
        "ord_payment_status": "Payment status",
        "ord_final_amount": "What the buyer pays",
        "ord_breakdown": "Rp {total} + unique code {code}",
        "ord_method": "Method",
        "ord_expires": "Pay by (WIB)",
        "ord_paid_amount": "Received",
        "ord_reference": "Reference",
        "ord_pay_link": "Pay link",
        "ord_actions": "Actions",
        "ord_no_actions": "There is no step you can take for this order now.",
        "ord_notify": "Send the buyer a WhatsApp message",
        "ord_do_process": "Mark as processing",
        "ord_do_complete": "Mark as completed",
        "ord_do_payment": "Issue a new payment",
        "ord_payment_method": "Payment method",
        "ord_do_cancel": "Cancel the order…",
        "ord_cancel_confirm": (
            "The order is cancelled, and its payment too while it is still pending. A paid order stays paid: "
            "refunds are yours to make by hand. Cancel this order?"
        ),
        "ord_cancel_yes": "Yes, cancel the order",
        "ord_done_process": "Order marked as processing.",
        "ord_done_complete": "Order marked as completed.",
        "ord_done_cancel": "Order cancelled.",
        "ord_done_payment": "New payment issued; its link goes to the buyer when the message is ticked.",
        "ord_story": "Story",
        "ord_step_created": "Created",
        "ord_step_paid": "Paid",
        "ord_step_processing": "Processing",
        "ord_step_completed": "Completed",
        "ord_step_cancelled": "Cancelled",
        "ord_audit": "Audit log",
        "ord_no_audit": "No manual action yet.",
    },
}


def _list_url(values: dict[str, str], page: int | None = None) -> str:
    query = {k: v for k, v in values.items() if v}
    if page is not None and page > 1:
        query["page"] = str(page)
    return f"{BASE}?{urlencode(query)}" if query else BASE


def _order_url(number: str) -> str:
    return f"{BASE}/{quote(number, safe='')}"


def _items_summary(view: dict[str, Any]) -> str:
    return ", ".join(f"{item['name']} ×{item['quantity']}" for item in view["items"])


def _shown(view: dict[str, Any], visitor: Visitor) -> dict[str, Any]:
    """The API's view of the order, with the buyer's number masked for a cashier."""
    if not may(visitor, BUILDERS):
        view = {**view, "customer_phone": masked_phone(view["customer_phone"])}
    return {**view, "items_summary": _items_summary(view)}


def _audit_lines(conn: Connection, caller: Principal, number: str) -> list[dict[str, Any]]:
    """What people did to this order by hand, oldest first."""
    return audit.for_subject(conn, caller.merchant_id, caller.mode, number, "order.")


@router.get(BASE)
async def orders_list(request: Request, visitor: Visitor = Depends(allowed(EVERYONE))) -> Response:
    state = app_state(request)
    caller = principal(visitor)
    values = {name: request.query_params.get(name, "") for name in FILTERS}
    context: dict[str, Any] = {"values": values, "statuses": orders.STATUSES, "found": None}
    try:
        page = query_count(request.query_params.get("page"), "page", 1, low=1)
        flt = replace(
            order_filter(**{name: values[name] or None for name in FILTERS}),
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
        )
    except InvalidRequest as exc:
        context["error"] = exc.message
        return render(request, "dashboard/orders.html", context, status_code=400, visitor=visitor, words=WORDS)
    await expire_stale_payments(state, caller)
    rows, total = await state.db.read(lambda conn: orders.list_orders(conn, caller, flt))
    pages = max(1, -(-total // PAGE_SIZE))
    public_url = state.settings.public_url
    context.update(
        found=[_shown(order_view(row, public_url), visitor) for row in rows],
        total=total,
        page=page,
        pages=pages,
        previous_url=_list_url(values, page - 1) if page > 1 else None,
        next_url=_list_url(values, page + 1) if page < pages else None,
    )
    return render(request, "dashboard/orders.html", context, visitor=visitor, words=WORDS)


async def _order_page(
    request: Request, visitor: Visitor, order_number: str, *, error: KasirError | None = None
) -> Response:
    state = app_state(request)
    caller = principal(visitor)
    await expire_stale_payments(state, caller)

    def read(conn: Connection) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        row = orders.get_order(conn, caller, order_number)
        return row, _audit_lines(conn, caller, row["order_number"])

    row, lines = await state.db.read(read)
    view = _shown(order_view(row, state.settings.public_url), visitor)
    context = {
        "o": view,
        "order_url": _order_url(view["order_number"]),
        "steps": [step for step in orders.allowed_steps(row) if may(visitor, STEP_ROLES[step])],
        "story": [(step, view[f"{step}_at"]) for step in STORY if view[f"{step}_at"]],
        "phone_masked": not may(visitor, BUILDERS),
        "methods": list(METHODS.values()),
        "audit": lines,
        "details_text": details_text,
        "done": request.query_params.get("done") if request.query_params.get("done") in orders.STEPS else None,
        "error": error.message if error else None,
        "error_code": error.code if error else None,
    }
    status = error.status_code if error else 200
    return render(request, "dashboard/orders_detail.html", context, status_code=status, visitor=visitor, words=WORDS)


@router.get(BASE + "/{order_number}")
async def order_page(request: Request, order_number: str, visitor: Visitor = Depends(allowed(EVERYONE))) -> Response:
    return await _order_page(request, visitor, order_number)


async def _take(request: Request, visitor: Visitor, order_number: str, step: str) -> Response:
    params = await form(request, visitor)
    state = app_state(request)
    caller = principal(visitor)
    settings = state.settings
    notify = params.get("notify") == "1"  # the form's box, ticked by default; absent is unticked
    method = params.get("payment_method") if step == "payment" and params.get("payment_method") else None
    if method is not None and not isinstance(method, str):
        raise InvalidRequest("payment_method must be text", field="payment_method")
    # As the API reads an order: its overdue payment expired (and committed) first, so that a
    # refusal below does not roll the expiry back with it.
    await expire_stale_payments(state, caller)
    now = utcnow()

    def take(conn: Connection) -> dict[str, Any]:
        before = orders.get_order(conn, caller, order_number)  # a foreign number is 404 before anything
        row = orders.take_step(
            conn, caller, before["order_number"], step, settings, now, notify=notify, payment_method=method
        )
        details: dict[str, Any] = {"from": before["status"], "to": row["status"], "notify": notify}
        if step == "payment":
            details["invoice_id"] = row["invoice_id"]
        audit.record(
            conn,
            visitor,
            f"order.{step}",
            row["order_number"],
            now,
            payment_id=row["payment_id"] if step in ("cancel", "payment") else None,
            details=details,
        )
        return row

    try:
        row = await state.db.write(take, retry_conflicts=True)
    except (Conflict, InvalidRequest) as exc:
        return await _order_page(request, visitor, order_number, error=exc)
    return redirect(f"{_order_url(row['order_number'])}?done={step}")


@router.post(BASE + "/{order_number}/process")
async def process_order(
    request: Request, order_number: str, visitor: Visitor = Depends(allowed(STEP_ROLES["process"]))
) -> Response:
    return await _take(request, visitor, order_number, "process")


@router.post(BASE + "/{order_number}/complete")
async def complete_order(
    request: Request, order_number: str, visitor: Visitor = Depends(allowed(STEP_ROLES["complete"]))
) -> Response:
    return await _take(request, visitor, order_number, "complete")


@router.post(BASE + "/{order_number}/cancel")
async def cancel_order(
    request: Request, order_number: str, visitor: Visitor = Depends(allowed(STEP_ROLES["cancel"]))
) -> Response:
    return await _take(request, visitor, order_number, "cancel")


@router.post(BASE + "/{order_number}/payment")
async def issue_payment(
    request: Request, order_number: str, visitor: Visitor = Depends(allowed(STEP_ROLES["payment"]))
) -> Response:
    return await _take(request, visitor, order_number, "payment")
