"""The merchant's own channels: its static QRIS for BRI and for GoPay (pasted, or a photo of it)
and its OVO number, set through ``configure_merchant``, the service ``kasir merchant set`` uses.

A QRIS is saved in two steps. The preview reads what the owner gave (the photo decoded by
kasir.qris.image) and shows what Kasir reads from it (merchant name, city, NMID, acquirer, and
that it is static) together with every refusal, before anything is saved; the confirmation then
sends the QRIS text back, and it is checked again in full by the service that saves it, so a
hidden field changed in between is refused like anything typed (docs/dashboard.md, "Channels").
A channel's acquirer must be the channel's own (``CHANNEL_ACQUIRERS``): its credits are read from
that account, so a QRIS of another one would take buyers' money where nothing confirms it.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from kasir.api.state import app_state
from kasir.clock import utcnow
from kasir.dashboard.web import OWNER, PREFIX, DashboardRoute, allowed, form, language, redirect, render
from kasir.errors import InvalidRequest, NotFound, PayloadTooLarge
from kasir.merchants.service import CHANNEL_ACQUIRERS, check_channel_qris, configure_merchant, get_merchant
from kasir.payments.methods import METHODS
from kasir.qris import image
from kasir.qris.emv import QrisError, clean
from kasir.qris.info import NATIONAL_TAG, info
from kasir.team import audit
from kasir.team.sessions import Visitor

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
BASE = f"{PREFIX}/channels"
NAV_ENTRY = (BASE, "channels", OWNER)
# The one path whose body may hold a photo (BodySizeLimit in kasir.app: upload_body_limit).
PREVIEW = f"{BASE}/preview"
IMAGE_FIELD = "image"
OVO_COLUMN = "ovo_number"
_FORM_OVERHEAD = 64 * 1024  # the multipart boundaries, the CSRF token, the channel


def upload_body_limit(max_qr_image_bytes: int) -> int:
    """The largest body the preview takes: the photo (``max_qr_image_bytes``, what the QR reader
    reads at most) and the form around it."""
    return max_qr_image_bytes + _FORM_OVERHEAD


@dataclass(frozen=True, slots=True)
class Channel:
    column: str  # the merchants column, which is also the channel's name in URLs and forms
    name: str
    is_qr: bool


# The merchant's own channels, in the methods' order (kasir.payments.methods).
CHANNELS = {
    method.channel_column: Channel(method.channel_column, method.name, method.is_qr)
    for method in METHODS.values()
    if method.channel_column is not None
}

WORDS: dict[str, dict[str, str]] = {
    "id": {
        "chn_intro": (
            "Rekening milik Anda sendiri yang menerima uang pembeli: QRIS statis BRI dan GoPay (yang "
            "dicetak di kasir), dan nomor OVO. Berlaku untuk mode uji dan live."
        ),
        "chn_subscription": "Kanal milik sendiri baru bisa dipakai pembeli dengan langganan aktif.",
        "chn_connected": "Terhubung",
        "chn_not_connected": "Belum terhubung",
        "chn_hint_qris_bri": "QRIS statis merchant BRI, seperti yang dicetak di kasir.",
        "chn_hint_qris_gopay": "QRIS statis GoPay Merchant, seperti yang dicetak di kasir.",
        "chn_paste": "Tempel teks QRIS",
        "chn_paste_hint": "Teks yang diawali 000201…",
        "chn_photo": "atau unggah foto / tangkapan layar QRIS",
        "chn_photo_hint": "PNG, JPEG, GIF atau WebP, paling besar {size} MB.",
        "chn_check": "Periksa QRIS",
        "chn_remove": "Lepas kanal",
        "chn_ovo_hint": "Nomor HP akun OVO yang menerima transfer, misalnya 0812-3456-7890.",
        "chn_ovo_number": "Nomor OVO",
        "chn_save_ovo": "Simpan nomor OVO",
        "chn_merchant_name": "Nama merchant",
        "chn_city": "Kota",
        "chn_nmid": "NMID",
        "chn_acquirer": "Acquirer",
        "chn_criteria": "Kriteria",
        "chn_kind": "Jenis",
        "chn_static": "Statis",
        "chn_dynamic": "Dinamis",
        "chn_none": "—",
        "chn_preview_title": "Periksa {channel}",
        "chn_preview_lead": "Inilah yang dibaca Kasir dari QRIS Anda. Belum ada yang disimpan.",
        "chn_qr_alt": "QRIS yang akan disimpan",
        "chn_confirm": "Simpan QRIS ini",
        "chn_cancel": "Batal",
        "chn_refused_title": "QRIS ini tidak bisa dipakai",
        "chn_nothing_saved": "Tidak ada yang disimpan.",
        "chn_try_again": "Coba QRIS lain",
        "chn_remove_title": "Lepas kanal {channel}?",
        "chn_remove_lead": (
            "Pembayaran baru dengan metode ini tidak bisa dibuat lagi sampai kanal dihubungkan "
            "kembali. Pembayaran yang sudah dibuat tidak berubah."
        ),
        "chn_remove_confirm": "Ya, lepas",
        "chn_done_saved": "Kanal {channel} disimpan.",
        "chn_done_removed": "Kanal {channel} dilepas.",
        "chn_why_qris_not_static": (
            "QRIS ini dinamis: QR untuk satu pembayaran, dengan nominal di dalamnya. Berikan QRIS "
            "statis yang dicetak di kasir."
        ),
        "chn_why_qris_crc_mismatch": (
            "CRC QRIS ini salah: teksnya berubah atau terpotong saat disalin. Salin lagi, atau unggah fotonya."
        ),
        "chn_why_qris_wrong_acquirer": (
            "QRIS ini bukan QRIS {expected}. Uang pembeli akan masuk ke rekening yang tidak dilaporkan "
            "untuk kanal ini, jadi pembayarannya tidak pernah terkonfirmasi."
        ),
        "chn_why_qris_not_rupiah": "QRIS ini bukan dalam rupiah.",
        "chn_why_not_qris": "Ini bukan QRIS: QRIS pembayaran diawali 000201.",
        "chn_why_qr_not_found": "Tidak ada kode QR yang terbaca di gambar ini. Coba foto yang lebih tajam dan lurus.",
        "chn_why_image_too_large": "Gambarnya terlalu besar (paling besar {size} MB).",
        "chn_why_image_unsupported_format": "Gambar harus PNG, JPEG, GIF atau WebP.",
        "chn_why_image_unreadable": "Berkas ini bukan gambar yang bisa dibaca (PNG, JPEG, GIF atau WebP).",
        "chn_why_missing_qris": "Tempel teks QRIS atau pilih foto QRIS.",
        "chn_why_ambiguous_qris": "Berikan teks QRIS atau fotonya, jangan keduanya.",
        "chn_why_missing_ovo": "Isi nomor OVO, atau lepas kanal OVO.",
        "chn_why_invalid_phone": "Nomor OVO harus nomor HP Indonesia, misalnya 0812-3456-7890.",
    },
    "en": {
        "chn_intro": (
            "Your own accounts that receive buyers' money: the static BRI and GoPay QRIS (the ones "
            "printed at the counter), and the OVO number. They apply in test and live mode."
        ),
        "chn_subscription": "Buyers can pay into your own channels only with an active subscription.",
        "chn_connected": "Connected",
        "chn_not_connected": "Not connected",
        "chn_hint_qris_bri": "The BRI merchant's static QRIS, as printed at the counter.",
        "chn_hint_qris_gopay": "The GoPay Merchant static QRIS, as printed at the counter.",
        "chn_paste": "Paste the QRIS text",
        "chn_paste_hint": "The text starting 000201…",
        "chn_photo": "or upload a photo / screenshot of the QRIS",
        "chn_photo_hint": "PNG, JPEG, GIF or WebP, {size} MB at most.",
        "chn_check": "Check the QRIS",
        "chn_remove": "Disconnect",
        "chn_ovo_hint": "The mobile number of the OVO account receiving transfers, such as 0812-3456-7890.",
        "chn_ovo_number": "OVO number",
        "chn_save_ovo": "Save the OVO number",
        "chn_merchant_name": "Merchant name",
        "chn_city": "City",
        "chn_nmid": "NMID",
        "chn_acquirer": "Acquirer",
        "chn_criteria": "Criteria",
        "chn_kind": "Kind",
        "chn_static": "Static",
        "chn_dynamic": "Dynamic",
        "chn_none": "—",
        "chn_preview_title": "Check the {channel}",
        "chn_preview_lead": "This is what Kasir reads from your QRIS. Nothing is saved yet.",
        "chn_qr_alt": "The QRIS to be saved",
        "chn_confirm": "Save this QRIS",
        "chn_cancel": "Cancel",
        "chn_refused_title": "This QRIS cannot be used",
        "chn_nothing_saved": "Nothing was saved.",
        "chn_try_again": "Try another QRIS",
        "chn_remove_title": "Disconnect {channel}?",
        "chn_remove_lead": (
            "No new payment by this method can be made until the channel is connected again. Payments "
            "already made are unchanged."
        ),
        "chn_remove_confirm": "Yes, disconnect",
        "chn_done_saved": "{channel} saved.",
        "chn_done_removed": "{channel} disconnected.",
        "chn_why_qris_not_static": (
            "This QRIS is dynamic: the QR of one payment, with its amount in it. Give the static QRIS "
            "printed at the counter."
        ),
        "chn_why_qris_crc_mismatch": (
            "This QRIS's CRC is wrong: the text changed or was cut when it was copied. Copy it again, "
            "or upload a photo."
        ),
        "chn_why_qris_wrong_acquirer": (
            "This is not a {expected} QRIS. Buyers' money would go to an account nothing reports for "
            "this channel, so their payments would never be confirmed."
        ),
        "chn_why_qris_not_rupiah": "This QRIS is not in rupiah.",
        "chn_why_not_qris": "This is not a QRIS: a payment QRIS starts with 000201.",
        "chn_why_qr_not_found": "No QR code could be read in this image. Try a sharper, straighter photo.",
        "chn_why_image_too_large": "The image is too large ({size} MB at most).",
        "chn_why_image_unsupported_format": "The image must be PNG, JPEG, GIF or WebP.",
        "chn_why_image_unreadable": "This file is not a readable image (PNG, JPEG, GIF or WebP).",
        "chn_why_missing_qris": "Paste the QRIS text or choose a photo of it.",
        "chn_why_ambiguous_qris": "Give the QRIS text or its photo, not both.",
        "chn_why_missing_ovo": "Enter the OVO number, or disconnect the OVO channel.",
        "chn_why_invalid_phone": "The OVO number must be an Indonesian mobile number, such as 0812-3456-7890.",
    },
}


def _channel(column: object, *, qr: bool | None = None) -> Channel:
    """The channel named ``column`` (of the kind ``qr`` asks for), or the 404 page."""
    found = CHANNELS.get(column) if isinstance(column, str) else None
    if found is None or (qr is not None and found.is_qr != qr):
        raise NotFound("there is no such channel", code="channel_not_found")
    return found


def _size_mb(request: Request) -> str:
    return f"{app_state(request).settings.max_qr_image_bytes / (1024 * 1024):g}"


def described(qris: str) -> dict[str, Any] | None:
    """What Kasir reads from ``qris`` to show a person, or None when it cannot be read at all. A
    wrong CRC is described all the same (the refusal says it is wrong): it may be one typo."""
    try:
        found = info(qris, require_valid_crc=False)
    except QrisError:
        return None
    acquirers = [
        a.name or a.id or f"tag {a.tag}"
        for a in found.acquirers
        if a.tag != NATIONAL_TAG  # the national repository's record (the NMID), not an acquirer
    ]
    return {
        "merchant_name": found.merchant_name.strip(),
        "merchant_city": found.merchant_city.strip(),
        "postal_code": found.postal_code,
        "nmid": found.nmid,
        "acquirers": acquirers,
        "criteria": found.criteria_name or found.criteria,
        "is_dynamic": found.is_dynamic or found.amount is not None,
        "amount": found.amount,
    }


def _reason(request: Request, exc: InvalidRequest | PayloadTooLarge, column: str | None) -> dict[str, str]:
    """A refusal in the visitor's words (the service's own message under it, for the details)."""
    words = WORDS[language(request)]
    template = words.get(f"chn_why_{exc.code}")
    expected = CHANNEL_ACQUIRERS.get(column or "", "")
    if template is None:
        return {"code": exc.code, "reason": exc.message, "detail": ""}
    return {
        "code": exc.code,
        "reason": template.format(expected=expected, size=_size_mb(request)),
        "detail": exc.message,
    }


async def _qris_given(request: Request, params: dict[str, Any]) -> str:
    """The QRIS text of the preview's form: pasted, or read from the photo; exactly one."""
    typed = params.get("qris")
    typed = clean(typed) if isinstance(typed, str) else ""
    upload = params.get(IMAGE_FIELD)
    limit = app_state(request).settings.max_qr_image_bytes
    # A file input left empty still sends its part, with no name and no bytes.
    data = await upload.read(limit + 1) if isinstance(upload, UploadFile) else b""
    if isinstance(upload, str) and upload:
        raise InvalidRequest("image must be a file", field=IMAGE_FIELD, code="image_unreadable")
    if typed and data:
        raise InvalidRequest("give the QRIS text or a photo of it, not both", field="qris", code="ambiguous_qris")
    if data:
        # Decoding a photo and scanning it is milliseconds of CPU: off the event loop.
        return await run_in_threadpool(image.read_qris, data, max_bytes=limit)
    if typed:
        return typed
    raise InvalidRequest("paste the QRIS or choose a photo of it", field="qris", code="missing_qris")


def _preview_page(
    request: Request,
    visitor: Visitor,
    channel: Channel,
    *,
    qris: str | None,
    refusal: InvalidRequest | PayloadTooLarge | None = None,
) -> Response:
    context: dict[str, Any] = {
        "channel": channel,
        "qris": qris if refusal is None else None,
        "found": described(qris) if qris else None,
        "refusal": _reason(request, refusal, channel.column) if refusal is not None else None,
        "qr": None,
    }
    if refusal is None and qris is not None:
        context["qr"] = "data:image/png;base64," + base64.b64encode(image.render_png(qris)).decode()
    status = refusal.status_code if refusal is not None else 200
    return render(request, "dashboard/channels_preview.html", context, visitor=visitor, words=WORDS, status_code=status)


async def _channels_page(
    request: Request, visitor: Visitor, *, ovo_error: dict[str, str] | None = None, ovo_given: str = ""
) -> Response:
    merchant = await app_state(request).db.read(lambda conn: get_merchant(conn, visitor.merchant_id))
    shown = []
    for channel in CHANNELS.values():
        value = merchant[channel.column]
        shown.append(
            {
                "channel": channel,
                "value": value,
                "found": described(value) if value and channel.is_qr else None,
            }
        )
    done = request.query_params.get("done")
    done_channel = CHANNELS.get(request.query_params.get("channel") or "")
    context = {
        "channels": shown,
        "subscription_active": bool(merchant["subscription_active"]),
        "done": done if done in ("saved", "removed") and done_channel else None,
        "done_channel": done_channel,
        "ovo_error": ovo_error,
        "ovo_given": ovo_given,
        "size_mb": _size_mb(request),
        "image_field": IMAGE_FIELD,
        "preview": PREVIEW,
    }
    return render(
        request,
        "dashboard/channels.html",
        context,
        visitor=visitor,
        words=WORDS,
        status_code=400 if ovo_error else 200,
    )


def _audit_details(column: str, value: str | None) -> dict[str, Any]:
    """What the audit line keeps of a channel: who the money goes to, as the preview showed it."""
    if value is None:
        return {"cleared": True}
    if column == OVO_COLUMN:
        return {"ovo_number": value}
    found = described(value) or {}
    return {key: found.get(key) for key in ("merchant_name", "merchant_city", "nmid", "acquirers")}


@router.get(BASE)
async def channels_page(request: Request, visitor: Visitor = Depends(allowed(OWNER))) -> Response:
    return await _channels_page(request, visitor)


@router.post(PREVIEW)
async def preview(request: Request, visitor: Visitor = Depends(allowed(OWNER))) -> Response:
    params = await form(request, visitor, files=frozenset({IMAGE_FIELD}))
    channel = _channel(params.get("channel"), qr=True)
    try:
        qris = await _qris_given(request, params)
    except (InvalidRequest, PayloadTooLarge) as exc:
        return _preview_page(request, visitor, channel, qris=None, refusal=exc)
    try:
        checked = check_channel_qris(channel.column, qris)
    except InvalidRequest as exc:
        return _preview_page(request, visitor, channel, qris=qris, refusal=exc)
    return _preview_page(request, visitor, channel, qris=checked)


# Before the QRIS channels' route, which would take its path for a channel's.
@router.post(BASE + "/" + OVO_COLUMN)
async def save_ovo(request: Request, visitor: Visitor = Depends(allowed(OWNER))) -> Response:
    params = await form(request, visitor)
    given = params.get(OVO_COLUMN)
    number = given.strip() if isinstance(given, str) else ""
    now = utcnow()

    def save(conn: Connection) -> None:
        row = configure_merchant(conn, visitor.merchant_username, ovo_number=number)
        audit.record(conn, visitor, "set_channel", OVO_COLUMN, now, details=_audit_details(OVO_COLUMN, row[OVO_COLUMN]))

    try:
        if not number:
            raise InvalidRequest("ovo_number is required", field=OVO_COLUMN, code="missing_ovo")
        await app_state(request).db.write(save)
    except InvalidRequest as exc:
        return await _channels_page(request, visitor, ovo_error=_reason(request, exc, None), ovo_given=number)
    return redirect(f"{BASE}?done=saved&channel={OVO_COLUMN}")


@router.post(BASE + "/{column}")
async def save_qris(request: Request, column: str, visitor: Visitor = Depends(allowed(OWNER))) -> Response:
    params = await form(request, visitor)
    channel = _channel(column, qr=True)
    given = params.get("qris")
    qris = clean(given) if isinstance(given, str) else ""
    now = utcnow()

    def save(conn: Connection) -> None:
        # Checked again in full, by the service that saves it: the form's hidden field is only
        # what the browser sent back, whatever the preview showed.
        row = configure_merchant(
            conn,
            visitor.merchant_username,
            qris_bri=qris if channel.column == "qris_bri" else None,
            qris_gopay=qris if channel.column == "qris_gopay" else None,
            check_acquirers=True,
        )
        audit.record(
            conn,
            visitor,
            "set_channel",
            channel.column,
            now,
            details=_audit_details(channel.column, row[channel.column]),
        )

    try:
        if not qris:  # an empty string would clear the channel: that is the remove button's
            raise InvalidRequest("paste the QRIS or choose a photo of it", field="qris", code="missing_qris")
        await app_state(request).db.write(save)
    except InvalidRequest as exc:
        return _preview_page(request, visitor, channel, qris=qris or None, refusal=exc)
    return redirect(f"{BASE}?done=saved&channel={channel.column}")


@router.get(BASE + "/{column}/remove")
async def remove_page(request: Request, column: str, visitor: Visitor = Depends(allowed(OWNER))) -> Response:
    channel = _channel(column)
    return render(request, "dashboard/channels_remove.html", {"channel": channel}, visitor=visitor, words=WORDS)


@router.post(BASE + "/{column}/remove")
async def remove(request: Request, column: str, visitor: Visitor = Depends(allowed(OWNER))) -> Response:
    await form(request, visitor)
    channel = _channel(column)
    now = utcnow()
    cleared = {channel.column: ""}

    def clear(conn: Connection) -> None:
        configure_merchant(
            conn,
            visitor.merchant_username,
            qris_bri=cleared.get("qris_bri"),
            qris_gopay=cleared.get("qris_gopay"),
            ovo_number=cleared.get(OVO_COLUMN),
        )
        audit.record(conn, visitor, "clear_channel", channel.column, now, details=_audit_details(channel.column, None))

    await app_state(request).db.write(clear)
    return redirect(f"{BASE}?done=removed&channel={channel.column}")
