"""``Idempotency-Key`` on creating POSTs: the same key and body answer the first response again;
the same key with another body is a 409. The stored response is written in the transaction that
created the resource, so a crash never leaves one without the other."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypedDict

from sqlalchemy import Connection, bindparam, delete, select

from kasir.db import statements
from kasir.db.engine import Database
from kasir.db.statements import Conn, Statement, insert_for, insertable_columns
from kasir.db.tables import idempotency_keys
from kasir.errors import Conflict, InvalidRequest
from kasir.merchants.service import Principal

MAX_KEY_LENGTH = 255


class IdempotencyRace(Exception):
    """Another request with the same key committed first; roll back and answer its response."""


class _StoredRow(TypedDict):
    fingerprint: str
    status_code: int
    response: str


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status_code: int
    body: dict[str, Any]


def check_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidRequest(
            f"Idempotency-Key must be 1–{MAX_KEY_LENGTH} printable characters",
            field="Idempotency-Key",
            code="invalid_idempotency_key",
        )
    return key


def fingerprint(path: str, params: dict[str, Any]) -> str:
    canonical = json.dumps([path, params], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


STORED: Statement[_StoredRow] = Statement(
    select(idempotency_keys.c.fingerprint, idempotency_keys.c.status_code, idempotency_keys.c.response).where(
        *(idempotency_keys.c[name] == bindparam(name) for name in ("merchant_id", "mode", "key"))
    ),
    name="idempotency_stored",
)
REMEMBER: Statement[dict[str, int]] = Statement(
    lambda dialect: insert_for(dialect, idempotency_keys).on_conflict_do_nothing().returning(idempotency_keys.c.id),
    column_keys=insertable_columns(idempotency_keys),
    name="idempotency_remember",
)


def _owner(principal: Principal, key: str) -> dict[str, Any]:
    return {"merchant_id": principal.merchant_id, "mode": principal.mode, "key": key}


def _answer(row: _StoredRow | None, request_fingerprint: str) -> StoredResponse | None:
    if row is None:
        return None
    if not hmac.compare_digest(row["fingerprint"], request_fingerprint):
        raise Conflict(
            "this Idempotency-Key was already used with a different request",
            code="idempotency_key_reused",
        )
    return StoredResponse(row["status_code"], json.loads(row["response"]))


def replay(conn: Conn, principal: Principal, key: str, request_fingerprint: str) -> StoredResponse | None:
    return _answer(statements.first(conn, STORED, _owner(principal, key)), request_fingerprint)


def remember(
    conn: Conn,
    principal: Principal,
    key: str,
    request_fingerprint: str,
    response: StoredResponse,
    now: datetime,
) -> None:
    inserted = statements.scalars(
        conn,
        REMEMBER,
        {
            **_owner(principal, key),
            "fingerprint": request_fingerprint,
            "status_code": response.status_code,
            "response": json.dumps(response.body, separators=(",", ":")),
            "created_at": now,
        },
    )
    if not inserted:
        raise IdempotencyRace(key)


def forget_older_than(conn: Connection, now: datetime, ttl_seconds: int) -> int:
    result = conn.execute(
        delete(idempotency_keys).where(idempotency_keys.c.created_at < now - timedelta(seconds=ttl_seconds))
    )
    return int(result.rowcount or 0)


async def respond_once(
    db: Database,
    principal: Principal,
    raw_key: str | None,
    path: str,
    params: dict[str, Any],
    now: datetime,
    produce: Callable[[Any], StoredResponse],
    *,
    on_loop: bool = False,
) -> StoredResponse:
    """Run ``produce`` in one transaction, at most once per ``Idempotency-Key`` (when the
    request has one): the same key and request answer the first response again, the same key
    with another request is a 409, and a concurrent twin that commits first is answered with its
    response. ``on_loop``: ``produce`` runs only kasir.db.statements (``Database.unit``)."""
    key = check_key(raw_key) if raw_key is not None else None
    request_fingerprint = fingerprint(path, params) if key is not None else ""

    def unit(conn: Conn) -> StoredResponse:
        if key is not None:
            stored = replay(conn, principal, key, request_fingerprint)
            if stored is not None:
                return stored
        response = produce(conn)
        if key is not None:
            remember(conn, principal, key, request_fingerprint, response, now)
        return response

    try:
        return await (db.unit(unit) if on_loop else db.write(unit))
    except IdempotencyRace:
        # A concurrent request with this key won; ours rolled back. Answer what it answered.
        assert key is not None
        stored = _answer(await db.fetch_one(STORED, _owner(principal, key)), request_fingerprint)
        assert stored is not None
        return stored
