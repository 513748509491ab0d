"""Webhooks: the default callback URL and its secret (seed 004's Pengaturan → Webhook), the
endpoints, the callback tester and ping, and the callback log with its attempts, resend and
recover.

Every read and write goes through the API's own functions (``kasir.delivery.service`` and the
checks of ``kasir.api.routes.webhooks``) with the visitor's ``Principal``. A secret is shown once,
in the answer to the POST that made it (the page is ``no-store``); afterwards only its hint. Every
manual action is written to the audit log in its own transaction.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import Connection, RowMapping

from kasir.api.routes.webhooks import checked_endpoint, checked_settings, ping_now, test_now
from kasir.api.state import AppState, app_state
from kasir.clock import utcnow
from kasir.dashboard import webhooks_data as data
from kasir.dashboard.web import BUILDERS, PREFIX, DashboardRoute, allowed, form, principal, redirect, render
from kasir.delivery import service
from kasir.delivery.endpoints import mask_secret
from kasir.errors import InvalidRequest, KasirError
from kasir.merchants.service import Principal
from kasir.team import audit
from kasir.team.sessions import Visitor

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
BASE = f"{PREFIX}/webhooks"
NAV_ENTRY = (BASE, "webhooks", BUILDERS)
# Owners and developers only (docs/dashboard.md, \"Team roles\"): a cashier gets the 403 page.
builders = allowed(BUILDERS)

WORDS: dict[str, dict[str, str]] = {
    "id": {
        "wh_title": "Webhook",
        "wh_settings": "Callback bawaan",
        "wh_settings_help": "Ke URL ini Kasir mengirim callback pembayaran, dalam dialek yang dibaca server Anda.",
        "wh_default_url": "URL callback bawaan",
        "wh_dialect": "Dialek",
        "wh_events": "Jenis event",
        "wh_events_all_help": "Tidak ada yang dicentang: semua event.",
        "wh_settings_saved": "Pengaturan webhook disimpan.",
        "wh_secret": "Secret webhook",
        "wh_secret_hint": "Secret sekarang: {hint}",
        "wh_secret_revealed": "Secret baru. Salin sekarang: secret ini hanya ditampilkan sekali.",
        "wh_grace": "Secret sebelumnya masih diterima sampai {when} WIB.",
        "wh_no_grace": "Secret sebelumnya langsung tidak berlaku (dialek ini hanya membawa satu tanda tangan).",
        "wh_rotate": "Buat secret baru",
        "wh_endpoints": "Endpoint",
        "wh_no_endpoints": "Belum ada endpoint.",
        "wh_add_endpoint": "Tambah endpoint",
        "wh_new_endpoint": "Endpoint baru",
        "wh_url": "URL",
        "wh_description": "Keterangan",
        "wh_rate_limit": "Batas kiriman per detik (kosong: tanpa batas)",
        "wh_fifo": "Kirim berurutan (FIFO): event yang gagal menahan yang berikutnya",
        "wh_headers": "Header tambahan, satu 'Nama: nilai' per baris",
        "wh_create": "Simpan endpoint",
        "wh_created": "Endpoint dibuat.",
        "wh_updated": "Endpoint diubah.",
        "wh_state": "Status",
        "wh_enabled": "aktif",
        "wh_disabled": "nonaktif",
        "wh_disable": "Nonaktifkan",
        "wh_enable": "Aktifkan",
        "wh_now_disabled": "Endpoint dinonaktifkan; callback yang tertunda dihentikan.",
        "wh_now_enabled": "Endpoint diaktifkan kembali.",
        "wh_all_events": "semua event",
        "wh_edit": "Ubah endpoint",
        "wh_delete": "Hapus endpoint",
        "wh_delete_confirm": "Hapus endpoint {url}? Endpoint dan log callback-nya dihapus, tidak bisa dibatalkan.",
        "wh_delete_yes": "Ya, hapus",
        "wh_cancel": "Batal",
        "wh_deleted": "Endpoint dihapus.",
        "wh_ping": "Ping",
        "wh_test": "Kirim event uji",
        "wh_test_help": "Contoh event realistis dikirim sekarang ke endpoint ini; jawaban penerima tampil di sini.",
        "wh_answer": "Jawaban penerima",
        "wh_answer_status": "Status HTTP",
        "wh_answer_none": "tidak ada jawaban",
        "wh_duration": "Durasi",
        "wh_ms": "{n} ms",
        "wh_body_excerpt": "Isi jawaban (awal)",
        "wh_error": "Kesalahan",
        "wh_answer_ok": "Diterima (2xx)",
        "wh_answer_bad": "Tidak diterima",
        "wh_event_id": "ID event",
        "wh_recover": "Kirim ulang yang gagal sejak",
        "wh_recover_help": "Semua event yang gagal dikirim ke endpoint ini sejak waktu ini (WIB) dikirim lagi.",
        "wh_recover_button": "Kirim ulang",
        "wh_recovered": "{n} event dijadwalkan untuk dikirim ulang.",
        "wh_log": "Log callback",
        "wh_log_of_endpoint": "Log callback endpoint ini",
        "wh_filter": "Saring",
        "wh_any": "semua",
        "wh_status": "Status",
        "wh_endpoint": "Endpoint",
        "wh_default_target": "URL callback",
        "wh_event_type": "Event",
        "wh_since": "Dari (WIB)",
        "wh_until": "Sampai (WIB)",
        "wh_when": "Waktu (WIB)",
        "wh_attempts": "Percobaan",
        "wh_last_answer": "Jawaban terakhir",
        "wh_no_deliveries": "Tidak ada callback yang cocok.",
        "wh_newer": "← Lebih baru",
        "wh_older": "Lebih lama →",
        "wh_newest": "Terbaru",
        "wh_status_pending": "tertunda",
        "wh_status_succeeded": "berhasil",
        "wh_status_failed": "gagal",
        "wh_outcome_succeeded": "berhasil",
        "wh_outcome_retrying": "akan dicoba lagi",
        "wh_outcome_failed": "gagal",
        "wh_delivery": "Callback",
        "wh_next_attempt": "Percobaan berikutnya {when} WIB",
        "wh_resend": "Kirim ulang",
        "wh_resent": "Callback dijadwalkan untuk dikirim ulang: {id}.",
        "wh_no_attempts": "Belum ada percobaan.",
        "wh_attempt": "Percobaan {n}",
        "wh_request": "Permintaan yang dikirim",
        "wh_request_headers": "Header (tanda tangan dan secret disamarkan)",
        "wh_request_body": "Isi (dibuat ulang dari event oleh dialeknya; tanda tangan disamarkan)",
        "wh_response_headers_not_kept": "Header jawaban penerima tidak disimpan di log.",
        "wh_back_to_webhooks": "Kembali ke webhook",
        "wh_back_to_log": "Kembali ke log callback",
        "wh_target": "Tujuan",
    },
    "en": {
        "wh_title": "Webhooks",
        "wh_settings": "Default callback",
        "wh_settings_help": "Kasir sends payment callbacks to this URL, in the dialect your server reads.",
        "wh_default_url": "Default callback URL",
        "wh_dialect": "Dialect",
        "wh_events": "Event types",
        "wh_events_all_help": "None ticked: every event.",
        "wh_settings_saved": "Webhook settings saved.",
        "wh_secret": "Webhook secret",
        "wh_secret_hint": "Current secret: {hint}",
        "wh_secret_revealed": "New secret. Copy it now: it is shown only once.",
        "wh_grace": "The previous secret still verifies until {when} WIB.",
        "wh_no_grace": "The previous secret stopped working at once (this dialect carries one signature only).",
        "wh_rotate": "New secret",
        "wh_endpoints": "Endpoints",
        "wh_no_endpoints": "No endpoint yet.",
        "wh_add_endpoint": "Add an endpoint",
        "wh_new_endpoint": "New endpoint",
        "wh_url": "URL",
        "wh_description": "Description",
        "wh_rate_limit": "Deliveries per second (empty: unlimited)",
        "wh_fifo": "Deliver in order (FIFO): a failing event holds the next ones",
        "wh_headers": "Extra headers, one 'Name: value' a line",
        "wh_create": "Save endpoint",
        "wh_created": "Endpoint created.",
        "wh_updated": "Endpoint changed.",
        "wh_state": "State",
        "wh_enabled": "enabled",
        "wh_disabled": "disabled",
        "wh_disable": "Disable",
        "wh_enable": "Enable",
        "wh_now_disabled": "Endpoint disabled; its pending callbacks were stopped.",
        "wh_now_enabled": "Endpoint enabled again.",
        "wh_all_events": "every event",
        "wh_edit": "Change the endpoint",
        "wh_delete": "Delete the endpoint",
        "wh_delete_confirm": "Delete the endpoint {url}? It and its callback log are deleted, for good.",
        "wh_delete_yes": "Yes, delete",
        "wh_cancel": "Cancel",
        "wh_deleted": "Endpoint deleted.",
        "wh_ping": "Ping",
        "wh_test": "Send a test event",
        "wh_test_help": "A realistic sample event is sent to this endpoint now, and the receiver's answer shown.",
        "wh_answer": "The receiver's answer",
        "wh_answer_status": "HTTP status",
        "wh_answer_none": "no answer",
        "wh_duration": "Duration",
        "wh_ms": "{n} ms",
        "wh_body_excerpt": "Body (beginning)",
        "wh_error": "Error",
        "wh_answer_ok": "Accepted (2xx)",
        "wh_answer_bad": "Not accepted",
        "wh_event_id": "Event id",
        "wh_recover": "Send again what failed since",
        "wh_recover_help": "Every event whose delivery to this endpoint failed since this time (WIB) is sent again.",
        "wh_recover_button": "Send again",
        "wh_recovered": "{n} events scheduled to be sent again.",
        "wh_log": "Callback log",
        "wh_log_of_endpoint": "This endpoint's callback log",
        "wh_filter": "Filter",
        "wh_any": "any",
        "wh_status": "Status",
        "wh_endpoint": "Endpoint",
        "wh_default_target": "Callback URL",
        "wh_event_type": "Event",
        "wh_since": "From (WIB)",
        "wh_until": "Until (WIB)",
        "wh_when": "Time (WIB)",
        "wh_attempts": "Attempts",
        "wh_last_answer": "Last answer",
        "wh_no_deliveries": "No callback matches.",
        "wh_newer": "← Newer",
        "wh_older": "Older →",
        "wh_newest": "Newest",
        "wh_status_pending": "pending",
        "wh_status_succeeded": "succeeded",
        "wh_status_failed": "failed",
        "wh_outcome_succeeded": "succeeded",
        "wh_outcome_retrying": "will retry",
        "wh_outcome_failed": "failed",
        "wh_delivery": "Callback",
        "wh_next_attempt": "Next attempt {when} WIB",
        "wh_resend": "Resend",
        "wh_resent": "Callback scheduled to be sent again: {id}.",
        "wh_no_attempts": "No attempt yet.",
        "wh_attempt": "Attempt {n}",
        "wh_request": "The request as sent",
        "wh_request_headers": "Headers (signatures and secrets masked)",
        "wh_request_body": "Body (rendered again from the event by its dialect; signatures masked)",
        "wh_response_headers_not_kept": "The receiver's answer headers are not kept in the log.",
        "wh_back_to_webhooks": "Back to webhooks",
        "wh_back_to_log": "Back to the callback log",
        "wh_target": "Target",
    },
}

_CHOICES = {
    "dialects": data.DIALECTS,
    "choosable_events": data.CHOOSABLE_EVENTS,
    "event_families": data.EVENT_FAMILIES,
    "event_field": data.EVENT_FIELD,
    "test_event_types": data.TEST_EVENT_TYPES,
}


def _page(
    request: Request, visitor: Visitor, template: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    return render(
        request,
        f"dashboard/{template}",
        {**_CHOICES, "done": request.query_params.get("done"), **context},
        visitor=visitor,
        words=WORDS,
        status_code=status_code,
    )


def _settings_view(row: RowMapping) -> dict[str, Any]:
    return {
        "default_callback_url": row["default_callback_url"] or "",
        "dialect": row["dialect"],
        "events": set(json.loads(row["event_types"])),
        "secret_hint": mask_secret(row["secret"]),
        "previous_secret_expires_at": row["previous_secret_expires_at"],
    }


# --- the settings and the endpoints ----------------------------------------------------------


async def _overview(
    request: Request,
    visitor: Visitor,
    *,
    secret: str | None = None,
    error: str | None = None,
    typed: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    state = app_state(request)
    caller = principal(visitor)

    def read(conn: Connection) -> tuple[RowMapping, list[RowMapping]]:
        return service.get_callback_settings(conn, caller), service.list_endpoints(conn, caller)

    settings_row, endpoint_rows = await state.db.read(read)
    shown = _settings_view(settings_row)
    if typed is not None:  # a refused form shows what was typed, never what was saved instead
        shown.update(
            default_callback_url=typed.get("default_callback_url") or "",
            dialect=typed.get("dialect") or shown["dialect"],
            events=set(typed.get("event_types") or []),
        )
    context = {
        "settings": shown,
        "endpoints": endpoint_rows,
        "secret": secret,
        "error": error,
        "now": utcnow(),
        "n": request.query_params.get("n"),
    }
    return _page(request, visitor, "webhooks.html", context, status_code)


@router.get(BASE)
async def webhooks_page(request: Request, visitor: Visitor = Depends(builders)) -> Response:
    return await _overview(request, visitor)


@router.post(f"{BASE}/settings")
async def save_settings(request: Request, visitor: Visitor = Depends(builders)) -> Response:
    params = await form(request, visitor)
    state = app_state(request)
    caller = principal(visitor)
    typed = data.settings_params(params)
    now = utcnow()
    try:
        changes = await checked_settings(state, typed)

        def write(conn: Connection) -> None:
            service.update_callback_settings(conn, caller, changes, now)
            audit.record(conn, visitor, "webhook_settings.update", "webhook_settings", now, details=changes)

        await state.db.write(write)
    except KasirError as exc:
        if exc.status_code not in (400, 422):
            raise
        return await _overview(request, visitor, error=exc.message, typed=typed, status_code=exc.status_code)
    return redirect(f"{BASE}?done=settings")


@router.post(f"{BASE}/rotate-secret")
async def rotate_settings_secret(request: Request, visitor: Visitor = Depends(builders)) -> Response:
    await form(request, visitor)
    state = app_state(request)
    caller = principal(visitor)
    now = utcnow()

    def write(conn: Connection) -> str:
        _, secret = service.rotate_callback_secret(conn, caller, state.settings, now)
        audit.record(conn, visitor, "webhook_secret.rotate", "webhook_settings", now)
        return secret

    secret = await state.db.write(write)
    # Shown in this answer only (no-store, no redirect to a page that could show it again).
    return await _overview(request, visitor, secret=secret)


async def _endpoint_page(
    request: Request,
    visitor: Visitor,
    endpoint_id: str,
    *,
    secret: str | None = None,
    error: str | None = None,
    typed: dict[str, Any] | None = None,
    answer: dict[str, Any] | None = None,
    answer_kind: str | None = None,
    created: bool = False,
    status_code: int = 200,
) -> Response:
    state = app_state(request)
    caller = principal(visitor)

    def read(conn: Connection) -> tuple[RowMapping, list[RowMapping]]:
        row = service.find_endpoint(conn, caller, endpoint_id)
        recent = service.list_deliveries(conn, caller, endpoint_id=row["id"], status=None, limit=5)
        return row, recent

    row, recent = await state.db.read(read)
    context = {
        "endpoint": row,
        "values": data.endpoint_form_values(row, typed),
        "secret": secret,
        "secret_hint": mask_secret(row["secret"]),
        "error": error,
        "answer": answer,
        "answer_kind": answer_kind,
        "created": created,
        "recent": recent,
        "now": utcnow(),
        "n": request.query_params.get("n"),
    }
    return _page(request, visitor, "webhooks_endpoint.html", context, status_code)


@router.get(f"{BASE}/endpoints/new")
async def new_endpoint_page(request: Request, visitor: Visitor = Depends(builders)) -> Response:
    return _page(request, visitor, "webhooks_new.html", {"values": data.endpoint_form_values(None), "error": None})


@router.post(f"{BASE}/endpoints")
async def create_endpoint(request: Request, visitor: Visitor = Depends(builders)) -> Response:
    params = await form(request, visitor)
    state = app_state(request)
    caller = principal(visitor)
    now = utcnow()
    try:
        changes, _ = await checked_endpoint(state, data.endpoint_params(params), now, creating=True)

        def write(conn: Connection) -> RowMapping:
            row = service.create_endpoint(conn, caller, changes, now)
            audit.record(conn, visitor, "endpoint.create", row["public_id"], now, details={"url": row["url"]})
            return row

        row = await state.db.write(write)
    except KasirError as exc:
        if exc.status_code not in (400, 422):
            raise
        values = data.endpoint_form_values(None, params)
        return _page(request, visitor, "webhooks_new.html", {"values": values, "error": exc.message}, exc.status_code)
    # The endpoint's first secret, shown once as the API shows it at creation.
    return await _endpoint_page(request, visitor, row["public_id"], secret=row["secret"], created=True, status_code=201)


@router.get(f"{BASE}/endpoints/{{endpoint_id}}")
async def endpoint_page(request: Request, endpoint_id: str, visitor: Visitor = Depends(builders)) -> Response:
    return await _endpoint_page(request, visitor, endpoint_id)


@router.post(f"{BASE}/endpoints/{{endpoint_id}}")
async def update_endpoint(request: Request, endpoint_id: str, visitor: Visitor = Depends(builders)) -> Response:
    params = await form(request, visitor)
    state = app_state(request)
    caller = principal(visitor)
    now = utcnow()
    await state.db.read(lambda conn: service.find_endpoint(conn, caller, endpoint_id))  # a foreign id: 404 first
    try:
        changes, fields = await checked_endpoint(state, data.endpoint_params(params), now, creating=False)
        fields.discard("enabled")

        def write(conn: Connection) -> None:
            row = service.update_endpoint(conn, caller, endpoint_id, changes, fields, now)
            audit.record(conn, visitor, "endpoint.update", endpoint_id, now, details={"url": row["url"]})

        await state.db.write(write)
    except KasirError as exc:
        if exc.status_code not in (400, 422):
            raise
        return await _endpoint_page(
            request, visitor, endpoint_id, error=exc.message, typed=params, status_code=exc.status_code
        )
    return redirect(f"{BASE}/endpoints/{endpoint_id}?done=updated")


@router.post(f"{BASE}/endpoints/{{endpoint_id}}/enabled")
async def set_enabled(request: Request, endpoint_id: str, visitor: Visitor = Depends(builders)) -> Response:
    params = await form(request, visitor)
    if params.get("enabled") not in ("true", "false"):
        raise InvalidRequest("enabled must be true or false", field="enabled")
    enabled = params["enabled"] == "true"
    state = app_state(request)
    caller = principal(visitor)
    now = utcnow()

    def write(conn: Connection) -> None:
        spec = service.EndpointChanges(enabled=enabled)
        service.update_endpoint(conn, caller, endpoint_id, spec, {"enabled"}, now)
        audit.record(conn, visitor, "endpoint.enable" if enabled else "endpoint.disable", endpoint_id, now)

    await state.db.write(write)
    return redirect(f"{BASE}/endpoints/{endpoint_id}?done={'enabled' if enabled else 'disabled'}")


@router.post(f"{BASE}/endpoints/{{endpoint_id}}/rotate-secret")
async def rotate_endpoint_secret(request: Request, endpoint_id: str, visitor: Visitor = Depends(builders)) -> Response:
    await form(request, visitor)
    state = app_state(request)
    caller = principal(visitor)
    now = utcnow()

    def write(conn: Connection) -> str:
        _, secret = service.rotate_endpoint_secret(conn, caller, endpoint_id, state.settings, now)
        audit.record(conn, visitor, "endpoint.rotate_secret", endpoint_id, now)
        return secret

    secret = await state.db.write(write)
    return await _endpoint_page(request, visitor, endpoint_id, secret=secret)


async def _answer(
    request: Request, visitor: Visitor, state: AppState, caller: Principal, endpoint_id: str, kind: str
) -> Response:
    params = await form(request, visitor)
    if kind == "ping":
        _, answer = await ping_now(state, caller, endpoint_id)
    else:
        event_type = params.get("event_type")
        try:
            _, answer = await test_now(state, caller, endpoint_id, event_type if isinstance(event_type, str) else "")
        except InvalidRequest as exc:
            return await _endpoint_page(request, visitor, endpoint_id, error=exc.message, status_code=400)
        answer = {**answer, "event_type": event_type}
    return await _endpoint_page(request, visitor, endpoint_id, answer=answer, answer_kind=kind)


@router.post(f"{BASE}/endpoints/{{endpoint_id}}/ping")
async def ping_endpoint(request: Request, endpoint_id: str, visitor: Visitor = Depends(builders)) -> Response:
    return await _answer(request, visitor, app_state(request), principal(visitor), endpoint_id, "ping")


@router.post(f"{BASE}/endpoints/{{endpoint_id}}/test")
async def send_test_event(request: Request, endpoint_id: str, visitor: Visitor = Depends(builders)) -> Response:
    return await _answer(request, visitor, app_state(request), principal(visitor), endpoint_id, "test")


@router.post(f"{BASE}/endpoints/{{endpoint_id}}/recover")
async def recover_endpoint(request: Request, endpoint_id: str, visitor: Visitor = Depends(builders)) -> Response:
    params = await form(request, visitor)
    state = app_state(request)
    caller = principal(visitor)
    since_text = params.get("since") if isinstance(params.get("since"), str) else ""
    try:
        since = data.parse_wib(since_text, "since")
        if since is None:
            raise InvalidRequest("since is required", field="since", code="missing_parameter")
    except InvalidRequest as exc:
        return await _endpoint_page(request, visitor, endpoint_id, error=exc.message, status_code=400)
    now = utcnow()

    def write(conn: Connection) -> int:
        count = service.recover(conn, caller, endpoint_id, since, now)
        audit.record(
            conn, visitor, "endpoint.recover", endpoint_id, now, details={"since": since.isoformat(), "count": count}
        )
        return count

    count = await state.db.write(write)
    return redirect(f"{BASE}/endpoints/{endpoint_id}?done=recovered&n={count}")


@router.get(f"{BASE}/endpoints/{{endpoint_id}}/delete")
async def delete_page(request: Request, endpoint_id: str, visitor: Visitor = Depends(builders)) -> Response:
    caller = principal(visitor)
    row = await app_state(request).db.read(lambda conn: service.find_endpoint(conn, caller, endpoint_id))
    return _page(request, visitor, "webhooks_delete.html", {"endpoint": row})


@router.post(f"{BASE}/endpoints/{{endpoint_id}}/delete")
async def delete_endpoint(request: Request, endpoint_id: str, visitor: Visitor = Depends(builders)) -> Response:
    params = await form(request, visitor)
    state = app_state(request)
    caller = principal(visitor)
    if params.get("confirm") != endpoint_id:  # only the confirmation page's button deletes
        await state.db.read(lambda conn: service.find_endpoint(conn, caller, endpoint_id))
        return redirect(f"{BASE}/endpoints/{endpoint_id}/delete")
    now = utcnow()

    def write(conn: Connection) -> None:
        row = service.find_endpoint(conn, caller, endpoint_id)
        service.delete_endpoint(conn, caller, endpoint_id)
        audit.record(conn, visitor, "endpoint.delete", endpoint_id, now, details={"url": row["url"]})

    await state.db.write(write)
    return redirect(f"{BASE}?done=deleted")


# --- the callback log ------------------------------------------------------------------------


@router.get(f"{BASE}/deliveries")
async def log_page(request: Request, visitor: Visitor = Depends(builders)) -> Response:
    state = app_state(request)
    caller = principal(visitor)
    query = request.query_params
    filters = data.LogFilters.from_query(query)
    before, after = query.get("before", ""), query.get("after", "")
    page = await state.db.read(lambda conn: data.read_log(conn, caller, filters, before=before, after=after))
    base_query = filters.query()

    def link(**cursor: str) -> str:
        return f"{BASE}/deliveries?{urlencode({**base_query, **cursor})}"

    context = {
        "page": page,
        "filters": filters,
        "statuses": data.STATUSES,
        "log_event_types": data.LOG_EVENT_TYPES,
        "newer_url": link(after=page.newer) if page.newer else None,
        "older_url": link(before=page.older) if page.older else None,
        "newest_url": link() if (before or after) else None,
        "endpoint_ids": {row["id"]: row["public_id"] for row in page.endpoints},
    }
    return _page(request, visitor, "webhooks_log.html", context)


@router.get(f"{BASE}/deliveries/{{delivery_id}}")
async def delivery_page(request: Request, delivery_id: str, visitor: Visitor = Depends(builders)) -> Response:
    caller = principal(visitor)
    detail = await app_state(request).db.read(lambda conn: data.delivery_detail(conn, caller, delivery_id))
    context = {"detail": detail, "resent": request.query_params.get("resent")}
    return _page(request, visitor, "webhooks_delivery.html", context)


@router.post(f"{BASE}/deliveries/{{delivery_id}}/resend")
async def resend(request: Request, delivery_id: str, visitor: Visitor = Depends(builders)) -> Response:
    await form(request, visitor)
    state = app_state(request)
    caller = principal(visitor)
    now = utcnow()

    def write(conn: Connection) -> str:
        old = service.find_delivery(conn, caller, delivery_id)
        row = service.redeliver(conn, caller, delivery_id, now)
        audit.record(
            conn,
            visitor,
            "delivery.resend",
            delivery_id,
            now,
            payment_id=data.payment_of_delivery(conn, old),
            details={"delivery": row["public_id"], "url": row["url"]},
        )
        return str(row["public_id"])

    new_id = await state.db.write(write)
    return redirect(f"{BASE}/deliveries/{new_id}?{urlencode({'resent': new_id})}")
