"""Payment sources: the merchant's phones (and QRIS Hook, MacroDroid, Moota) with their health,
created, changed, given a new token and deleted through the same services as ``/v1/sources``
(docs/sources.md). The token is shown once, with its pairing URL and a QR of it for the phone:
on the page that answers the creation or the rotation, never again."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import segno
from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import Connection

from kasir.api.state import app_state
from kasir.clock import utcnow
from kasir.dashboard.texts import TEXTS, age
from kasir.dashboard.web import BUILDERS, PREFIX, DashboardRoute, allowed, form, language, principal, redirect, render
from kasir.errors import InvalidRequest
from kasir.payments.methods import METHODS
from kasir.sources import notifications, registry, views
from kasir.sources.parsers import PACKAGES
from kasir.team import audit
from kasir.team.sessions import Visitor

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
BASE = f"{PREFIX}/sources"
NAV_ENTRY = (BASE, "sources", BUILDERS)
# Owners and developers only (docs/dashboard.md, \"Team roles\"): a cashier gets the 403 page.
builders = allowed(BUILDERS)
PAGE_SIZE = 20
SOURCE_ID = re.compile(r"src_[0-9a-f]{1,40}")
APP_FIELD = "app:"  # a form field per app: app:<package> = its channel, or empty
OTHER_PACKAGE, OTHER_CHANNEL = "other_package", "other_channel"
# The apps the form offers: every package a parser reads, and Moota's pseudo-package.
KNOWN_APPS: tuple[tuple[str, str], ...] = (
    *sorted(PACKAGES.items(), key=lambda item: (item[1], item[0])),
    (registry.MOOTA_APP, "moota"),
)

WORDS: dict[str, dict[str, str]] = {
    "id": {
        "src_intro": (
            "HP toko (atau QRIS Hook, MacroDroid, Moota) yang melaporkan notifikasi uang masuk, "
            "sehingga pembayaran terkonfirmasi sendiri."
        ),
        "src_new": "Buat sumber baru",
        "src_name": "Nama",
        "src_name_hint": "Misalnya: HP kasir depan",
        "src_apps": "Aplikasi yang dipantau",
        "src_apps_hint": "Pilih kanal untuk setiap aplikasi pembayaran di HP ini; biarkan kosong yang tidak dipakai.",
        "src_not_watched": "— tidak dipantau —",
        "src_other_app": "Aplikasi lain (nama paket Android)",
        "src_create": "Buat sumber",
        "src_state": "Status",
        "src_last_seen": "Terakhir melapor",
        "src_never": "belum pernah",
        "src_ago": "{age} lalu",
        "src_forwarder": "Forwarder",
        "src_queued": "Antrean di HP",
        "src_channels": "Kanal",
        "src_none": "—",
        "src_open": "Buka",
        "src_created_title": "Sumber dibuat",
        "src_rotated_title": "Token baru dibuat",
        "src_once": (
            "Token ini hanya ditampilkan sekali. Pindai QR dengan HP atau salin URL pemasangan "
            "sekarang: setelah halaman ini ditutup, token tidak bisa dilihat lagi (buat token baru bila"
            " hilang)."
        ),
        "src_pair_url": "URL pemasangan",
        "src_token": "Token",
        "src_qr_alt": "QR URL pemasangan untuk HP",
        "src_scan": (
            "Pindai QR ini dengan kamera HP untuk menyalin URL pemasangan, lalu di Termux jalankan "
            "python kasir_forward.py pair '<URL>' (dalam tanda kutip: URL-nya memuat #). Lihat docs/forwarder.md."
        ),
        "src_qrishook": "QRIS Hook",
        "src_qrishook_how": "Di QRIS Hook, isi URL webhook dan secret berikut.",
        "src_automation": "MacroDroid / Tasker / Automate",
        "src_automation_how": (
            "Pemicu: Notifikasi diterima (aplikasi pembayaran). Aksi: HTTP Request, metode POST, tipe "
            "konten text/plain, body persis seperti ini."
        ),
        "src_moota": "Moota",
        "src_moota_how": (
            "Di webhook Moota, isi URL dan secret token berikut, lalu petakan co.moota ke kanal "
            "rekening di aplikasi sumber ini."
        ),
        "src_url": "URL",
        "src_secret": "Secret",
        "src_content_type": "Tipe konten",
        "src_body": "Body",
        "src_maps": "Pemetaan",
        "src_to_source": "Ke halaman sumber",
        "src_notifications": "Notifikasi terakhir",
        "src_no_notifications": "Belum ada notifikasi.",
        "src_outcome_credited": "menjadi mutasi",
        "src_outcome_ignored": "diabaikan",
        "src_outcome_unparsed": "tidak terbaca",
        "src_outcome_invalid": "tidak sah",
        "src_paid": "membayar {invoice}",
        "src_review": "Tinjau",
        "src_older": "Lebih lama",
        "src_newest": "Terbaru",
        "src_edit": "Ubah nama / aplikasi",
        "src_rotate": "Buat token baru",
        "src_delete": "Hapus sumber",
        "src_rotate_title": "Buat token baru?",
        "src_rotate_lead": (
            "Token lama langsung berhenti bekerja: HP dan aplikasi yang memakainya harus dipasangkan "
            "lagi dengan token baru."
        ),
        "src_rotate_confirm": "Ya, buat token baru",
        "src_delete_title": "Hapus sumber ini?",
        "src_delete_lead": (
            "Sumber dan notifikasinya dihapus; mutasi yang sudah dibuat tetap ada. HP ini tidak bisa melapor lagi."
        ),
        "src_delete_confirm": "Ya, hapus",
        "src_cancel": "Batal",
        "src_save": "Simpan perubahan",
        "src_done_deleted": "Sumber {id} dihapus.",
        "src_done_changed": "Perubahan disimpan.",
        "src_urls": "Alamat untuk forwarder",
        "src_notifications_url": "Notifikasi",
        "src_heartbeat_url": "Heartbeat",
        "src_token_rotated_at": "Token dibuat",
        "src_created_at": "Dibuat",
        "src_posted": "Waktu (WIB)",
        "src_received": "Diterima (WIB)",
        "src_the_token": "token sumber ini",
    },
    "en": {
        "src_intro": (
            "The shop's phones (or QRIS Hook, MacroDroid, Moota) that report money-in notifications, so"
            " that payments confirm by themselves."
        ),
        "src_new": "Create a source",
        "src_name": "Name",
        "src_name_hint": "For example: front counter phone",
        "src_apps": "Apps watched",
        "src_apps_hint": "Pick the channel of each payment app on this phone; leave the ones not used empty.",
        "src_not_watched": "— not watched —",
        "src_other_app": "Another app (Android package name)",
        "src_create": "Create the source",
        "src_state": "State",
        "src_last_seen": "Last reported",
        "src_never": "never",
        "src_ago": "{age} ago",
        "src_forwarder": "Forwarder",
        "src_queued": "Queued on the phone",
        "src_channels": "Channels",
        "src_none": "—",
        "src_open": "Open",
        "src_created_title": "Source created",
        "src_rotated_title": "New token made",
        "src_once": (
            "This token is shown once. Scan the QR with the phone or copy the pairing URL now: once "
            "this page is closed the token cannot be seen again (make a new one if it is lost)."
        ),
        "src_pair_url": "Pairing URL",
        "src_token": "Token",
        "src_qr_alt": "QR of the pairing URL for the phone",
        "src_scan": (
            "Scan this QR with the phone's camera to copy the pairing URL, then run in Termux "
            "python kasir_forward.py pair '<URL>' (in quotes: the URL holds a #). See docs/forwarder.md."
        ),
        "src_qrishook": "QRIS Hook",
        "src_qrishook_how": "In QRIS Hook, set this webhook URL and secret.",
        "src_automation": "MacroDroid / Tasker / Automate",
        "src_automation_how": (
            "Trigger: Notification received (the payment apps). Action: HTTP Request, method POST, "
            "content type text/plain, the body exactly this."
        ),
        "src_moota": "Moota",
        "src_moota_how": (
            "In Moota's webhook, set this URL and secret token, then map co.moota to the account's "
            "channel in this source's apps."
        ),
        "src_url": "URL",
        "src_secret": "Secret",
        "src_content_type": "Content type",
        "src_body": "Body",
        "src_maps": "Mapping",
        "src_to_source": "To the source's page",
        "src_notifications": "Last notifications",
        "src_no_notifications": "No notification yet.",
        "src_outcome_credited": "became a credit",
        "src_outcome_ignored": "ignored",
        "src_outcome_unparsed": "unparsed",
        "src_outcome_invalid": "invalid",
        "src_paid": "paid {invoice}",
        "src_review": "Review",
        "src_older": "Older",
        "src_newest": "Newest",
        "src_edit": "Rename / change apps",
        "src_rotate": "Make a new token",
        "src_delete": "Delete the source",
        "src_rotate_title": "Make a new token?",
        "src_rotate_lead": (
            "The old token stops working at once: the phone and the apps using it must be paired again "
            "with the new one."
        ),
        "src_rotate_confirm": "Yes, make a new token",
        "src_delete_title": "Delete this source?",
        "src_delete_lead": (
            "The source and its notifications are deleted; the credits it made stay. This phone can no longer report."
        ),
        "src_delete_confirm": "Yes, delete it",
        "src_cancel": "Cancel",
        "src_save": "Save the changes",
        "src_done_deleted": "Source {id} deleted.",
        "src_done_changed": "Changes saved.",
        "src_urls": "Addresses for the forwarder",
        "src_notifications_url": "Notifications",
        "src_heartbeat_url": "Heartbeat",
        "src_token_rotated_at": "Token made",
        "src_created_at": "Created",
        "src_posted": "Time (WIB)",
        "src_received": "Received (WIB)",
        "src_the_token": "this source's token",
    },
}


def pairing_qr(url: str) -> str:
    """The pairing URL as a QR, a PNG data: URL: rendered here, for this page only (the token is
    in it), the way kasir.qris.image renders a QRIS (medium error correction, never Micro QR, a
    4-module quiet zone)."""
    qr = segno.make(url, error="m", micro=False, boost_error=False)
    return str(qr.png_data_uri(scale=6, border=4))


def _shown(request: Request, row: Mapping[str, Any], token: str | None = None) -> dict[str, Any]:
    """The API's view of the source, with its age in words."""
    now = utcnow()
    shown = views.source_view(row, app_state(request).settings.public_url, now, token)
    seconds = shown["last_seen_age_seconds"]
    shown["age"] = None if seconds is None else age(seconds, TEXTS[language(request)])
    return shown


def _app_rows(apps: Mapping[str, str]) -> list[dict[str, str]]:
    """The form's app rows: every known app, then the source's apps Kasir has no parser for."""
    known = {package for package, _ in KNOWN_APPS}
    rows = [{"package": p, "app": name, "channel": apps.get(p, "")} for p, name in KNOWN_APPS]
    rows += [{"package": p, "app": "", "channel": c} for p, c in apps.items() if p not in known]
    return rows


def _apps_of_form(params: Mapping[str, Any]) -> dict[str, Any]:
    apps: dict[str, Any] = {}
    for name, value in params.items():
        if name.startswith(APP_FIELD) and value:
            apps[name.removeprefix(APP_FIELD)] = value
    other = params.get(OTHER_PACKAGE)
    if isinstance(other, str) and other.strip():
        apps[other.strip()] = params.get(OTHER_CHANNEL) or ""
    return apps


def _form_page(
    request: Request, visitor: Visitor, *, name: str, apps: Mapping[str, str], source: Any = None, error: str = ""
) -> Response:
    context = {
        "name": name,
        "apps": _app_rows(apps),
        "channels": list(METHODS),
        "source": source,
        "error": error,
        "app_field": APP_FIELD,
    }
    return render(
        request,
        "dashboard/sources_form.html",
        context,
        visitor=visitor,
        words=WORDS,
        status_code=400 if error else 200,
    )


def _reveal(request: Request, visitor: Visitor, row: Mapping[str, Any], token: str, *, rotated: bool) -> Response:
    shown = _shown(request, row, token)
    context = {"source": shown, "qr": pairing_qr(shown["pair_url"]), "rotated": rotated}
    return render(request, "dashboard/sources_reveal.html", context, visitor=visitor, words=WORDS)


@router.get(BASE)
async def sources_page(request: Request, visitor: Visitor = Depends(builders)) -> Response:
    caller = principal(visitor)
    rows = await app_state(request).db.read(lambda conn: registry.list_sources(conn, caller))
    context = {
        "sources": [_shown(request, row) for row in rows],
        "done": request.query_params.get("done"),
        "deleted": deleted if SOURCE_ID.fullmatch(deleted := request.query_params.get("id", "")) else "",
    }
    return render(request, "dashboard/sources.html", context, visitor=visitor, words=WORDS)


@router.get(BASE + "/new")
async def new_source_page(request: Request, visitor: Visitor = Depends(builders)) -> Response:
    return _form_page(request, visitor, name="", apps={})


@router.post(BASE)
async def create_source(request: Request, visitor: Visitor = Depends(builders)) -> Response:
    params = await form(request, visitor)
    given_name = params.get("name") if isinstance(params.get("name"), str) else ""
    given_apps = _apps_of_form(params)
    try:
        name = registry.parse_name(given_name)
        apps = registry.parse_apps(given_apps)
    except InvalidRequest as exc:
        shown = {str(k): str(v) for k, v in given_apps.items()}
        return _form_page(request, visitor, name=given_name or "", apps=shown, error=exc.message)
    caller = principal(visitor)
    now = utcnow()

    def make(conn: Connection) -> tuple[Any, str]:
        row, token = registry.create(conn, caller, name, apps, now)
        audit.record(conn, visitor, "create_source", row["public_id"], now, details={"name": name, "apps": apps})
        return row, token

    row, token = await app_state(request).db.write(make)
    return _reveal(request, visitor, row, token, rotated=False)


@router.get(BASE + "/{source_id}")
async def source_page(request: Request, source_id: str, visitor: Visitor = Depends(builders)) -> Response:
    caller = principal(visitor)
    before = request.query_params.get("before") or None

    def read(conn: Connection) -> tuple[Any, list[dict[str, Any]]]:
        source = registry.get(conn, caller, source_id)
        before_id = notifications.row_id(conn, source, before) if before else None
        rows = notifications.list_notifications(conn, source, outcome=None, limit=PAGE_SIZE, before=before_id)
        return source, rows

    source, rows = await app_state(request).db.read(read)
    context = {
        "source": _shown(request, source),
        "notifications": rows,
        "next_before": rows[-1]["public_id"] if len(rows) == PAGE_SIZE else None,
        "before": before,
        "done": request.query_params.get("done"),
    }
    return render(request, "dashboard/sources_detail.html", context, visitor=visitor, words=WORDS)


@router.get(BASE + "/{source_id}/edit")
async def edit_source_page(request: Request, source_id: str, visitor: Visitor = Depends(builders)) -> Response:
    caller = principal(visitor)
    row = await app_state(request).db.read(lambda conn: registry.get(conn, caller, source_id))
    return _form_page(request, visitor, name=row["name"], apps=registry.apps_of(row), source=row)


@router.post(BASE + "/{source_id}/edit")
async def edit_source(request: Request, source_id: str, visitor: Visitor = Depends(builders)) -> Response:
    params = await form(request, visitor)
    caller = principal(visitor)
    state = app_state(request)
    given_name = params.get("name") if isinstance(params.get("name"), str) else ""
    given_apps = _apps_of_form(params)
    now = utcnow()

    def change(conn: Connection) -> Any:
        registry.get(conn, caller, source_id)  # a foreign id is 404 before anything is read of the form
        row = registry.change(conn, caller, source_id, {"name": given_name, "apps": given_apps}, now)
        audit.record(
            conn,
            visitor,
            "change_source",
            source_id,
            now,
            details={"name": row["name"], "apps": registry.apps_of(row)},
        )
        return row

    try:
        await state.db.write(change)
    except InvalidRequest as exc:
        row = await state.db.read(lambda conn: registry.get(conn, caller, source_id))
        shown = {str(k): str(v) for k, v in given_apps.items()}
        return _form_page(request, visitor, name=given_name or "", apps=shown, source=row, error=exc.message)
    return redirect(f"{BASE}/{source_id}?done=changed")


@router.get(BASE + "/{source_id}/rotate")
async def rotate_page(request: Request, source_id: str, visitor: Visitor = Depends(builders)) -> Response:
    caller = principal(visitor)
    row = await app_state(request).db.read(lambda conn: registry.get(conn, caller, source_id))
    context = {"source": row, "action": "rotate"}
    return render(request, "dashboard/sources_confirm.html", context, visitor=visitor, words=WORDS)


@router.post(BASE + "/{source_id}/rotate")
async def rotate(request: Request, source_id: str, visitor: Visitor = Depends(builders)) -> Response:
    await form(request, visitor)
    caller = principal(visitor)
    now = utcnow()

    def work(conn: Connection) -> tuple[Any, str]:
        row, token = registry.rotate_token(conn, caller, source_id, now)
        audit.record(conn, visitor, "rotate_source_token", source_id, now, details={"name": row["name"]})
        return row, token

    row, token = await app_state(request).db.write(work)
    return _reveal(request, visitor, row, token, rotated=True)


@router.get(BASE + "/{source_id}/delete")
async def delete_page(request: Request, source_id: str, visitor: Visitor = Depends(builders)) -> Response:
    caller = principal(visitor)
    row = await app_state(request).db.read(lambda conn: registry.get(conn, caller, source_id))
    context = {"source": row, "action": "delete"}
    return render(request, "dashboard/sources_confirm.html", context, visitor=visitor, words=WORDS)


@router.post(BASE + "/{source_id}/delete")
async def delete(request: Request, source_id: str, visitor: Visitor = Depends(builders)) -> Response:
    await form(request, visitor)
    caller = principal(visitor)
    now = utcnow()

    def work(conn: Connection) -> None:
        row = registry.get(conn, caller, source_id)
        registry.remove(conn, caller, source_id)
        audit.record(conn, visitor, "delete_source", source_id, now, details={"name": row["name"]})

    await app_state(request).db.write(work)
    return redirect(f"{BASE}?done=deleted&id={source_id}")
