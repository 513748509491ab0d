"""Dependencies shared by the routes: who is calling, and may they call now."""

from __future__ import annotations

import base64

from fastapi import Request
from sqlalchemy import Connection

from kasir.api.ratelimit import retry_after_header
from kasir.api.state import AppState, app_state
from kasir.clock import utcnow
from kasir.errors import RateLimited, Unauthorized
from kasir.merchants.service import Principal, authenticate_fast
from kasir.payments.service import expire_due, has_due

# The two ways seed 004 sends a key, plus Xendit's Basic auth. They are read from the request
# directly: as FastAPI Security parameters they cost ~100 µs per request to resolve, on every
# request. The OpenAPI document declares them instead (see SECURITY_SCHEMES).
SECURITY_SCHEMES = {
    "ApiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "ksr_test_… or ksr_live_…"},
    "ApiKeyQuery": {"type": "apiKey", "in": "query", "name": "apiKey", "description": "The same key (seed 004)"},
    "BasicAuth": {"type": "http", "scheme": "basic", "description": "The key as the user, no password (Xendit)"},
}


def _basic_auth_user(header: str | None) -> str | None:
    """Xendit's clients send the key as the Basic-auth user with an empty password (seed 003)."""
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return decoded.split(":", 1)[0] or None


async def principal(request: Request) -> Principal:
    key = (
        request.headers.get("x-api-key")
        or request.query_params.get("apiKey")
        or _basic_auth_user(request.headers.get("authorization"))
    )
    if not key:
        raise Unauthorized(
            "send your API key in the X-API-Key header or the apiKey query parameter",
            code="missing_api_key",
        )
    state = app_state(request)
    caller = await state.auth_throttle.guard(state.addresses(request.scope), lambda: authenticate_fast(state.db, key))
    wait = await state.limiter.acquire(caller.key_hash)
    if wait > 0:
        seconds = retry_after_header(wait)
        raise RateLimited(
            f"rate limit of {state.settings.rate_limit} requests per minute reached; retry in {seconds} s",
            retry_after=seconds,
        )
    return caller


async def expire_stale_payments(state: AppState, caller: Principal) -> None:
    """Expire the caller's pending payments that are past due before a read that counts or
    lists them. The check is a read; only when something is due do we take the write lock."""
    now = utcnow()

    def due(conn: Connection) -> bool:
        return has_due(conn, now, merchant_id=caller.merchant_id, mode=caller.mode)

    def expire(conn: Connection) -> int:
        return expire_due(conn, now, state.settings.public_url, merchant_id=caller.merchant_id, mode=caller.mode)

    if await state.db.read(due):
        await state.db.write(expire)
