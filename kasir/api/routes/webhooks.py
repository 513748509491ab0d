"""Webhook settings (seed 004's Pengaturan → Webhook), endpoints, ping and the callback tester."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from kasir.api.body import read_params
from kasir.api.deps import principal
from kasir.api.schemas import EndpointBody, RecoverBody, SampleEventBody, WebhookSettingsBody, parse, parse_time
from kasir.api.state import AppState, app_state
from kasir.clock import utcnow
from kasir.delivery import dispatch, service
from kasir.delivery.endpoints import active_endpoint_secrets, mask_secret
from kasir.delivery.outbox import new_delivery_id, new_event_id
from kasir.delivery.queue import Job
from kasir.delivery.views import callback_settings_view, endpoint_view
from kasir.devtools.samples import SAMPLE_TYPES, ping_payload, sample_payload
from kasir.dialects import get as get_dialect
from kasir.errors import InvalidRequest
from kasir.merchants.service import Principal
from kasir.ssrf import check_url

router = APIRouter(tags=["webhooks"])


async def guard_url(state: AppState, url: str | None, field: str) -> None:
    if url:
        await check_url(
            url,
            allow_private=state.settings.webhook_allow_private_networks,
            require_https=state.settings.webhook_require_https,
            field=field,
        )


# --- settings ---------------------------------------------------------------------------------


async def checked_settings(state: AppState, params: dict[str, Any]) -> dict[str, Any]:
    """The settings' changes a request asks for, validated and SSRF-guarded (API and dashboard)."""
    body: WebhookSettingsBody = parse(WebhookSettingsBody, params)
    await guard_url(state, body.default_callback_url, "default_callback_url")
    return body.model_dump(include=body.model_fields_set)


@router.get("/v1/webhook-settings", summary="Default callback URL, dialect and events of this mode")
async def get_settings(request: Request, caller: Principal = Depends(principal)) -> dict[str, Any]:
    state = app_state(request)
    row = await state.db.read(lambda conn: service.get_callback_settings(conn, caller))
    return {"success": True, "settings": callback_settings_view(row)}


@router.put("/v1/webhook-settings", summary="Change the default callback URL, dialect or events")
async def put_settings(request: Request, caller: Principal = Depends(principal)) -> dict[str, Any]:
    state = app_state(request)
    changes = await checked_settings(state, await read_params(request))
    now = utcnow()
    row = await state.db.write(lambda conn: service.update_callback_settings(conn, caller, changes, now))
    return {"success": True, "settings": callback_settings_view(row)}


@router.post("/v1/webhook-settings/rotate-secret", summary="New webhook secret (shown once)")
async def rotate_settings_secret(request: Request, caller: Principal = Depends(principal)) -> dict[str, Any]:
    state = app_state(request)
    now = utcnow()
    row, secret = await state.db.write(lambda conn: service.rotate_callback_secret(conn, caller, state.settings, now))
    return {"success": True, "settings": callback_settings_view(row, secret=secret)}


# --- endpoints --------------------------------------------------------------------------------


def _changes(body: EndpointBody, now: datetime) -> service.EndpointChanges:
    fields = body.model_dump(exclude={"expires_in"})
    if body.expires_in is not None:
        fields["expires_at"] = now + timedelta(seconds=body.expires_in)
    return service.EndpointChanges(**fields)


async def checked_endpoint(
    state: AppState, params: dict[str, Any], now: datetime, *, creating: bool
) -> tuple[service.EndpointChanges, set[str]]:
    """An endpoint's settings from a request (EndpointBody's rules, the URL SSRF-guarded), and
    which fields it sets; ``creating``: the URL is required (API and dashboard)."""
    body: EndpointBody = parse(EndpointBody, params)
    if creating and not body.url:
        raise InvalidRequest("url is required", field="url", code="missing_parameter")
    if creating or "url" in body.model_fields_set:
        await guard_url(state, body.url, "url")
    return _changes(body, now), set(body.model_fields_set)


@router.post("/v1/endpoints", status_code=201, summary="Register an endpoint (its secret is shown once)")
async def create_endpoint(request: Request, caller: Principal = Depends(principal)) -> dict[str, Any]:
    state = app_state(request)
    now = utcnow()
    changes, _ = await checked_endpoint(state, await read_params(request), now, creating=True)
    row = await state.db.write(lambda conn: service.create_endpoint(conn, caller, changes, now))
    return {"success": True, "endpoint": endpoint_view(row, secret=row["secret"])}


@router.get("/v1/endpoints", summary="List endpoints")
async def list_endpoints(request: Request, caller: Principal = Depends(principal)) -> dict[str, Any]:
    rows = await app_state(request).db.read(lambda conn: service.list_endpoints(conn, caller))
    return {"success": True, "data": [endpoint_view(row) for row in rows]}


@router.get("/v1/endpoints/{endpoint_id}", summary="One endpoint")
async def get_endpoint(request: Request, endpoint_id: str, caller: Principal = Depends(principal)) -> dict[str, Any]:
    row = await app_state(request).db.read(lambda conn: service.find_endpoint(conn, caller, endpoint_id))
    return {"success": True, "endpoint": endpoint_view(row)}


@router.patch("/v1/endpoints/{endpoint_id}", summary="Change an endpoint; enabled=true brings a disabled one back")
async def patch_endpoint(request: Request, endpoint_id: str, caller: Principal = Depends(principal)) -> dict[str, Any]:
    state = app_state(request)
    now = utcnow()
    changes, fields = await checked_endpoint(state, await read_params(request), now, creating=False)
    row = await state.db.write(lambda conn: service.update_endpoint(conn, caller, endpoint_id, changes, fields, now))
    return {"success": True, "endpoint": endpoint_view(row)}


@router.delete("/v1/endpoints/{endpoint_id}", status_code=204, summary="Delete an endpoint and its deliveries")
async def delete_endpoint(request: Request, endpoint_id: str, caller: Principal = Depends(principal)) -> Response:
    await app_state(request).db.write(lambda conn: service.delete_endpoint(conn, caller, endpoint_id))
    return Response(status_code=204)


@router.post("/v1/endpoints/{endpoint_id}/rotate-secret", summary="New endpoint secret (shown once)")
async def rotate_endpoint_secret(
    request: Request, endpoint_id: str, caller: Principal = Depends(principal)
) -> dict[str, Any]:
    state = app_state(request)
    now = utcnow()
    row, secret = await state.db.write(
        lambda conn: service.rotate_endpoint_secret(conn, caller, endpoint_id, state.settings, now)
    )
    return {"success": True, "endpoint": endpoint_view(row, secret=secret)}


@router.post("/v1/endpoints/{endpoint_id}/recover", summary="Send again what failed since a time")
async def recover_endpoint(
    request: Request, endpoint_id: str, caller: Principal = Depends(principal)
) -> dict[str, Any]:
    state = app_state(request)
    body: RecoverBody = parse(RecoverBody, await read_params(request))
    since = parse_time(body.since, "since")
    assert since is not None
    now = utcnow()
    count = await state.db.write(lambda conn: service.recover(conn, caller, endpoint_id, since, now))
    return {"success": True, "recovered": count}


async def send_now(
    state: AppState, caller: Principal, endpoint: Any, event_type: str, payload: dict[str, Any]
) -> dict[str, Any]:
    """Send one event to an endpoint while the merchant waits, and say how it went."""
    now = utcnow()
    job = Job(
        id=0,
        public_id=new_delivery_id(),
        url=endpoint["url"],
        dialect=endpoint["dialect"],
        attempts=0,
        merchant_id=caller.merchant_id,
        mode=caller.mode,
        endpoint_id=endpoint["id"],
        event_id=new_event_id(),
        event_type=event_type,
        event_created_at=int(now.timestamp()),
        event_payload=payload,
        username=caller.username,
        secrets=active_endpoint_secrets(endpoint, now),
        headers=json.loads(endpoint["headers"]) if endpoint["headers"] else {},
    )
    try:
        request = dispatch.prepare(job, int(time.time()))
    except Exception as exc:  # a header stored before it was checked, say: the merchant is told why
        result = dispatch.failure(
            dispatch.PREPARE_FAILED, exc, secrets=dispatch.secret_values(job.headers, job.secrets)
        )
    else:
        result = await dispatch.send(state.http, request, guard=not state.settings.webhook_allow_private_networks)
    return {
        "ok": result.ok,
        "status_code": result.status_code,
        "latency_ms": round(result.duration * 1000, 1),
        "response_body": result.response_body,
        "error": result.error,
        "event_id": job.event_id,
    }


@router.post("/v1/endpoints/{endpoint_id}/ping", summary="Send a ping now; answers the receiver's status and latency")
async def ping_endpoint(request: Request, endpoint_id: str, caller: Principal = Depends(principal)) -> dict[str, Any]:
    payload, response = await ping_now(app_state(request), caller, endpoint_id)
    return {"success": True, "ping": payload, "response": response}


async def ping_now(state: AppState, caller: Principal, endpoint_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ping's payload and the receiver's answer (API and dashboard)."""
    endpoint = await state.db.read(lambda conn: service.find_endpoint(conn, caller, endpoint_id))
    payload = ping_payload(endpoint["public_id"], endpoint["url"], mask_secret(endpoint["secret"]), endpoint["enabled"])
    return payload, await send_now(state, caller, endpoint, "ping", payload)


@router.post("/v1/endpoints/{endpoint_id}/test", summary="Callback tester: send a realistic sample event now")
async def callback_tester(request: Request, endpoint_id: str, caller: Principal = Depends(principal)) -> dict[str, Any]:
    body: SampleEventBody = parse(SampleEventBody, await read_params(request))
    payload, response = await test_now(app_state(request), caller, endpoint_id, body.event_type)
    return {"success": True, "event": payload, "response": response}


async def test_now(
    state: AppState, caller: Principal, endpoint_id: str, event_type: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The callback tester (API and dashboard): a realistic sample of ``event_type`` sent to the
    endpoint now; the sample and the receiver's answer."""
    if event_type not in SAMPLE_TYPES:
        raise InvalidRequest(
            f"event_type must be one of {', '.join(SAMPLE_TYPES)}", field="event_type", code="invalid_event_type"
        )
    endpoint = await state.db.read(lambda conn: service.find_endpoint(conn, caller, endpoint_id))
    if get_dialect(endpoint["dialect"]).event_name(event_type) is None:
        raise InvalidRequest(
            f"the {endpoint['dialect']} dialect has no way to say {event_type}",
            field="event_type",
            code="event_not_in_dialect",
        )
    payload = sample_payload(event_type, caller.username, state.settings.public_url, utcnow())
    return payload, await send_now(state, caller, endpoint, event_type, payload)
