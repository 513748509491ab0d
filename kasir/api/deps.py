"""Dependencies shared by the routes: who is calling, and may they call now."""

from __future__ import annotations

import base64

from fastapi import Request, Security
from fastapi.security import APIKeyHeader, APIKeyQuery
from sqlalchemy import Connection

from kasir.api.ratelimit import retry_after_header
from kasir.api.state import AppState, app_state
from kasir.clock import utcnow
from kasir.errors import RateLimited, Unauthorized
from kasir.merchants.service import Principal, authenticate
from kasir.payments.service import expire_due, has_due

api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="ksr_test_… or ksr_live_…; the mode follows the key.",
)
api_key_query = APIKeyQuery(
    name="apiKey", auto_error=False, description="The same key as a query parameter (seed 004)."
)


def _basic_auth_user(header: str | None) -> str | None:
    """Xendit's clients send the key as the Basic-auth user with an empty password (seed 003)."""
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return decoded.split(":", 1)[0] or None


async def principal(
    request: Request,
    header_key: str | None = Security(api_key_header),
    query_key: str | None = Security(api_key_query),
) -> Principal:
    key = header_key or query_key or _basic_auth_user(request.headers.get("authorization"))
    if not key:
        raise Unauthorized(
            "send your API key in the X-API-Key header or the apiKey query parameter",
            code="missing_api_key",
        )
    state = app_state(request)
    caller = await state.db.read(lambda conn: authenticate(conn, key))
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
