"""Digital goods (issue 6's catalog): the files a paid buyer downloads, the hidden contents a paid
buyer reads, the product photos a pay page shows. Uploaded and created by forms, listed with
whether each is still offered, deactivated after a confirmation.

The same functions as the API's: an upload is taken in by ``received_file`` / ``received_image``
of kasir.api.routes.goods (the size limits, the type sniffed from the bytes, photos re-encoded
without their metadata) and recorded by ``kasir.goods.catalog``, which also checks a content and
deactivates. Deactivating stops new payments from using an item; payments already made keep
delivering it (docs/pay-page.md, "Digital goods"). Only the owner and developers use this page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import Connection
from starlette.datastructures import UploadFile

from kasir.api.routes import goods as goods_api
from kasir.api.state import app_state
from kasir.clock import utcnow
from kasir.dashboard.payments_detail import details_text
from kasir.dashboard.web import BUILDERS, PREFIX, DashboardRoute, allowed, form, language, principal, redirect, render
from kasir.errors import InvalidRequest, KasirError, NotFound
from kasir.goods import catalog
from kasir.merchants.service import Principal
from kasir.team import audit
from kasir.team.sessions import Visitor

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
BASE = f"{PREFIX}/goods"
NAV_ENTRY = (BASE, "goods", BUILDERS)
FILES_PATH = f"{BASE}/files"
IMAGES_PATH = f"{BASE}/images"
CONTENTS_PATH = f"{BASE}/contents"


@dataclass(frozen=True, slots=True)
class Kind:
    """One of the page's sections: the catalog's name of its items, how to find and deactivate one."""

    what: str
    get: Callable[[Connection, Principal, int], dict[str, Any]]
    deactivate: Callable[[Connection, Principal, int, datetime], dict[str, Any]]


# By the word each has in the page's paths.
KINDS = {
    "files": Kind("file", catalog.get_file, catalog.deactivate_file),
    "contents": Kind("content", catalog.get_content, catalog.deactivate_content),
    "images": Kind("image", catalog.get_image, catalog.deactivate_image),
}
AUDIT_ACTIONS = tuple(f"{kind.what}.{verb}" for kind in KINDS.values() for verb in ("add", "deactivate"))
AUDIT_LINES = 20

WORDS: dict[str, dict[str, str]] = {
    "id": {
        "gds_title": "Barang digital",
        "gds_intro": (
            "File yang diunduh pembeli, konten tersembunyi yang dibuka pembeli, dan foto produk di halaman bayar: "
            "semuanya diberikan setelah pembayaran lunas. Pilih di pembayaran atau tautan pembayaran."
        ),
        "gds_sections": "Bagian",
        "gds_files": "File",
        "gds_contents": "Konten tersembunyi",
        "gds_images": "Foto produk",
        "gds_file": "File",
        "gds_file_hint": "Maksimal {size}. Jenisnya dibaca dari isi file, bukan dari namanya.",
        "gds_filename": "Nama yang dilihat pembeli (opsional)",
        "gds_upload_file": "Unggah file",
        "gds_image": "Foto (JPEG, PNG atau WebP)",
        "gds_image_hint": "Maksimal {size}. Foto disimpan ulang tanpa data lokasi atau kamera.",
        "gds_upload_image": "Unggah foto",
        "gds_content_title": "Judul",
        "gds_content_type": "Jenis",
        "gds_content_body": "Isi yang dibuka setelah bayar",
        "gds_create_content": "Simpan konten",
        "gds_type_text": "teks",
        "gds_type_link": "tautan",
        "gds_type_license_key": "kunci lisensi",
        "gds_col_id": "ID",
        "gds_col_name": "Nama",
        "gds_col_type": "Jenis",
        "gds_col_size": "Ukuran",
        "gds_col_created": "Dibuat (WIB)",
        "gds_col_state": "Status",
        "gds_active": "aktif",
        "gds_inactive": "nonaktif",
        "gds_none": "Belum ada.",
        "gds_deactivate": "Nonaktifkan…",
        "gds_deactivate_title": "Nonaktifkan {what}?",
        "gds_deactivate_lead": (
            "Pembayaran baru tidak bisa lagi memakainya. Pembayaran yang sudah dibuat tetap memberikannya kepada "
            "pembeli. Tindakan ini tidak bisa dibatalkan."
        ),
        "gds_deactivate_yes": "Ya, nonaktifkan",
        "gds_cancel": "Batal",
        "gds_what_files": "file ini",
        "gds_what_contents": "konten ini",
        "gds_what_images": "foto ini",
        "gds_done_files": "File diunggah.",
        "gds_done_contents": "Konten disimpan.",
        "gds_done_images": "Foto diunggah.",
        "gds_done_deactivated": "Dinonaktifkan.",
        "gds_photo_alt": "Foto produk {name}",
        "gds_audit": "Log audit",
        "gds_no_audit": "Belum ada tindakan manual.",
    },
    "en": {
        "gds_title": "Digital goods",
        "gds_intro": (
            "Files the buyer downloads, hidden contents the buyer reads, and product photos on the pay page: all "
            "given once a payment is paid. Choose them on a payment or a payment link."
        ),
        "gds_sections": "Sections",
        "gds_files": "Files",
        "gds_contents": "Hidden contents",
        "gds_images": "Product photos",
        "gds_file": "File",
        "gds_file_hint": "At most {size}. Its type is read from its bytes, not its name.",
        "gds_filename": "Name the buyer sees (optional)",
        "gds_upload_file": "Upload the file",
        "gds_image": "Photo (JPEG, PNG or WebP)",
        "gds_image_hint": "At most {size}. The photo is saved again without location or camera data.",
        "gds_upload_image": "Upload the photo",
        "gds_content_title": "Title",
        "gds_content_type": "Type",
        "gds_content_body": "What is revealed once paid",
        "gds_create_content": "Save the content",
        "gds_type_text": "text",
        "gds_type_link": "link",
        "gds_type_license_key": "license key",
        "gds_col_id": "ID",
        "gds_col_name": "Name",
        "gds_col_type": "Type",
        "gds_col_size": "Size",
        "gds_col_created": "Created (WIB)",
        "gds_col_state": "State",
        "gds_active": "active",
        "gds_inactive": "inactive",
        "gds_none": "None yet.",
        "gds_deactivate": "Deactivate…",
        "gds_deactivate_title": "Deactivate {what}?",
        "gds_deactivate_lead": (
            "New payments can no longer use it. Payments already made still give it to their buyers. This cannot "
            "be undone."
        ),
        "gds_deactivate_yes": "Yes, deactivate",
        "gds_cancel": "Cancel",
        "gds_what_files": "this file",
        "gds_what_contents": "this content",
        "gds_what_images": "this photo",
        "gds_done_files": "File uploaded.",
        "gds_done_contents": "Content saved.",
        "gds_done_images": "Photo uploaded.",
        "gds_done_deactivated": "Deactivated.",
        "gds_photo_alt": "Product photo {name}",
        "gds_audit": "Audit log",
        "gds_no_audit": "No manual action yet.",
    },
}


def upload_body_limits(max_file_bytes: int, max_image_bytes: int) -> dict[str, int]:
    """The bodies the upload forms may send (kasir.app's BodySizeLimit): the API's own limits."""
    api = goods_api.upload_body_limits(max_file_bytes, max_image_bytes)
    return {FILES_PATH: api[goods_api.FILES_PREFIX], IMAGES_PATH: api[goods_api.IMAGES_PREFIX]}


def size_text(size: int, lang: str) -> str:
    """``2,5 MB`` (Indonesian decimal comma) or ``2.5 MB``."""
    if size < 1024:
        text = f"{size} B"
    elif size < 1024 * 1024:
        text = f"{size / 1024:.1f} KB"
    else:
        text = f"{size / (1024 * 1024):.1f} MB"
    return text.replace(".", ",") if lang == "id" else text


def _thumbnail(row: Mapping[str, Any]) -> str:
    # A path on this host: the page's CSP shows images of its own origin only, which the
    # public URL may not be (a dashboard opened on the LAN address).
    return catalog.image_url("", row, thumbnail=True)


def _audit_lines(conn: Connection, caller: Principal) -> list[dict[str, Any]]:
    return audit.recent(conn, caller.merchant_id, caller.mode, AUDIT_LINES, actions=AUDIT_ACTIONS)


async def _page(
    request: Request,
    visitor: Visitor,
    *,
    error: KasirError | None = None,
    error_section: str | None = None,
    content: Mapping[str, str] | None = None,
) -> Response:
    state = app_state(request)
    caller = principal(visitor)

    def read(conn: Connection) -> dict[str, Any]:
        return {
            "files": catalog.list_files(conn, caller, active_only=False)[::-1],
            "contents": catalog.list_contents(conn, caller, active_only=False)[::-1],
            "images": catalog.list_images(conn, caller, active_only=False)[::-1],
            "audit": _audit_lines(conn, caller),
        }

    found = await state.db.read(read)
    lang = language(request)
    done = request.query_params.get("done")
    context = {
        **found,
        "thumbnail": _thumbnail,
        "size_text": lambda size: size_text(size, lang),
        "max_file": size_text(state.settings.max_file_bytes, lang),
        "max_image": size_text(state.settings.max_image_bytes, lang),
        "content_types": catalog.CONTENT_TYPES,
        "content": content or {"title": "", "type": "text", "content": ""},
        "max_title": catalog.MAX_TITLE,
        "max_body": catalog.MAX_BODY,
        "details_text": details_text,
        "done": done if done in (*KINDS, "deactivated") else None,
        "error": error.message if error else None,
        "error_code": error.code if error else None,
        "error_section": error_section,
    }
    status = error.status_code if error else 200
    return render(request, "dashboard/goods.html", context, status_code=status, visitor=visitor, words=WORDS)


@router.get(BASE)
async def goods_page(request: Request, visitor: Visitor = Depends(allowed(BUILDERS))) -> Response:
    return await _page(request, visitor)


def _upload(params: Mapping[str, Any], field: str) -> UploadFile:
    value = params.get(field)
    if not isinstance(value, UploadFile) or not value.filename:
        raise InvalidRequest(f"choose a {field} to upload", field=field, code=f"missing_{field}")
    return value


async def _add(
    request: Request,
    visitor: Visitor,
    section: str,
    params: Mapping[str, Any],
    received: Callable[[], Awaitable[dict[str, Any]]],
    create: Callable[..., dict[str, Any]],
) -> Response:
    """Take in what the form sent (``received``: the upload stored, or the content's fields),
    record it with its audit line in one transaction, and come back to its section; a refusal
    comes back with its reason, and nothing recorded."""
    state = app_state(request)
    caller = principal(visitor)
    what = KINDS[section].what
    try:
        values = await received()
        now = utcnow()

        def add(conn: Connection) -> dict[str, Any]:
            row = create(conn, caller, **values, now=now)
            name = row.get("filename") or row.get("title")
            audit.record(conn, visitor, f"{what}.add", f"{what}:{row['id']}", now, details={"name": name})
            return row

        await state.db.write(add)
    except KasirError as exc:
        content = {k: params[k] if isinstance(params.get(k), str) else "" for k in ("title", "type", "content")}
        shown = content if section == "contents" else None
        return await _page(request, visitor, error=exc, error_section=section, content=shown)
    return redirect(f"{BASE}?done={section}#{section}")


@router.post(FILES_PATH)
async def upload_file(request: Request, visitor: Visitor = Depends(allowed(BUILDERS))) -> Response:
    params = await form(request, visitor, files=frozenset({"file"}))
    settings = app_state(request).settings

    async def received() -> dict[str, Any]:
        return await goods_api.received_file(settings, _upload(params, "file"), params.get("filename"))

    return await _add(request, visitor, "files", params, received, catalog.create_file)


@router.post(IMAGES_PATH)
async def upload_image(request: Request, visitor: Visitor = Depends(allowed(BUILDERS))) -> Response:
    params = await form(request, visitor, files=frozenset({"image"}))
    settings = app_state(request).settings

    async def received() -> dict[str, Any]:
        return await goods_api.received_image(settings, _upload(params, "image"))

    return await _add(request, visitor, "images", params, received, catalog.create_image)


@router.post(CONTENTS_PATH)
async def create_content(request: Request, visitor: Visitor = Depends(allowed(BUILDERS))) -> Response:
    params = await form(request, visitor)

    async def received() -> dict[str, Any]:
        # The catalog checks them (title, type, the body; a link must be http or https).
        return {"title": params.get("title"), "kind": params.get("type", "text"), "body": params.get("content")}

    return await _add(request, visitor, "contents", params, received, catalog.create_content)


def _item_id(kind: str, item_id: str) -> tuple[Kind, int]:
    """The section ``kind`` and the id, or 404 for a kind or an id that is none (the catalog
    answers 404 for an id too large for the database)."""
    if kind not in KINDS or not item_id.isascii() or not item_id.isdigit() or len(item_id) > 19:
        raise NotFound(f"there is no dashboard page {BASE}/{kind}/{item_id}", code="page_not_found")
    return KINDS[kind], int(item_id)


@router.get(BASE + "/{kind}/{item_id}/deactivate")
async def deactivate_page(
    request: Request, kind: str, item_id: str, visitor: Visitor = Depends(allowed(BUILDERS))
) -> Response:
    section, number = _item_id(kind, item_id)
    caller = principal(visitor)
    row = await app_state(request).db.read(lambda conn: section.get(conn, caller, number))
    context = {"kind": kind, "item": row, "name": row.get("filename") or row.get("title")}
    return render(request, "dashboard/goods_deactivate.html", context, visitor=visitor, words=WORDS)


@router.post(BASE + "/{kind}/{item_id}/deactivate")
async def deactivate(
    request: Request, kind: str, item_id: str, visitor: Visitor = Depends(allowed(BUILDERS))
) -> Response:
    section, number = _item_id(kind, item_id)
    await form(request, visitor)
    caller = principal(visitor)
    now = utcnow()

    def work(conn: Connection) -> None:
        if not section.get(conn, caller, number)["active"]:
            return  # deactivating twice is once: no second audit line
        row = section.deactivate(conn, caller, number, now)
        name = row.get("filename") or row.get("title")
        what = section.what
        audit.record(conn, visitor, f"{what}.deactivate", f"{what}:{number}", now, details={"name": name})

    await app_state(request).db.write(work)
    return redirect(f"{BASE}?done=deactivated#{kind}")
