"""Payment links (issue 19, docs/links.md): made here, shared to WhatsApp, each buyer gets their
own payment. The list with each link's price, uses and money received; a form to make one and to
change it; a link's page with its share buttons (WhatsApp, copy, a QR of it) and the payments made
through it; deactivating, after a confirmation. The same services as ``/v1/links``; every change
goes to the audit log. Owners and developers only (the roles of kasir.dashboard.web)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

import segno
from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import Connection

from kasir.api.deps import expire_stale_payments
from kasir.api.state import app_state
from kasir.clock import WIB, utcnow
from kasir.dashboard.web import BUILDERS, PREFIX, DashboardRoute, allowed, form, principal, redirect, render
from kasir.errors import KasirError
from kasir.goods import catalog
from kasir.links import fields, service, views
from kasir.merchants.service import Principal, get_merchant
from kasir.payments.methods import METHODS, unavailable_reason
from kasir.team import audit
from kasir.team.sessions import Visitor

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
BASE = f"{PREFIX}/links"
NAV_ENTRY = (BASE, "links", BUILDERS)
PAGE_SIZE = 20
LINK_ID = re.compile(r"lnk_[0-9a-f]{24}")
builders = allowed(BUILDERS)
# The form's fields, as the templates name them; kasir.links.fields names the API's.
FORM_FIELDS = (
    "title",
    "description",
    "price",
    "amount",
    "amount_min",
    "amount_max",
    "usage",
    "max_paid_uses",
    "expires_at",
    "redirect_url",
    "payment_method",
    *fields.ATTACHMENT_FIELDS,
)

WORDS: dict[str, dict[str, str]] = {
    "id": {
        "lnk_intro": (
            "Buat link, bagikan ke WhatsApp atau Instagram: setiap pembeli yang membukanya mendapat "
            "pembayaran dan kode unik sendiri."
        ),
        "lnk_new": "Buat link baru",
        "lnk_none": "Belum ada link pembayaran.",
        "lnk_col_title": "Link",
        "lnk_col_price": "Harga",
        "lnk_col_uses": "Dipakai",
        "lnk_col_received": "Uang diterima",
        "lnk_col_state": "Status",
        "lnk_buyer_chooses": "Pembeli menentukan",
        "lnk_range": "Rp {low} – Rp {high}",
        "lnk_uses_of": "{held} dari {cap}",
        "lnk_uses_unlimited": "{held} (tanpa batas)",
        "lnk_paid_count": "{paid} dibayar",
        "lnk_state_active": "aktif",
        "lnk_state_inactive": "nonaktif",
        "lnk_state_expired": "kedaluwarsa",
        "lnk_state_used_up": "habis",
        "lnk_older": "Lebih lama",
        "lnk_newest": "Terbaru",
        "lnk_title": "Judul",
        "lnk_title_hint": "Misalnya: Kopi Gayo 250 g",
        "lnk_description": "Keterangan (opsional)",
        "lnk_about": "Keterangan",
        "lnk_price": "Harga",
        "lnk_price_fixed": "Harga tetap",
        "lnk_price_open": "Pembeli menentukan jumlahnya (misalnya donasi)",
        "lnk_amount": "Harga (Rp)",
        "lnk_amount_min": "Paling sedikit (Rp)",
        "lnk_amount_max": "Paling banyak (Rp)",
        "lnk_usage": "Pemakaian",
        "lnk_usage_reusable": "Bisa dipakai banyak pembeli",
        "lnk_usage_single": "Sekali pakai (satu pembayaran)",
        "lnk_max_paid_uses": "Batas pemakaian (opsional)",
        "lnk_max_paid_uses_hint": (
            "Misalnya stok yang tersedia. Pembayaran yang sedang menunggu ikut dihitung; yang kedaluwarsa "
            "atau dibatalkan tidak."
        ),
        "lnk_expires_at": "Berlaku sampai (WIB, opsional)",
        "lnk_redirect_url": "Arahkan pembeli ke URL ini setelah membayar (opsional)",
        "lnk_method": "Metode pembayaran",
        "lnk_method_unavailable": "{name}: tidak tersedia ({reason})",
        "lnk_goods": "Barang digital (opsional)",
        "lnk_file": "File",
        "lnk_content": "Konten",
        "lnk_image": "Foto produk",
        "lnk_no_item": "— tidak ada —",
        "lnk_active": "Aktif: pembeli bisa membayar lewat link ini",
        "lnk_create": "Buat link",
        "lnk_save": "Simpan perubahan",
        "lnk_cancel": "Batal",
        "lnk_back": "Link pembayaran",
        "lnk_edit": "Ubah link",
        "lnk_deactivate": "Nonaktifkan",
        "lnk_deactivate_title": "Nonaktifkan link ini?",
        "lnk_deactivate_lead": (
            "Pembeli yang membuka link ini akan diberi tahu bahwa link sudah tidak aktif. Pembayaran yang "
            "sudah dibuat tetap ada dan tetap bisa dibayar sampai batas waktunya."
        ),
        "lnk_deactivate_confirm": "Ya, nonaktifkan",
        "lnk_done_created": "Link dibuat. Bagikan ke pembeli dengan tombol di bawah.",
        "lnk_done_changed": "Perubahan disimpan.",
        "lnk_done_deactivated": "Link dinonaktifkan.",
        "lnk_share": "Bagikan",
        "lnk_share_whatsapp": "Bagikan ke WhatsApp",
        "lnk_copy": "Salin link",
        "lnk_copied": "Tersalin",
        "lnk_qr_alt": "QR link pembayaran",
        "lnk_qr_hint": "Cetak atau tunjukkan QR ini: pembeli memindainya dengan kamera HP untuk membuka link.",
        "lnk_url": "Alamat link",
        "lnk_facts": "Rincian",
        "lnk_expires": "Berlaku sampai",
        "lnk_never": "tanpa batas waktu",
        "lnk_redirect": "Setelah membayar",
        "lnk_none_value": "—",
        "lnk_totals": "Jumlah",
        "lnk_total_paid": "Pembayaran lunas",
        "lnk_total_received": "Uang diterima",
        "lnk_total_pending": "Menunggu pembayaran",
        "lnk_remaining": "Sisa kuota",
        "lnk_payments": "Pembayaran lewat link ini",
        "lnk_no_payments": "Belum ada pembeli yang membuka link ini.",
        "lnk_col_invoice": "Tagihan",
        "lnk_col_buyer": "Pembeli",
        "lnk_col_amount": "Jumlah",
        "lnk_col_created": "Dibuat (WIB)",
        "lnk_status_pending": "menunggu",
        "lnk_status_paid": "lunas",
        "lnk_status_expired": "kedaluwarsa",
        "lnk_status_cancelled": "dibatalkan",
        "lnk_previous": "Sebelumnya",
        "lnk_next": "Berikutnya",
        "lnk_created_at": "Dibuat",
    },
    "en": {
        "lnk_intro": (
            "Make a link, share it to WhatsApp or Instagram: every buyer who opens it gets a payment and a "
            "unique code of their own."
        ),
        "lnk_new": "Make a new link",
        "lnk_none": "No payment link yet.",
        "lnk_col_title": "Link",
        "lnk_col_price": "Price",
        "lnk_col_uses": "Used",
        "lnk_col_received": "Money received",
        "lnk_col_state": "State",
        "lnk_buyer_chooses": "Buyer chooses",
        "lnk_range": "Rp {low} – Rp {high}",
        "lnk_uses_of": "{held} of {cap}",
        "lnk_uses_unlimited": "{held} (no cap)",
        "lnk_paid_count": "{paid} paid",
        "lnk_state_active": "active",
        "lnk_state_inactive": "inactive",
        "lnk_state_expired": "expired",
        "lnk_state_used_up": "used up",
        "lnk_older": "Older",
        "lnk_newest": "Newest",
        "lnk_title": "Title",
        "lnk_title_hint": "For example: Kopi Gayo 250 g",
        "lnk_description": "Description (optional)",
        "lnk_about": "Description",
        "lnk_price": "Price",
        "lnk_price_fixed": "Fixed price",
        "lnk_price_open": "The buyer chooses the amount (a donation, say)",
        "lnk_amount": "Price (Rp)",
        "lnk_amount_min": "At least (Rp)",
        "lnk_amount_max": "At most (Rp)",
        "lnk_usage": "Uses",
        "lnk_usage_reusable": "For many buyers",
        "lnk_usage_single": "Single use (one payment)",
        "lnk_max_paid_uses": "Cap on uses (optional)",
        "lnk_max_paid_uses_hint": (
            "The stock you have, say. Payments waiting to be paid count; expired or cancelled ones do not."
        ),
        "lnk_expires_at": "Valid until (WIB, optional)",
        "lnk_redirect_url": "Send the buyer to this URL once paid (optional)",
        "lnk_method": "Payment method",
        "lnk_method_unavailable": "{name}: not available ({reason})",
        "lnk_goods": "Digital goods (optional)",
        "lnk_file": "File",
        "lnk_content": "Content",
        "lnk_image": "Product photo",
        "lnk_no_item": "— none —",
        "lnk_active": "Active: buyers can pay through this link",
        "lnk_create": "Make the link",
        "lnk_save": "Save the changes",
        "lnk_cancel": "Cancel",
        "lnk_back": "Payment links",
        "lnk_edit": "Change the link",
        "lnk_deactivate": "Deactivate",
        "lnk_deactivate_title": "Deactivate this link?",
        "lnk_deactivate_lead": (
            "Buyers who open this link will be told it is no longer active. The payments already made stay, "
            "and can still be paid until they expire."
        ),
        "lnk_deactivate_confirm": "Yes, deactivate it",
        "lnk_done_created": "Link made. Share it with the buttons below.",
        "lnk_done_changed": "Changes saved.",
        "lnk_done_deactivated": "Link deactivated.",
        "lnk_share": "Share",
        "lnk_share_whatsapp": "Share to WhatsApp",
        "lnk_copy": "Copy the link",
        "lnk_copied": "Copied",
        "lnk_qr_alt": "QR of the payment link",
        "lnk_qr_hint": "Print or show this QR: buyers scan it with their phone's camera to open the link.",
        "lnk_url": "Link address",
        "lnk_facts": "Details",
        "lnk_expires": "Valid until",
        "lnk_never": "no end",
        "lnk_redirect": "Once paid",
        "lnk_none_value": "—",
        "lnk_totals": "Totals",
        "lnk_total_paid": "Payments paid",
        "lnk_total_received": "Money received",
        "lnk_total_pending": "Waiting for payment",
        "lnk_remaining": "Uses left",
        "lnk_payments": "Payments through this link",
        "lnk_no_payments": "No buyer has opened this link yet.",
        "lnk_col_invoice": "Invoice",
        "lnk_col_buyer": "Buyer",
        "lnk_col_amount": "Amount",
        "lnk_col_created": "Created (WIB)",
        "lnk_status_pending": "waiting",
        "lnk_status_paid": "paid",
        "lnk_status_expired": "expired",
        "lnk_status_cancelled": "cancelled",
        "lnk_previous": "Previous",
        "lnk_next": "Next",
        "lnk_created_at": "Created",
    },
}


def link_qr(url: str) -> str:
    """The link's URL as a QR, a PNG data: URL (the CSP allows no other image host), drawn as
    kasir.qris.image draws a QRIS: medium error correction, never Micro QR, a 4-module quiet zone."""
    qr = segno.make(url, error="m", micro=False, boost_error=False)
    return str(qr.png_data_uri(scale=6, border=4))


def whatsapp_url(title: str, url: str) -> str:
    """WhatsApp's share link (``wa.me/?text=``): the chat picker opens with the title and the URL."""
    return "https://wa.me/?text=" + quote(f"{title}\n{url}", safe="")


def _wib_input(moment: datetime | None) -> str:
    """A time as a datetime-local field holds it: WIB, to the minute."""
    return "" if moment is None else moment.astimezone(WIB).strftime("%Y-%m-%dT%H:%M")


def _values_of(row: Mapping[str, Any]) -> dict[str, str]:
    """The form's values for an existing link."""
    open_price = row["amount"] is None

    def text(value: Any) -> str:
        return "" if value is None else str(value)

    values = {
        "title": row["title"],
        "description": text(row["description"]),
        "price": "open" if open_price else "fixed",
        "amount": text(row["amount"]),
        "amount_min": text(row["amount_min"]),
        "amount_max": text(row["amount_max"]),
        "usage": "reusable" if row["reusable"] else "single",
        "max_paid_uses": text(row["max_paid_uses"]) if row["reusable"] else "",
        "expires_at": _wib_input(row["expires_at"]),
        "redirect_url": text(row["redirect_url"]),
        "payment_method": row["payment_method"],
        "active": "on" if row["active"] else "",
    }
    values.update({name: text(row[name]) for name in fields.ATTACHMENT_FIELDS})
    return values


def _form_values(params: Mapping[str, Any]) -> dict[str, str]:
    values = {name: params[name] if isinstance(params.get(name), str) else "" for name in FORM_FIELDS}
    values["active"] = "on" if params.get("active") else ""
    return values


def api_params(values: Mapping[str, str], *, editing: bool) -> dict[str, Any]:
    """The form as ``/v1/links`` takes it: the price kind and the usage choose which fields go."""
    params: dict[str, Any] = {
        name: values.get(name, "")
        for name in ("title", "description", "expires_at", "redirect_url", "payment_method", *fields.ATTACHMENT_FIELDS)
    }
    if values.get("price") == "open":
        params.update(amount=None, amount_min=values.get("amount_min", ""), amount_max=values.get("amount_max", ""))
    else:
        params.update(amount=values.get("amount", ""), amount_min=None, amount_max=None)
    params["reusable"] = values.get("usage") != "single"
    if params["reusable"]:
        params["max_paid_uses"] = values.get("max_paid_uses", "")
    if editing:
        params["active"] = values.get("active") == "on"
    return params


def _choices(conn: Connection, caller: Principal, settings: Any) -> dict[str, Any]:
    """What the form's selects offer: the methods (with why one is not available), the goods."""
    merchant = get_merchant(conn, caller.merchant_id)
    methods = [
        {"id": m.id, "name": m.name, "reason": unavailable_reason(m, merchant, settings, caller.mode)}
        for m in METHODS.values()
    ]
    return {
        "methods": methods,
        "files": [{"id": r["id"], "name": r["filename"]} for r in catalog.list_files(conn, caller)],
        "contents": [{"id": r["id"], "name": r["title"]} for r in catalog.list_contents(conn, caller)],
        "images": [{"id": r["id"], "name": r["filename"]} for r in catalog.list_images(conn, caller)],
    }


async def _form_page(
    request: Request,
    visitor: Visitor,
    values: Mapping[str, str],
    *,
    link: Mapping[str, Any] | None = None,
    error: KasirError | None = None,
) -> Response:
    state = app_state(request)
    caller = principal(visitor)
    choices = await state.db.read(lambda conn: _choices(conn, caller, state.settings))
    context = {
        **choices,
        "values": values,
        "link": link,
        "error": error.message if error else None,
        "error_field": error.field if error else None,
    }
    return render(
        request,
        "dashboard/links_form.html",
        context,
        visitor=visitor,
        words=WORDS,
        status_code=error.status_code if error else 200,
    )


def _shown(row: Mapping[str, Any], usage: service.Usage, public_url: str, now: datetime) -> dict[str, Any]:
    method = METHODS[row["payment_method"]]
    return views.link_view(row, usage, public_url, now) | {"held": usage.held, "method_name": method.name}


@router.get(BASE)
async def links_page(request: Request, visitor: Visitor = Depends(builders)) -> Response:
    state = app_state(request)
    caller = principal(visitor)
    before = request.query_params.get("before") or None
    if before is not None and not LINK_ID.fullmatch(before):
        before = None
    now = utcnow()

    def read(conn: Connection) -> list[dict[str, Any]]:
        rows = service.list_links(conn, caller, limit=PAGE_SIZE, before=before)
        usage = service.usage_of(conn, [row["public_id"] for row in rows], now)
        return [_shown(row, usage[row["public_id"]], state.settings.public_url, now) for row in rows]

    shown = await state.db.read(read)
    context = {
        "links": shown,
        "before": before,
        "next_before": shown[-1]["id"] if len(shown) == PAGE_SIZE else None,
    }
    return render(request, "dashboard/links.html", context, visitor=visitor, words=WORDS)


@router.get(BASE + "/new")
async def new_link_page(request: Request, visitor: Visitor = Depends(builders)) -> Response:
    values = {name: "" for name in FORM_FIELDS} | {"price": "fixed", "usage": "reusable", "payment_method": "qris"}
    return await _form_page(request, visitor, values)


@router.post(BASE)
async def create_link(request: Request, visitor: Visitor = Depends(builders)) -> Response:
    params = await form(request, visitor)
    values = _form_values(params)
    state = app_state(request)
    caller = principal(visitor)
    now = utcnow()

    def make(conn: Connection) -> dict[str, Any]:
        row = service.create_link(conn, caller, api_params(values, editing=False), state.settings, now)
        audit.record(conn, visitor, "create_link", row["public_id"], now, details=_audited(row))
        return row

    try:
        row = await state.db.write(make)
    except KasirError as exc:
        return await _form_page(request, visitor, values, error=exc)
    return redirect(f"{BASE}/{row['public_id']}?done=created")


def _audited(row: Mapping[str, Any]) -> dict[str, Any]:
    """What the audit line keeps of a link: what a buyer pays and how often."""
    return {
        name: row[name]
        for name in ("title", "amount", "amount_min", "amount_max", "reusable", "max_paid_uses", "active")
    }


@router.get(BASE + "/{link_id}")
async def link_page(request: Request, link_id: str, visitor: Visitor = Depends(builders)) -> Response:
    state = app_state(request)
    caller = principal(visitor)
    page_text = request.query_params.get("page", "1")
    page = int(page_text) if page_text.isascii() and page_text.isdigit() and 0 < int(page_text) < 10**6 else 1
    await expire_stale_payments(state, caller)
    now = utcnow()

    def read(conn: Connection) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
        link = service.get_link(conn, caller, link_id)
        usage = service.usage_of(conn, [link["public_id"]], now)[link["public_id"]]
        rows = service.link_payments(conn, caller, link, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
        return _shown(link, usage, state.settings.public_url, now), rows, service.count_payments(conn, link)

    shown, rows, total = await state.db.read(read)
    context = {
        "link": shown,
        "qr": link_qr(shown["url"]),
        "whatsapp_url": whatsapp_url(shown["title"], shown["url"]),
        "payments": rows,
        "total": total,
        "page": page,
        "pages": max(1, -(-total // PAGE_SIZE)),
        "done": request.query_params.get("done"),
    }
    return render(request, "dashboard/links_detail.html", context, visitor=visitor, words=WORDS)


@router.get(BASE + "/{link_id}/edit")
async def edit_link_page(request: Request, link_id: str, visitor: Visitor = Depends(builders)) -> Response:
    caller = principal(visitor)
    row = await app_state(request).db.read(lambda conn: service.get_link(conn, caller, link_id))
    return await _form_page(request, visitor, _values_of(row), link=row)


@router.post(BASE + "/{link_id}/edit")
async def edit_link(request: Request, link_id: str, visitor: Visitor = Depends(builders)) -> Response:
    params = await form(request, visitor)
    values = _form_values(params)
    state = app_state(request)
    caller = principal(visitor)
    now = utcnow()

    def change(conn: Connection) -> dict[str, Any]:
        service.get_link(conn, caller, link_id)  # a foreign id is 404 before the form is read
        row = service.change_link(conn, caller, link_id, api_params(values, editing=True), state.settings, now)
        audit.record(conn, visitor, "change_link", link_id, now, details=_audited(row))
        return row

    try:
        await state.db.write(change)
    except KasirError as exc:
        if exc.status_code == 404:
            raise
        row = await state.db.read(lambda conn: service.get_link(conn, caller, link_id))
        return await _form_page(request, visitor, values, link=row, error=exc)
    return redirect(f"{BASE}/{link_id}?done=changed")


@router.get(BASE + "/{link_id}/deactivate")
async def deactivate_page(request: Request, link_id: str, visitor: Visitor = Depends(builders)) -> Response:
    caller = principal(visitor)
    row = await app_state(request).db.read(lambda conn: service.get_link(conn, caller, link_id))
    return render(request, "dashboard/links_deactivate.html", {"link": row}, visitor=visitor, words=WORDS)


@router.post(BASE + "/{link_id}/deactivate")
async def deactivate(request: Request, link_id: str, visitor: Visitor = Depends(builders)) -> Response:
    await form(request, visitor)
    caller = principal(visitor)
    now = utcnow()

    def work(conn: Connection) -> None:
        row = service.deactivate_link(conn, caller, link_id, now)
        audit.record(conn, visitor, "deactivate_link", link_id, now, details={"title": row["title"]})

    await app_state(request).db.write(work)
    return redirect(f"{BASE}/{link_id}?done=deactivated")
