"""Provider-compatible extras, for code written against Digiflazz and Xendit:
Digiflazz's ping endpoint (seed 001) and Xendit's ``POST /callback_urls`` (seed 003)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Connection, RowMapping

from kasir.api.body import read_params
from kasir.api.deps import principal
from kasir.api.routes.webhooks import guard_url, send_now
from kasir.api.schemas import http_url, parse
from kasir.api.state import app_state
from kasir.clock import utcnow
from kasir.delivery import endpoints, service
from kasir.delivery.endpoints import mask_secret
from kasir.devtools.samples import ping_payload
from kasir.merchants.service import Principal

router = APIRouter(tags=["provider compatibility"])

XENDIT_ENDPOINT = "Xendit callback URL (set by POST /callback_urls)"


@router.post("/v1/report/hooks/{hook_id}/pings", summary="Digiflazz's ping endpoint: ping a hook, get its payload")
async def digiflazz_ping(request: Request, hook_id: str, caller: Principal = Depends(principal)) -> dict[str, Any]:
    state = app_state(request)
    endpoint = await state.db.read(lambda conn: service.find_endpoint(conn, caller, hook_id))
    payload = ping_payload(endpoint["public_id"], endpoint["url"], mask_secret(endpoint["secret"]), endpoint["enabled"])
    # The answer is the ping payload itself, as Digiflazz answers, plus how the hook responded.
    return {**payload, "response": await send_now(state, caller, endpoint, "ping", payload)}


class CallbackUrlBody(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    url: str = Field(max_length=2048)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return http_url(value)


@router.post("/callback_urls", summary="Xendit's way to set the callback URL (key as the Basic-auth user)")
@router.post("/callback_urls/{callback_type}", include_in_schema=False)
async def xendit_callback_urls(request: Request, caller: Principal = Depends(principal)) -> JSONResponse:
    state = app_state(request)
    body: CallbackUrlBody = parse(CallbackUrlBody, await read_params(request))
    await guard_url(state, body.url, "url")
    now = utcnow()

    def upsert(conn: Connection) -> RowMapping:
        existing = endpoints.public_id_with(
            conn, caller.merchant_id, caller.mode, dialect="xendit", description=XENDIT_ENDPOINT
        )
        changes = service.EndpointChanges(url=body.url, dialect="xendit", description=XENDIT_ENDPOINT, enabled=True)
        if existing is None:
            return service.create_endpoint(conn, caller, changes, now)
        return service.update_endpoint(conn, caller, existing, changes, {"url", "enabled"}, now)

    row = await state.db.write(upsert)
    return JSONResponse(
        {
            "status": "SUCCESSFUL",
            "user_id": caller.username,
            "url": row["url"],
            "environment": caller.mode.upper(),
            "callback_token": row["secret"],  # what the receiver compares x-callback-token with
        }
    )
