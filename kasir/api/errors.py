"""Every failure leaves as ``{"success": false, "error": …, "code": …}``: never an HTML page,
never a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

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


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "http_error")
    message = {404: "no such endpoint", 405: "method not allowed on this endpoint"}.get(
        exc.status_code, str(exc.detail)
    )
    return error_response(exc.status_code, message, code, headers=getattr(exc, "headers", None))


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    field, message, code = describe_validation_error(dict(exc.errors()[0]))
    return error_response(400, message, code, field=field)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The traceback goes to our log, never to the client. Only the path: the query may hold a key.
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal error; the operator's log has the details", "internal_error")


def install(app: FastAPI) -> None:
    app.add_exception_handler(KasirError, _kasir_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
