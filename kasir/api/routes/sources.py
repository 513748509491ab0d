"""Payment sources (docs/sources.md): managing them with an API key, and what their phones,
QRIS Hook, automation apps and Moota send with the source's token."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from importlib import resources
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import Connection

from kasir.api.body import parse_json, read_params
from kasir.api.deps import principal
from kasir.api.state import AppState, app_state
from kasir.clock import utcnow
from kasir.errors import InvalidRequest, Unauthorized, UnsupportedMediaType
from kasir.merchants.service import Principal
from kasir.payments.views import payment_view
from kasir.sources import automation, health, moota, notifications, qrishook, registry, views
from kasir.sources.notifications import Item, Refused

router = APIRouter(tags=["sources"])

SOURCES_PREFIX = views.SOURCES_PREFIX
MAX_LIST = 100
# The operations a source's phone (or QRIS Hook, an automation app, Moota) calls with the
# source's token rather than an API key.
TOKEN_OPERATIONS = frozenset(
    f"POST {SOURCES_PREFIX}/{{source_id}}/{name}"
    for name in ("notifications", "heartbeat", "qrishook", "automation", "moota")
)


def _view(state: AppState, row: Any, token: str | None = None) -> dict[str, Any]:
    return views.source_view(row, state.settings.public_url, utcnow(), token)


@router.post(SOURCES_PREFIX, summary="Create a payment source: a phone forwarding its apps' notifications")
async def create_source(request: Request, caller: Principal = Depends(principal)) -> dict[str, Any]:
    state = app_state(request)
    params = await read_params(request)
    name = registry.parse_name(params.get("name"))
    apps = registry.parse_apps(params.get("apps"))
    now = utcnow()
    row, token = await state.db.write(lambda conn: registry.create(conn, caller, name, apps, now))
    return {"success": True, "source": _view(state, row, token)}


@router.get(SOURCES_PREFIX, summary="The payment sources, with their health")
async def list_sources(request: Request, caller: Principal = Depends(principal)) -> dict[str, Any]:
    state = app_state(request)
    rows = await state.db.read(lambda conn: registry.list_sources(conn, caller))
    shown = [_view(state, row) for row in rows]
    return {"success": True, "data": shown, "sources": shown}


@router.get(SOURCES_PREFIX + "/{source_id}", summary="One payment source")
async def get_source(request: Request, source_id: str, caller: Principal = Depends(principal)) -> dict[str, Any]:
    state = app_state(request)
    row = await state.db.read(lambda conn: registry.get(conn, caller, source_id))
    return {"success": True, "source": _view(state, row)}


@router.patch(SOURCES_PREFIX + "/{source_id}", summary="Rename a source or change the apps it watches")
async def change_source(request: Request, source_id: str, caller: Principal = Depends(principal)) -> dict[str, Any]:
    state = app_state(request)
    params = await read_params(request)
    now = utcnow()
    row = await state.db.write(lambda conn: registry.change(conn, caller, source_id, params, now))
    return {"success": True, "source": _view(state, row)}


@router.delete(SOURCES_PREFIX + "/{source_id}", summary="Delete a source and the notifications it reported")
async def delete_source(request: Request, source_id: str, caller: Principal = Depends(principal)) -> dict[str, Any]:
    state = app_state(request)
    await state.db.write(lambda conn: registry.remove(conn, caller, source_id))
    return {"success": True, "deleted": source_id}


@router.post(SOURCES_PREFIX + "/{source_id}/rotate-token", summary="A new token (shown once); the old one stops")
async def rotate_token(request: Request, source_id: str, caller: Principal = Depends(principal)) -> dict[str, Any]:
    state = app_state(request)
    now = utcnow()
    row, token = await state.db.write(lambda conn: registry.rotate_token(conn, caller, source_id, now))
    return {"success": True, "source": _view(state, row, token)}


# --- what the phone sends ------------------------------------------------------------------------


async def _authenticated(
    request: Request, source_id: str, *, bearer: str | None = None, signature: str | None = None
) -> tuple[AppState, bytes, dict[str, Any]]:
    state = app_state(request)
    raw = await request.body()
    if bearer is None and signature is None:
        bearer = registry.bearer_token(request.headers.get("authorization"))
        signature = request.headers.get(registry.SIGNATURE_HEADER)
        if bearer is not None:
            signature = None  # one proof is enough; the bearer is the one checked
    source = await state.auth_throttle.guard(
        state.addresses(request.scope),
        lambda: state.db.read(
            lambda conn: registry.authenticate(conn, source_id, raw, bearer=bearer, signature=signature)
        ),
    )
    return state, raw, source


def _json(request: Request, raw: bytes) -> Any:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type and content_type != "application/json" and not content_type.endswith("+json"):
        raise UnsupportedMediaType("send the notifications as application/json", code="unsupported_media_type")
    return parse_json(raw, item_checks=True)


async def _ingest(state: AppState, source: dict[str, Any], batch: list[Item | Refused]) -> dict[str, Any]:
    settings = state.settings

    def work(conn: Connection) -> list[dict[str, Any]]:
        return notifications.ingest_batch(conn, source, batch, settings, utcnow())

    results = await state.db.write(work, retry_conflicts=True)
    return {"success": True, "results": results, "summary": dict(Counter(result["outcome"] for result in results))}


@router.post(
    SOURCES_PREFIX + "/{source_id}/notifications",
    summary="Notifications from the source's phone (one or up to 500), each answered on its own",
)
async def report_notifications(request: Request, source_id: str) -> dict[str, Any]:
    state, raw, source = await _authenticated(request, source_id)
    now = utcnow()
    batch = notifications.parse_batch(_json(request, raw), now=now, clock_grace=state.settings.mutation_clock_grace)
    return await _ingest(state, source, batch)


@router.post(SOURCES_PREFIX + "/{source_id}/heartbeat", summary="The source's phone is alive")
async def heartbeat(request: Request, source_id: str) -> dict[str, Any]:
    state, raw, source = await _authenticated(request, source_id)
    body = _json(request, raw) if raw.strip() else {}
    if not isinstance(body, dict):
        raise InvalidRequest("a heartbeat body is a JSON object", code="invalid_body")
    forwarder = body.get("forwarder")
    if forwarder is not None and (
        not isinstance(forwarder, str) or len(forwarder) > 100 or not forwarder.isprintable()
    ):
        raise InvalidRequest("forwarder must be printable text of at most 100 characters", field="forwarder")
    queued = body.get("queued")
    if queued is not None and (not isinstance(queued, int) or isinstance(queued, bool) or not 0 <= queued < 10**9):
        raise InvalidRequest("queued must be a whole number", field="queued")
    now = utcnow()

    def beat(conn: Connection) -> dict[str, Any]:
        health.sign_of_life(conn, source, now, forwarder=forwarder, queued=queued)
        return notifications.with_state(source, conn)

    row = await state.db.write(beat)
    return {"success": True, "source": registry.view(row, state.settings.public_url, now)}


@router.post(SOURCES_PREFIX + "/{source_id}/qrishook", summary="QRIS Hook's webhook (X-Webhook-Secret: the token)")
async def qrishook_webhook(request: Request, source_id: str) -> dict[str, Any]:
    secret = request.headers.get(qrishook.SECRET_HEADER)
    state, raw, source = await _authenticated(request, source_id, bearer=secret or None)
    now = utcnow()
    item = notifications.parse_item(
        qrishook.item_of(parse_json(raw, item_checks=True)),
        latest=now + _grace(state),
    )
    return await _ingest(state, source, [item])


@router.post(
    SOURCES_PREFIX + "/{source_id}/automation",
    summary="A notification from MacroDroid, Tasker or Automate, in the template the source shows",
)
async def automation_webhook(request: Request, source_id: str) -> dict[str, Any]:
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequest("the body must be UTF-8 text", code="invalid_body") from None
    token = automation.token_of(text) or registry.bearer_token(request.headers.get("authorization"))
    if token is None:
        raise Unauthorized("the body's first line must be token=<the source's token>", code="missing_credentials")
    state, _, source = await _authenticated(request, source_id, bearer=token)
    now = utcnow()
    item = notifications.parse_item(automation.parse(text, source["token_hash"]), latest=now + _grace(state))
    return await _ingest(state, source, [item])


@router.post(
    SOURCES_PREFIX + "/{source_id}/moota", summary="Moota's mutation webhook (Signature: HMAC-SHA256 of the body)"
)
async def moota_webhook(request: Request, source_id: str) -> dict[str, Any]:
    state = app_state(request)
    raw = await request.body()
    signature = request.headers.get(moota.SIGNATURE_HEADER)
    if not signature:
        raise Unauthorized("the Signature header is missing", code="missing_credentials")
    source = await state.auth_throttle.guard(
        state.addresses(request.scope),
        lambda: state.db.read(
            lambda conn: registry.authenticate(conn, source_id, raw, bearer=None, signature=signature)
        ),
    )
    now = utcnow()
    batch = moota.items_of(parse_json(raw, item_checks=True), now=now, clock_grace=state.settings.mutation_clock_grace)
    return await _ingest(state, source, batch)


def _grace(state: AppState) -> timedelta:
    return timedelta(seconds=state.settings.mutation_clock_grace)


# --- review ----------------------------------------------------------------------------------


def _limit(value: str | None) -> int:
    if value is None or value == "":
        return 50
    if not value.isascii() or not value.isdigit() or not 0 < int(value) <= MAX_LIST:
        raise InvalidRequest(f"limit must be a whole number from 1 to {MAX_LIST}", field="limit")
    return int(value)


@router.get(SOURCES_PREFIX + "/{source_id}/notifications", summary="What the source reported, newest first")
async def list_notifications(
    request: Request,
    source_id: str,
    outcome: str | None = Query(default=None, description="credited, ignored, unparsed or invalid"),
    limit: str | None = Query(default=None, description="Default 50, at most 100"),
    before: str | None = Query(default=None, description="A notification id: the ones older than it"),
    caller: Principal = Depends(principal),
) -> dict[str, Any]:
    if outcome not in (None, "", "credited", "ignored", "unparsed", "invalid"):
        raise InvalidRequest("outcome must be credited, ignored, unparsed or invalid", field="outcome")
    count = _limit(limit)
    state = app_state(request)

    def read(conn: Connection) -> list[dict[str, Any]]:
        source = registry.get(conn, caller, source_id)
        before_id = None
        if before:
            before_id = notifications.row_id(conn, source, before)
        return notifications.list_notifications(conn, source, outcome=outcome or None, limit=count, before=before_id)

    rows = await state.db.read(read)
    shown = [notifications.notification_view(row) for row in rows]
    return {"success": True, "data": shown, "next_before": shown[-1]["id"] if len(shown) == count else None}


@router.post(
    SOURCES_PREFIX + "/{source_id}/notifications/{notification_id}/reparse",
    summary="Read a stored notification again with today's parsers",
)
async def reparse_notification(
    request: Request, source_id: str, notification_id: str, caller: Principal = Depends(principal)
) -> dict[str, Any]:
    state = app_state(request)
    settings = state.settings

    def work(conn: Connection) -> dict[str, Any]:
        source = registry.get(conn, caller, source_id)
        return notifications.reparse(conn, source, notification_id, settings, utcnow())

    row = await state.db.write(work, retry_conflicts=True)
    return {"success": True, "notification": notifications.notification_view(row)}


@router.post(
    SOURCES_PREFIX + "/{source_id}/notifications/{notification_id}/assign",
    summary="Say by hand which payment a notification pays",
)
async def assign_notification(
    request: Request, source_id: str, notification_id: str, caller: Principal = Depends(principal)
) -> dict[str, Any]:
    state = app_state(request)
    params = await read_params(request)
    invoice = params.get("invoice_id") or params.get("invoice")
    if not isinstance(invoice, str) or not invoice.strip():
        raise InvalidRequest("invoice_id is required", field="invoice_id", code="missing_parameter")
    settings = state.settings

    def work(conn: Connection) -> tuple[dict[str, Any], dict[str, Any]]:
        source = registry.get(conn, caller, source_id)
        return notifications.assign(conn, caller, source, notification_id, invoice.strip(), settings, utcnow())

    row, payment = await state.db.write(work, retry_conflicts=True)
    return {
        "success": True,
        "notification": notifications.notification_view(row),
        "payment": payment_view(payment, settings.public_url),
    }


@router.get("/forward.py", summary="The phone forwarder (kasir forward), one standard-library Python file")
async def forwarder_script() -> Response:
    source = resources.files("kasir").joinpath("forward.py").read_bytes()
    return Response(source, media_type="text/x-python; charset=utf-8")
