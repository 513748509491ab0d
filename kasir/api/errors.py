"""Every failure leaves as ``{"success": false, "error": …, "code": …}``: never an HTML page,
never a stack trace."""

from __future__ import annotations

import errno
import logging
import sqlite3
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from kasir.db.loop import DatabaseUnreachable
from kasir.errors import KasirError, RateLimited

log = logging.getLogger("kasir.api")

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "rate_limited",
}


def error_response(
    status: int,
    message: str,
    code: str,
    *,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"success": False, "error": message, "code": code}
    if field is not None:
        body["field"] = field
    return JSONResponse(body, status_code=status, headers=headers)


def describe_validation_error(error: dict[str, Any]) -> tuple[str, str, str]:
    """(field, message, code) for the first pydantic error: enough for a person to fix it."""
    location = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path")]
    field = ".".join(location) or "body"
    if error.get("type") == "missing":
        return field, f"{field} is required", "missing_parameter"
    message = str(error.get("msg", "is not valid")).removeprefix("Value error, ")
    return field, f"{field}: {message}", "invalid_parameter"


async def _kasir_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, KasirError)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
    return error_response(exc.status_code, exc.message, exc.code, field=exc.field, headers=headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "http_error")
    message = {404: "no such endpoint", 405: "method not allowed on this endpoint"}.get(
        exc.status_code, str(exc.detail)
    )
    headers = getattr(exc, "headers", None)
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": ", ".join(allowed_methods(request))}
    return error_response(exc.status_code, message, code, headers=headers)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers on this path. Starlette's own 405 names only the methods
    of the first route whose path matched, and GET, PATCH and DELETE of one resource are three
    routes (RFC 9110 §15.5.6: Allow lists the methods the target resource supports). Asked of
    the router itself, method by method: only a 405 pays for it."""
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    ]


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    field, message, code = describe_validation_error(dict(exc.errors()[0]))
    return error_response(400, message, code, field=field)


# PostgreSQL SQLSTATEs that mean "no database to talk to right now", not "this request is wrong":
# connection exceptions (class 08) and a server shutting down or starting (57P01-57P03).
_UNAVAILABLE_SQLSTATES = ("57P01", "57P02", "57P03")
RETRY_AFTER_SECONDS = 5


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception, the driver error SQLAlchemy wraps (``orig``), and what they were raised from."""
    chain: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop()
        if item is None or any(item is seen for seen in chain) or len(chain) > 20:
            continue
        chain.append(item)
        orig = getattr(item, "orig", None)
        todo += [orig if isinstance(orig, BaseException) else None, item.__cause__, item.__context__]
    return chain


def unavailable(exc: BaseException) -> tuple[str, str] | None:
    """(code, message) when ``exc`` says the server cannot store anything now (its disk is full)
    or cannot reach its database: the request was not applied and the same request, later,
    will be. None for anything else."""
    for cause in _causes(exc):
        if isinstance(cause, sqlite3.Error) and (
            getattr(cause, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(cause)
        ):
            return "storage_full", "the server's disk is full: nothing was stored; retry later"
        if isinstance(cause, OSError) and cause.errno == errno.ENOSPC:
            return "storage_full", "the server's disk is full: nothing was stored; retry later"
        if isinstance(cause, DatabaseUnreachable):
            return "database_unavailable", "the database cannot be reached: nothing was stored; retry later"
        if isinstance(cause, psycopg.OperationalError):
            sqlstate = cause.sqlstate
            if sqlstate is None or sqlstate.startswith("08") or sqlstate in _UNAVAILABLE_SQLSTATES:
                return "database_unavailable", "the database cannot be reached: nothing was stored; retry later"
    return None


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The traceback goes to our log, never to the client. Only the path: the query may hold a key.
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    known = unavailable(exc)
    if known is not None:
        # 503 with Retry-After: clients retry it (with the same Idempotency-Key) as they retry
        # any outage, and the code says which one it is.
        code, message = known
        return error_response(503, message, code, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    return error_response(500, "internal error; the operator's log has the details", "internal_error")


def install(app: FastAPI) -> None:
    app.add_exception_handler(KasirError, _kasir_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
