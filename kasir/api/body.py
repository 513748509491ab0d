"""Request bodies as bayar.gg's clients send them: JSON (fetch, requests, json_encode), form
fields (PHP arrays, jQuery) and multipart (curl with CURLOPT_POSTFIELDS as an array).
Plus the 64 KiB cap, enforced before anything reads the body."""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kasir.api.errors import error_response
from kasir.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _reject_float(value: str) -> Any:
    # Money is integer rupiah: a JSON number with a fraction or exponent must not turn into a
    # float on its way to an amount. Kept as text, so the field validator names the problem.
    return value


async def read_params(request: Request, *, files: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The body's fields as a dict. An empty body is an empty dict. ``files``: multipart fields
    that may be file uploads (an ``UploadFile`` in the dict); any other upload is refused."""
    raw = await request.body()
    if not raw.strip():
        return {}
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json" or content_type.endswith("+json"):
        parsed = parse_json(raw)
        if not isinstance(parsed, dict):
            raise InvalidRequest("JSON body must be an object", code="invalid_json")
        return parsed
    if content_type in FORM_TYPES:
        return await _form_fields(request, files)
    raise UnsupportedMediaType(
        "send the body as application/json, application/x-www-form-urlencoded or multipart/form-data",
        code="unsupported_media_type",
    )


async def read_json_or_form(request: Request) -> Any:
    """``read_params``, but a JSON body may be any JSON value (a list of mutations, say)."""
    raw = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json" or content_type.endswith("+json"):
        return parse_json(raw)
    return await read_params(request)


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw, parse_float=_reject_float, parse_constant=_reject_float)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"body is not valid JSON: {exc}", code="invalid_json") from None


async def _form_fields(request: Request, files: frozenset[str] = frozenset()) -> dict[str, Any]:
    # Starlette caps a non-file part at 1 MiB; a base64 image is one. BodySizeLimit already
    # bounds the whole body per path, so the part may be as large as the body.
    form = await request.form(max_part_size=64 * 1024 * 1024)
    fields: dict[str, Any] = {}
    for key, value in form.multi_items():
        if isinstance(value, UploadFile) and key not in files:
            raise InvalidRequest(f"{key}: file uploads are not accepted here", field=key)
        fields[key] = value
    return fields


class BodySizeLimit:
    """Refuses bodies over ``max_bytes`` with 413, by Content-Length or while streaming
    (a chunked body has no length to check up front)."""

    def __init__(self, app: ASGIApp, max_bytes: int, larger: dict[str, int] | None = None) -> None:
        """``larger``: path prefixes that take bigger bodies (a batch of 1,000 mutations)."""
        self.app = app
        self.max_bytes = max_bytes
        self.larger = sorted((larger or {}).items(), key=lambda item: -len(item[0]))

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.larger:
            if path.startswith(prefix):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.limit_for(scope["path"]) if self.larger else self.max_bytes
        too_large = PayloadTooLarge(f"request body is larger than {max_bytes} bytes")
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > max_bytes:
                    response = error_response(413, too_large.message, too_large.code)
                    await response(scope, receive, send)
                    return
        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise too_large
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except PayloadTooLarge:
            if not response_started:
                await error_response(413, too_large.message, too_large.code)(scope, receive, send)
