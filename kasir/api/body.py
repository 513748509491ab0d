"""Request bodies as bayar.gg's clients send them: JSON (fetch, requests, json_encode), form
fields (PHP arrays, jQuery) and multipart (curl with CURLOPT_POSTFIELDS as an array).
Plus what every request is held to before a route reads it: the 64 KiB cap, JSON at most
``MAX_JSON_DEPTH`` deep, and no control characters in any text (path, query, fields)."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kasir.api.errors import error_response
from kasir.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from kasir.inputs import CONTROL_CHARACTER

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

# The deepest body any route takes is three levels ({"mutations": [{…}]}, {"items": [{…}]});
# 32 leaves room for any client's wrapping, and is far from the ~1,000 levels where the json
# module's recursion overflows the stack (a 2 KB body of brackets did, answering 500).
MAX_JSON_DEPTH = 32
# The same characters in a raw query string: percent-encoded (as clients send them) or bare.
_QUERY_CONTROL_CHARACTER = re.compile(rb"%(?:0[0-8bcef]|1[0-9a-f])|[\x00-\x08\x0b\x0c\x0e-\x1f]", re.IGNORECASE)
# A JSON string, closed or not (an unclosed one runs to the end, so the scan stays linear on any
# input), or a bracket: what the depth scan needs to see of a body.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")


def _exact_number(value: str) -> Decimal:
    # Money is integer rupiah: a JSON number with a fraction or an exponent (or NaN, Infinity)
    # must not turn into a float on its way to an amount. A Decimal is exact, no amount or id
    # check takes one, and no text check either: kept as its text, it slipped into text fields.
    return Decimal(value)


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


def parse_json(raw: bytes, *, item_checks: bool = False) -> Any:
    """The body as JSON. ``item_checks``: the route checks each item's text itself (a batch of
    notifications answers per item), so a control character is left for it to find."""
    try:
        # Decoded as json.loads decodes bytes (UTF-8, -16 or -32 by the first bytes), so that the
        # depth scan reads the same text the parser will.
        text = raw.decode(json.detect_encoding(raw), "surrogatepass")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"body is not valid JSON: {exc}", code="invalid_json") from None
    try:
        return loads(text, item_checks=item_checks)
    except ValueError as exc:
        raise InvalidRequest(f"body is not valid JSON: {exc}", code="invalid_json") from None


def loads(text: str, *, field: str | None = None, item_checks: bool = False) -> Any:
    """``json.loads`` for request input: ValueError when it is not JSON, InvalidRequest when it
    nests deeper than ``MAX_JSON_DEPTH`` (checked before parsing: the parser recurses) or when a
    key or string in it holds a control character. ``field``: where the JSON came from when it is
    a field's value rather than the body (the form field ``items``)."""
    # Fewer brackets than the limit cannot nest deeper than it: small bodies skip the scan.
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and json_depth(text) > MAX_JSON_DEPTH:
        raise InvalidRequest(
            f"{field or 'the body'}: JSON nested deeper than {MAX_JSON_DEPTH} levels",
            field=field,
            code="json_too_deep",
        )
    value = json.loads(text, parse_float=_exact_number, parse_constant=_exact_number)
    # The parser refuses raw control characters in strings, so only an escape (\u0000, \b, \f)
    # can bring one in: text without a backslash has none, and most bodies are spared the walk.
    if "\\" in text and not item_checks:
        reject_control_characters(value, field)
    return value


def json_depth(text: str) -> int:
    """How deep the JSON text's arrays and objects nest, found without parsing it: strings are
    cut out (their brackets do not count), then the brackets left are counted. Text that closes
    more than it opened is not JSON, and the parser stops at its first stray bracket, so the
    count does not go below 0."""
    depth = deepest = 0
    for char in _NOT_A_BRACKET.sub("", _JSON_STRING.sub("", text)):
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth = max(depth - 1, 0)
    return deepest


def reject_control_characters(value: Any, field: str | None = None) -> None:
    """InvalidRequest (400 ``control_character``) naming the first string in ``value`` (parsed
    JSON: ``items.0.name``) that holds a C0 control character other than tab, LF and CR. A key
    that holds one is named by the object it is in."""
    if isinstance(value, str):
        if CONTROL_CHARACTER.search(value):
            raise control_character(field or "body", value)
    elif isinstance(value, dict):
        for key, item in value.items():
            if CONTROL_CHARACTER.search(key):
                raise control_character(field or "body", key)
            reject_control_characters(item, f"{field}.{key}" if field else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            reject_control_characters(item, f"{field}.{index}" if field else str(index))


def control_character(field: str, text: str) -> InvalidRequest:
    found = CONTROL_CHARACTER.search(text)
    char = f" U+{ord(found.group()):04X}" if found else ""
    return InvalidRequest(
        f"{field} contains the control character{char}; of those, text may hold only tab, LF and CR",
        field=field,
        code="control_character",
    )


def url_control_character(scope: Scope) -> InvalidRequest | None:
    """The refusal for a request whose path or query string holds a control character (a
    ``%00`` in an id or a search): every path and query parameter is checked in one place."""
    path: str = scope.get("path", "")
    if CONTROL_CHARACTER.search(path):
        # Routing has not happened yet, so the path parameter has no name here: the path it is.
        return control_character("path", path)
    query: bytes = scope.get("query_string", b"")
    if _QUERY_CONTROL_CHARACTER.search(query):
        for key, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if CONTROL_CHARACTER.search(key):
                return control_character("query", key)
            if CONTROL_CHARACTER.search(value):
                return control_character(key, value)
    return None


async def _form_fields(request: Request, files: frozenset[str] = frozenset()) -> dict[str, Any]:
    # Starlette caps a non-file part at 1 MiB; a base64 image is one. BodySizeLimit already
    # bounds the whole body per path, so the part may be as large as the body.
    form = await request.form(max_part_size=64 * 1024 * 1024)
    fields: dict[str, Any] = {}
    for key, value in form.multi_items():
        if isinstance(value, UploadFile) and key not in files:
            raise InvalidRequest(f"{key}: file uploads are not accepted here", field=key)
        if CONTROL_CHARACTER.search(key):
            raise control_character("body", key)
        # An upload's own filename is not checked: clients percent-encode it, and the catalog
        # cleans it of control characters as it cleans it of paths.
        if isinstance(value, str) and CONTROL_CHARACTER.search(value):
            raise control_character(key, value)
        fields[key] = value
    return fields


class BodySizeLimit:
    """Refuses bodies over ``max_bytes`` with 413, by Content-Length or while streaming
    (a chunked body has no length to check up front). Being the middleware in front of every
    route (the pay page, /static and unknown paths too), it also refuses a path or query string
    with a control character (400 ``control_character``), before any route parses either."""

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
        refused = url_control_character(scope)
        if refused is not None:
            await error_response(400, refused.message, refused.code, field=refused.field)(scope, receive, send)
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
