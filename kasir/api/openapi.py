"""``/openapi.json``: FastAPI's generated document, corrected to say what the server does.

FastAPI infers the document from the routes' signatures, and Kasir's routes mislead it twice.
They read their bodies by hand (``read_params``: JSON or a form, checked by the models in
``kasir.api.schemas`` or by the services), so it sees no request body; and every error leaves as
``{"success": false, "error", "code"}`` with a 400 and up (``kasir.api.errors``), so the 422
``HTTPValidationError`` it documents on every route with a parameter is never sent. Here each
operation gets its request body (the models' JSON schemas, in ``components``), the error statuses
it can answer with their codes (one ``Error`` schema), the API-key schemes, and the media types
of its answers that are not JSON.

The schemas say what the checks accept, not only what a tidy client sends: bayar.gg's clients
send ``"50000"`` and ``"1"`` as often as ``50000`` and ``true``, and the checks take both, so the
document does too. ``tests/acceptance/test_openapi_fuzz.py`` holds a live server to it, sending
both valid and invalid input.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from kasir.api.deps import SECURITY_SCHEMES
from kasir.api.routes.links import LINKS_PREFIX
from kasir.api.routes.mutations import FORWARDERS_PREFIX
from kasir.api.routes.providers import CallbackUrlBody
from kasir.api.routes.sources import SOURCES_PREFIX, TOKEN_OPERATIONS
from kasir.api.schemas import (
    CreatePaymentBody,
    EndpointBody,
    OrderItemBody,
    OrderStepBody,
    RecoverBody,
    SampleEventBody,
    StoreOrderBody,
    WebhookSettingsBody,
)
from kasir.api.throttle import PUBLIC_PATHS as THROTTLED_PATHS
from kasir.api.throttle import PUBLIC_PREFIXES as THROTTLED_PREFIXES
from kasir.config import Settings
from kasir.delivery.dispatch import CLIENT_HEADERS, HEADER_VALUE_LIMIT
from kasir.delivery.outbox import EVENT_TYPES
from kasir.devtools.samples import SAMPLE_TYPES
from kasir.dialects import REGISTRY as DIALECTS
from kasir.goods.catalog import CONTENT_TYPES, MAX_BODY, MAX_TITLE
from kasir.inputs import MAX_ID
from kasir.links.fields import MAX_DESCRIPTION as MAX_LINK_DESCRIPTION
from kasir.links.fields import MAX_TITLE as MAX_LINK_TITLE
from kasir.links.fields import MAX_URL as MAX_LINK_URL
from kasir.links.fields import MAX_USES, PRICE_FIELDS
from kasir.links.service import MAX_LIST as MAX_LINKS
from kasir.payments.listing import STATUSES as PAYMENT_STATUSES
from kasir.payments.methods import METHODS
from kasir.payments.mutations import MAX_AMOUNT as MAX_CREDIT
from kasir.payments.mutations import MAX_BATCH, MAX_DESCRIPTION, MAX_REFERENCE
from kasir.payments.mutations import STATUSES as MUTATION_STATUSES
from kasir.payments.stats import PERIODS
from kasir.sources import automation
from kasir.sources.notifications import MAX_CLIENT_ID, MAX_ITEMS, MAX_TEXT
from kasir.sources.notifications import MAX_TITLE as MAX_NOTIFICATION_TITLE
from kasir.sources.registry import MAX_APPS, MAX_NAME, MAX_PACKAGE
from kasir.store.orders import STATUSES as ORDER_STATUSES

# What needs no API key: probes, QR images, and the buyer's side (the invoice link is the key).
PUBLIC_PATHS = frozenset({"/health", "/metrics", "/qr.png", "/qr.svg", "/pay", "/pay/status", "/forward.py"})
PUBLIC_PREFIXES = ("/download/", "/media/")
# Answered without the database, so never with its 503.
_NO_DATABASE = frozenset({"/health", "/qr.png", "/qr.svg", "/forward.py"})

_JSON = "application/json"
_FORM = "application/x-www-form-urlencoded"
_MULTIPART = "multipart/form-data"
_SCHEMAS = "#/components/schemas/"

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every refusal, whatever the route: never an HTML page, never a stack trace.",
    "required": ["success", "error", "code"],
    "additionalProperties": False,
    "properties": {
        "success": {"const": False},
        "error": {"type": "string", "description": "What is wrong, for a person to read"},
        "code": {"type": "string", "description": "What is wrong, for a program: stable, e.g. invalid_parameter"},
        "field": {"type": "string", "description": "The input at fault (items.0.price), when one is"},
    },
}
# Kasir's own success answers; each route's summary says what else they hold.
SUCCESS_SCHEMA: dict[str, Any] = {"type": "object", "required": ["success"], "properties": {"success": {"const": True}}}

# --- text ---------------------------------------------------------------------------------------
# Every text a request carries is refused with a C0 control character other than tab, LF and
# CR in it (kasir.api.body): every string of the document says so, in its pattern.
_C0 = r"\x00-\x08\x0b\x0c\x0e-\x1f"
TEXT = rf"^[^{_C0}]*$"
# Python's whitespace (str.isspace, re's \s), spelled out: ECMA-262's \s, which validators of the
# document use, is another set (it has U+FEFF, not U+0085 or U+001C-U+001F).
_SPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_WS = r"[\t\n\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*"  # what strip() takes off (no C0)
NONBLANK = rf"^{_WS}[^{_SPACE}{_C0}][^{_C0}]*$"  # what is left after str.strip() is not empty
_VISIBLE = rf"[^{_SPACE}{_C0}]"


# Any JSON whose strings (keys too) hold no control character: what a body may carry in fields
# that a route ignores.
JSON_VALUE: dict[str, Any] = {
    "anyOf": [
        {"type": ["null", "boolean", "number"]},
        {"type": "string", "pattern": TEXT},
        {"type": "array", "items": {"$ref": "#/components/schemas/JsonValue"}},
        {
            "type": "object",
            "propertyNames": {"pattern": TEXT},
            "additionalProperties": {"$ref": "#/components/schemas/JsonValue"},
        },
    ]
}
# What a multipart body may carry in the fields a route ignores: anything but text with a control
# character. A list is sent as one part per item; any other value that is not text as its JSON,
# where a control character arrives escaped.
_MULTIPART_VALUE: dict[str, Any] = {
    "type": ["null", "boolean", "number", "string", "array", "object"],
    "pattern": TEXT,
    "items": {"pattern": TEXT},
}


def stripped(max_length: int, *, blank: bool = True) -> str:
    """Text of at most ``max_length`` characters once str.strip() took the spaces around it off,
    as pydantic's str_strip_whitespace checks it (the length in the pattern: a maxLength would
    count the spaces too). ``blank``: nothing but spaces is allowed."""
    inner = _VISIBLE if max_length == 1 else rf"{_VISIBLE}(?:[^{_C0}]{{0,{max_length - 2}}}{_VISIBLE})?"
    return rf"^{_WS}(?:{inner}){'?' if blank else ''}{_WS}$"


def exactly(core: str, max_length: int, *, blank: bool = True) -> dict[str, Any]:
    """A string that is ``core`` (a pattern that neither starts nor ends with a space, so that
    stripping leaves it as it is and maxLength counts what the model counts); ``blank``: or "",
    taken as not given."""
    return _string(rf"^(?:{core})$" + ("|^$" if blank else ""), maxLength=max_length)


def choice(values: Any, *, empty: bool = False) -> str:
    """One of ``values`` once stripped (a pydantic model with str_strip_whitespace)."""
    words = "|".join(re.escape(value) for value in values)
    return rf"^(?:{_WS}(?:{words}){_WS}){'?' if empty else ''}$"


def _ci(word: str) -> str:
    """``word`` in any letter case, for the patterns (ECMA-262 has no inline ``(?i)``)."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in word)


def _string(pattern: str = TEXT, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "pattern": pattern, **extra}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _enum(values: Any, *, empty: bool = False) -> dict[str, Any]:
    """One of ``values``; ``empty``: or "", which the check takes as not given."""
    return {"type": "string", "enum": [*values, *([""] if empty else [])]}


def _without_null(schema: Any) -> Any:
    if isinstance(schema, dict):
        if "anyOf" in schema:
            options = [_without_null(option) for option in schema["anyOf"] if option.get("type") != "null"]
            rest = {key: _without_null(value) for key, value in schema.items() if key != "anyOf"}
            return {**rest, **(options[0] if len(options) == 1 else {"anyOf": options})}
        return {key: _without_null(value) for key, value in schema.items() if not (key == "default" and value is None)}
    if isinstance(schema, list):
        return [_without_null(item) for item in schema]
    return schema


# --- numbers --------------------------------------------------------------------------------------


def _same_length(low: str, high: str) -> list[str]:
    """Regex alternatives for the digit strings from ``low`` to ``high``, both of one length."""
    if low == high:
        return [low]
    if len(low) == 1:
        return [f"[{low}-{high}]"]
    if low[0] == high[0]:
        return [low[0] + rest for rest in _same_length(low[1:], high[1:])]
    width = len(low) - 1
    found: list[str] = []
    first, last = int(low[0]), int(high[0])
    if low[1:] != "0" * width:
        found += [low[0] + rest for rest in _same_length(low[1:], "9" * width)]
        first += 1
    tail: list[str] = []
    if high[1:] != "9" * width:
        tail = [high[0] + rest for rest in _same_length("0" * width, high[1:])]
        last -= 1
    if first <= last:
        found.append(f"[{first}-{last}][0-9]{{{width}}}")
    return found + tail


def digits_between(low: int, high: int, *, max_digits: int, min_digits: int = 1) -> str:
    """A regex for the whole numbers ``low``..``high`` (``low`` >= 1) written in at most
    ``max_digits`` digits, leading zeros allowed: what ``int()`` of the text is checked against.
    ``min_digits``: and in at least that many (unix seconds are told from a date by their 9)."""
    alternatives = []
    for width in range(len(str(low)), len(str(high)) + 1):
        start, stop = max(low, 10 ** (width - 1)), min(high, 10**width - 1)
        if width <= max_digits:
            numbers = "|".join(_same_length(str(start), str(stop)))
            alternatives.append(f"0{{{max(min_digits - width, 0)},{max_digits - width}}}(?:{numbers})")
    return "|".join(alternatives)


def _whole(low: int, high: int, *, max_digits: int = 15, signed: bool = True) -> dict[str, Any]:
    """An integer in ``low``..``high`` as ``money.whole_rupiah`` and ``schemas.whole_number``
    read one: a JSON integer, or its digits as text (a form's, a PHP client's)."""
    numbers = [digits_between(max(low, 1), high, max_digits=max_digits)] if high >= 1 else []
    if low <= 0:
        numbers.append(f"{'-?' if signed else ''}0{{1,{max_digits}}}")
    text = rf"^{_WS}(?:{'|'.join(numbers)}){_WS}$"
    return {"anyOf": [{"type": "integer", "minimum": low, "maximum": high}, _string(text)]}


def _lax_int(low: int, high: int) -> dict[str, Any]:
    """A pydantic ``int`` field in lax mode: a JSON integer, its digits as text (with a sign,
    spaces around), or a boolean (True is 1)."""
    text = rf"^{_WS}\+?(?:{digits_between(max(low, 1), high, max_digits=19)}){_WS}$"
    options: list[dict[str, Any]] = [{"type": "integer", "minimum": low, "maximum": high}, _string(text)]
    booleans = [value for value in (False, True) if low <= int(value) <= high]
    if booleans:
        options.append({"enum": booleans})
    return {"anyOf": options}


# A pydantic ``bool`` in lax mode.
_LAX_BOOL_WORDS = ("true", "false", "yes", "no", "on", "off", "t", "f", "y", "n", "1", "0")
LAX_BOOL = {
    "anyOf": [
        {"type": "boolean"},
        {"enum": [0, 1]},
        _string("^(?:" + "|".join(_ci(word) for word in _LAX_BOOL_WORDS) + ")$"),
    ]
}
# ``inputs.boolean``: a bayar.gg flag, as JSON or as PHP and jQuery send it ("" is false).
_FLAG_WORDS = ("true", "false", "yes", "no", "on", "off", "1", "0")
FLAG = {
    "anyOf": [
        {"type": "boolean"},
        {"enum": [0, 1]},
        _string(f"^{_WS}(?:" + "|".join(_ci(word) for word in _FLAG_WORDS) + f")?{_WS}$"),
    ]
}
_TRUE = {"anyOf": [{"const": True}, {"const": 1}, _string(f"^{_WS}(?:{_ci('true')}|{_ci('yes')}|{_ci('on')}|1){_WS}$")]}
_FALSE = {
    "anyOf": [{"const": False}, {"const": 0}, _string(f"^{_WS}(?:{_ci('false')}|{_ci('no')}|{_ci('off')}|0)?{_WS}$")]
}
# ``inputs.optional_id``: a positive id, as a number or its digits; "" or null for none.
ID = {
    "anyOf": [
        {"type": "integer", "minimum": 1, "maximum": MAX_ID},
        _string(rf"^(?:{_WS}(?:{digits_between(1, MAX_ID, max_digits=15)}){_WS})?$"),
        {"type": "null"},
    ]
}
_PAGE = _string(rf"^{_WS}(?:{digits_between(1, 999_999_999, max_digits=9)})?{_WS}$")  # schemas.query_count
_OFFSET = _string(rf"^{_WS}(?:0{{1,9}}|{digits_between(1, 999_999_999, max_digits=9)})?{_WS}$")
_MUTATION_PAGE = _string(rf"^(?:0*(?:{digits_between(1, 999_999_999, max_digits=9)}))?$")  # routes.mutations._page

# --- the shapes of particular fields --------------------------------------------------------------
# The characters that NFKC turns into one of /?#@: (U+2100 is "a/c", U+FF1F a "?"): urlsplit refuses
# a host with one (ValueError), as a host that means something else once an IDNA client reads it.
# Listed, since ECMA-262 knows no NFKC; tests/unit/api/test_openapi.py checks the list against
# unicodedata.
NFKC_DELIMITERS = (
    r"\u2047-\u2049\u2100\u2101\u2105\u2106\u2a74\ufe13\ufe16\ufe55\ufe56\ufe5f\ufe6b\uff03\uff0f\uff1a\uff1f\uff20"
)
_NETLOC_OFF = rf"{_SPACE}{_C0}{NFKC_DELIMITERS}/?#@\[\]"
# http_url(): an http or https URL with a host (then the SSRF guard's 422 for where it points).
URL_CORE = (
    rf"{_ci('http')}[sS]?://(?:[^{_NETLOC_OFF}]*@)?[^{_NETLOC_OFF}:]+"
    rf"(?::[^{_NETLOC_OFF}]*)?(?:[/?#][^{_SPACE}{_C0}]*)?"
)
_EMAIL = rf"[^@{_SPACE}{_C0}]+@[^@{_SPACE}{_C0}]+\.[^@{_SPACE}{_C0}]+"  # schemas._EMAIL_RE
_PHONE = r"\+?[0-9()-](?:[0-9 ()-]{4,18})[0-9()-]"  # schemas._PHONE_RE, once stripped


def indonesian_phone() -> str:
    """kasir.phone.normalise: separators anywhere, an optional + or 00, then 62 (and a 0, a
    common slip) or 0 and the national number, or the mobile number alone: a mobile number is
    8 and 8-11 digits, a fixed line 7-11 digits that do not start with 0 or 8. Separators are
    written between digits here (any number are taken; two are plenty), so that the number
    neither starts nor ends with a space."""
    sep = rf"(?:{_WS[:-1]}|[-().]){{0,2}}"
    digit = sep + "[0-9]"
    mobile = f"8(?:{digit}){{8,11}}"
    fixed = f"[1-79](?:{digit}){{6,10}}"
    national = f"{sep}(?:{mobile}|{fixed})"
    plain = f"(?:62(?:{sep}0)?{national}|0{national}|{mobile})"
    return rf"\(?(?:(?:[+]|00){sep})?{plain}\)?"


# schemas.parse_time: unix seconds, or an ISO 8601 time (RFC 3339 is one).
_MOMENT = {
    "anyOf": [
        _string(rf"^{_WS}(?:0{{1,12}}|{digits_between(1, 253_402_300_799, max_digits=12)}){_WS}$"),
        {"type": "string", "format": "date-time"},
    ]
}
_EVENT_FILTERS = sorted(EVENT_TYPES | {name.split(".")[0] + ".*" for name in EVENT_TYPES})
# dispatch.header_problem, on names and values the model stripped.
_CLIENT_HEADERS = "|".join(_ci(name) for name in sorted(CLIENT_HEADERS))
_HEADER_NAME = rf"^{_WS}(?!(?:{_CLIENT_HEADERS}){_WS}$)[A-Za-z0-9-]{{1,64}}{_WS}$"
_HEADER_VALUE = exactly(r"[\x21-\x7e](?:[\x20\x09\x21-\x7e]*[\x21-\x7e])?", HEADER_VALUE_LIMIT)

# --- request bodies --------------------------------------------------------------------------------
# The pydantic models the routes check bodies with; their schemas go to components under their
# names, corrected by _model_schemas.
BODY_MODELS: tuple[type[BaseModel], ...] = (
    CreatePaymentBody,
    StoreOrderBody,
    OrderItemBody,
    OrderStepBody,
    EndpointBody,
    WebhookSettingsBody,
    SampleEventBody,
    RecoverBody,
    CallbackUrlBody,
)


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": _SCHEMAS + name}


def _object(
    properties: dict[str, Any], required: tuple[str, ...] = (), *, closed: bool = False, **extra: Any
) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    schema |= {key.rstrip("_"): value for key, value in extra.items()}  # not_: "not", a keyword
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


def _body(
    json_schema: dict[str, Any], form_schema: dict[str, Any] | None = None, *, required: bool = True
) -> dict[str, Any]:
    """A request body: JSON only, or (``form_schema`` given) JSON and a form, as bayar.gg's
    clients send both (PHP arrays, jQuery); a form has no null, so its schema has none. Multipart
    is accepted wherever a form is, and documented where it is needed (uploads): any JSON value
    put in a multipart text field reaches the route as its text, so its schema would have to
    allow everything there."""
    content = {_JSON: {"schema": json_schema}}
    if form_schema is not None:
        content[_FORM] = {"schema": _without_null(form_schema)}
    return {"required": required, "content": content}


_NOTIFY = {**FLAG, "default": True, "description": "Message the buyer on WhatsApp"}
_QRIS_SOURCE = {
    "qris": _nullable(_string(description="The QRIS string (send one of qris, image, image_url)")),
    "image": _nullable(_string(description="A QR image in base64 (a data: URL too), or a file in multipart")),
    "image_url": _nullable(_string(rf"^{_WS}{URL_CORE}{_WS}$", description="The URL of a QR image, fetched by Kasir")),
}
# Exactly one of them given (null and "" are not given).
_ONE_QRIS_SOURCE = [
    {"required": [name], "properties": {name: {"type": "string", "minLength": 1}}} for name in _QRIS_SOURCE
]
_QRIS_INFO = _object(_QRIS_SOURCE, oneOf=_ONE_QRIS_SOURCE)


def _convert_body(settings: Settings) -> dict[str, Any]:
    """qris-convert's body: the amount to embed (up to the own-channel ceiling) and the QRIS, by
    one of its three sources (in multipart, which _body leaves out, the image may be a file)."""
    nominal = {**_whole(1, settings.max_amount_own_channel), "description": "Rupiah to embed"}
    schema = _object({"nominal": nominal, **_QRIS_SOURCE}, ("nominal",), oneOf=_ONE_QRIS_SOURCE)
    return _body(schema, schema)


_CONTENT = _object(
    {
        "title": _string(stripped(MAX_TITLE, blank=False), description=f"At most {MAX_TITLE} characters"),
        "type": {**_enum(CONTENT_TYPES), "default": "text"},
        "content": _string(NONBLANK, maxLength=MAX_BODY, description="What the buyer sees once paid"),
    },
    ("title", "content"),
    # A link is shown as <a href> on the pay page: an http(s) URL and nothing else.
    anyOf=[
        {"properties": {"type": {"enum": ["text", "license_key"]}}},
        {
            "required": ["type"],
            "properties": {"type": {"const": "link"}, "content": _string(rf"^{_WS}{URL_CORE}{_WS}$")},
        },
    ],
)
_COMPLETE = _object(
    {
        "order_number": _string(NONBLANK, examples=["WA260329-A1B2"]),
        "status": {"anyOf": [_enum(["completed", "cancelled"], empty=True), {"type": "null"}], "default": "completed"},
        "notify": _NOTIFY,
    },
    ("order_number",),
)
_ASSIGN = _object(
    {
        "invoice_id": _string(NONBLANK, description="The payment the credit pays"),
        "invoice": _string(NONBLANK, description="The same, by check-payment's name for it"),
    },
    anyOf=[{"required": ["invoice_id"]}, {"required": ["invoice"]}],
)
# payments.mutations.parse_credit. occurred_at: unix seconds or a time from 2001 (a time in 2000
# may be 1999 in UTC, and 2000 is the earliest a credit can have); not in the future, which no
# document can say.
_TIME = (
    r"(?:200[1-9]|20[1-9][0-9])-(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])[T ](?:[01][0-9]|2[0-3]):[0-5][0-9]"
    r"(?::[0-5][0-9](?:\.[0-9]{1,6})?)?(?:Z|[+-](?:0[0-9]|1[0-3]):[0-5][0-9])?"
)
_UNIX = (946_684_800, 253_402_300_799)  # 2000-01-01 to 9999-12-31
_CREDIT = _object(
    {
        "channel": _enum(METHODS),
        "amount": {**_whole(1, MAX_CREDIT), "description": "Whole rupiah"},
        "reference": {
            "anyOf": [_string(stripped(MAX_REFERENCE, blank=False)), {"type": "integer"}],
            "description": "The provider's id of the credit: printable text",
        },
        "occurred_at": {
            "anyOf": [
                {"type": "integer", "minimum": _UNIX[0], "maximum": _UNIX[1]},
                _string(rf"^{_WS}(?:{digits_between(*_UNIX, max_digits=12)}){_WS}$|^{_WS}{_TIME}{_WS}$"),
                {"enum": ["", None]},
            ],
            "description": "Unix seconds, ISO 8601, or 'YYYY-MM-DD HH:MM:SS' in WIB; default: now",
        },
        "description": _nullable(_string(maxLength=MAX_DESCRIPTION)),
    },
    ("channel", "amount", "reference"),
    # With a "mutations" key the object is a batch, not a credit.
    not_={"required": ["mutations"]},
)
_BATCH = {
    "oneOf": [
        _CREDIT,
        {"type": "array", "items": _CREDIT, "minItems": 1, "maxItems": MAX_BATCH},
        _object(
            {"mutations": {"type": "array", "items": _CREDIT, "minItems": 1, "maxItems": MAX_BATCH}}, ("mutations",)
        ),
    ]
}
# Payment sources (kasir.sources): an Android package to the channel its credits land on.
_PACKAGE = r"^[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)+$"
_APPS = {
    "type": "object",
    "minProperties": 1,
    "maxProperties": MAX_APPS,
    "propertyNames": {"pattern": _PACKAGE, "maxLength": MAX_PACKAGE},
    "additionalProperties": _enum(METHODS),
    "description": "Each app's package to the channel its credits land on",
    "examples": [{"com.gojek.gopaymerchant": "gopay_qris", "id.co.bri.brimo": "qris_user"}],
}
_SOURCE_NAME = _string(stripped(MAX_NAME, blank=False), description="What the owner calls the phone")
_SOURCE = _object({"name": _SOURCE_NAME, "apps": _APPS}, ("name", "apps"))
_SOURCE_CHANGE = _object({"name": _SOURCE_NAME, "apps": _APPS}, closed=True, minProperties=1)
# One notification; a malformed one is answered ``invalid`` on its own, so the batch's items may
# be anything (kasir.sources.notifications).
_NOTIFICATION = _object(
    {
        "package": _string(_PACKAGE, maxLength=MAX_PACKAGE),
        "title": _nullable(_string(maxLength=MAX_NOTIFICATION_TITLE)),
        "text": _nullable(_string(maxLength=MAX_TEXT)),
        "big_text": _nullable(_string(maxLength=MAX_TEXT)),
        "posted_at": {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "description": "Unix milliseconds, or ISO 8601 (WIB without an offset)",
        },
        "id": {"anyOf": [_string(maxLength=MAX_CLIENT_ID), {"type": "integer"}]},
    },
    ("package", "posted_at"),
)
_NOTIFICATIONS = {
    "anyOf": [
        _NOTIFICATION,
        {"type": "array", "minItems": 1, "maxItems": MAX_ITEMS, "items": {"anyOf": [_NOTIFICATION, _ref("JsonValue")]}},
        _object({"notifications": {"type": "array", "minItems": 1, "maxItems": MAX_ITEMS}}, ("notifications",)),
    ]
}
_HEARTBEAT = _object(
    {
        "forwarder": _string(maxLength=100, description="What the phone runs, e.g. kasir-forward/1.0"),
        "queued": {"type": "integer", "minimum": 0, "description": "Notifications waiting on the phone"},
        "oldest_queued_at": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
    }
)
_QRISHOOK = _object(
    {"event_id": _string(), "notification": {"type": "object"}, "payment": {"type": "object"}},
    ("notification",),
    description="QRIS Hook's body as the app sends it",
)
_MOOTA = {"type": "array", "minItems": 1, "maxItems": MAX_BATCH, "items": {"type": "object"}}
_TEXT_BODY = {
    "required": True,
    "content": {
        automation.CONTENT_TYPE: {
            "schema": {"type": "string", "description": "The template GET /v1/sources/{source_id} shows, filled in"}
        }
    },
}
_NOTIFICATION_ASSIGN = _object(
    {
        "invoice_id": _string(NONBLANK, description="The payment the notification pays"),
        "invoice": _string(NONBLANK, description="The same, by check-payment's name for it"),
    },
    anyOf=[{"required": ["invoice_id"]}, {"required": ["invoice"]}],
)
# --- payment links (kasir.links.fields, docs/links.md) ----------------------------------------------
# "" or spaces only, as null: a field not given (fields._absent).
_BLANK = _string(rf"^{_WS}$")
# str.isprintable() refuses, besides the C0 controls: tab, LF, CR, DEL and the C1 controls, the line
# and paragraph separators, and every space but " " (Zs). Those are listed here; the format,
# private-use and unassigned characters it refuses too depend on the Unicode version, and are not.
_UNPRINTABLE = rf"{_C0}\t\n\r\x7f-\x9f\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


def one_line(max_length: int) -> str:
    """A title: one line of printable text, at most ``max_length`` characters and not empty once
    str.strip() took the spaces around it off (fields._title)."""
    inner, edge = f"[^{_UNPRINTABLE}]", f"[^{_UNPRINTABLE} ]"
    text = edge if max_length == 1 else rf"{edge}(?:{inner}{{0,{max_length - 2}}}{edge})?"
    return rf"^{_WS}{text}{_WS}$"


def _given_or_not(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, _BLANK, {"type": "null"}]}


def _uses_from(low: int) -> dict[str, Any]:
    """fields._uses: a JSON integer, or ASCII digits (any number of leading zeros) with spaces around."""
    text = rf"^{_WS}0*(?:{digits_between(low, MAX_USES, max_digits=len(str(MAX_USES)))}){_WS}$"
    return {"anyOf": [{"type": "integer", "minimum": low, "maximum": MAX_USES}, _string(text)]}


# An expiry is shown in WIB (clock.to_wire), so it is at most 9999-12-31 23:59:59 WIB.
LAST_EXPIRY = 253_402_300_799 - 7 * 3600
_FIRST_MOMENT = -62_135_596_800  # 0001-01-01 UTC, the first instant Python has
_YEAR = digits_between(2, 9998, max_digits=4, min_digits=4)
_MONTH_DAY = r"(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31"
_HOUR = r"(?:[01][0-9]|2[0-3])"
# clock.parse_moment's ISO 8601: a date, T or a space, the hour with or without minutes, seconds
# and a fraction; an offset (without one: WIB). Years 2 to 9998 and days up to 28 in February: a
# subset, so that no offset carries a time out of what Python holds, and no pattern counts leap years.
_ISO_MOMENT = (
    rf"(?:{_YEAR})-(?:{_MONTH_DAY})[T ]{_HOUR}(?::[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{{1,6}})?)?)?"
    rf"(?:Z|[+-]{_HOUR}(?::?[0-5][0-9])?)?"
)


def _expiry(*, form: bool) -> dict[str, Any]:
    """fields._moment: unix seconds (a JSON integer, or 9 to 12 digits) or an ISO 8601 time. A
    form's integer arrives as its digits, which must be 9 to 12 of them, without a sign."""
    seconds = digits_between(1, LAST_EXPIRY, max_digits=12, min_digits=9)
    text = _string(rf"^{_WS}(?:0{{9,12}}|{seconds}|{_ISO_MOMENT}){_WS}$")
    low = 10**8 if form else _FIRST_MOMENT
    return {"anyOf": [{"type": "integer", "minimum": low, "maximum": LAST_EXPIRY}, text]}


def _link_fields(settings: Settings, *, form: bool, new: bool) -> dict[str, Any]:
    money = _given_or_not(_whole(settings.min_amount, max(m.max_amount(settings) for m in METHODS.values())))

    def default(value: Any) -> dict[str, Any]:
        return {"default": value} if new else {}  # a change's default is the link's value

    return {
        "title": _string(one_line(MAX_LINK_TITLE), description="What the buyer pays for: one line"),
        "description": _nullable(_string(stripped(MAX_LINK_DESCRIPTION), description="Shown on the link's page")),
        "amount": {**money, "description": "A fixed price, in whole rupiah"},
        "amount_min": {**money, "description": "The buyer chooses the amount, from this ..."},
        "amount_max": {**money, "description": "... to this (not below amount_min)"},
        "reusable": {**FLAG, **default(True), "description": "false: one payment, for one buyer"},
        "max_paid_uses": {
            **_given_or_not(_uses_from(1)),
            "description": "The uses held at once (payments paid, or pending and not expired); none: no cap",
        },
        "expires_at": {
            **_given_or_not(_expiry(form=form)),
            "description": "In the future: unix seconds, or ISO 8601 (WIB without an offset)",
        },
        "redirect_url": {
            **_given_or_not(_string(rf"^{_WS}(?:{URL_CORE}){_WS}$", maxLength=MAX_LINK_URL)),
            "description": "Where the pay page sends the buyer once paid (never fetched by Kasir)",
        },
        "payment_method": {
            **_given_or_not(_enum(METHODS)),
            **default("qris"),
            "description": "Available to the merchant now; none: qris",
        },
        "file_id": {**ID, "description": "An active digital file of yours, given to the buyer once paid"},
        "content_id": {**ID, "description": "An active hidden content of yours, revealed once paid"},
        "product_image_id": {**ID, "description": "An active product photo of yours, shown on the page"},
        "active": {**FLAG, **default(True), "description": "false: the page takes no buyer"},
    }


def _link_rules(settings: Settings, *, new: bool) -> list[dict[str, Any]]:
    """What fields.resolve checks of the fields together, as far as the body alone decides it. A
    change is checked with the link it changes (a price, method or use not sent is the link's),
    so of a change only what holds whatever the link is."""
    every = max(m.max_amount(settings) for m in METHODS.values())

    def given(*names: str) -> dict[str, Any]:
        return {"required": list(names), "properties": {name: _whole(settings.min_amount, every) for name in names}}

    def method(ids: list[str]) -> dict[str, Any]:
        sent = {"required": ["payment_method"], "properties": {"payment_method": _enum(ids)}}
        if "qris" not in ids:
            return sent
        # Sent empty, the method is qris; not sent, a new link's is qris and a change keeps the link's.
        empty = {
            "required": ["payment_method"],
            "properties": {"payment_method": {"anyOf": [_BLANK, {"type": "null"}]}},
        }
        return {"anyOf": [sent, empty, *([{"not": {"required": ["payment_method"]}}] if new else [])]}

    # Each amount sent within its method's range (as create-payment's: the platform QRIS has its own
    # ceiling, KASIR_MAX_AMOUNT_QRIS).
    ceilings: list[dict[str, Any]] = [] if new else [{"not": {"required": ["payment_method"]}}]
    for ceiling in sorted({m.max_amount(settings) for m in METHODS.values()}):
        ids = [m.id for m in METHODS.values() if m.max_amount(settings) == ceiling]
        within = {name: _given_or_not(_whole(settings.min_amount, ceiling)) for name in PRICE_FIELDS}
        ceilings.append({"allOf": [method(ids), {"properties": within}]})
    rules: list[dict[str, Any]] = [
        {"anyOf": ceilings},
        # A fixed price or the buyer's choice, not both (amount_conflict).
        {"not": {**given("amount"), "anyOf": [given("amount_min"), given("amount_max")]}},
        # A single-use link has one use (single_use_cap).
        {
            "not": {
                "required": ["reusable", "max_paid_uses"],
                "properties": {"reusable": _FALSE, "max_paid_uses": _uses_from(2)},
            }
        },
    ]
    if new:
        # A price: the amount, or both bounds (missing_amount).
        rules.append({"anyOf": [given("amount"), given("amount_min", "amount_max")]})
    return rules


def _link_bodies(settings: Settings) -> dict[str, dict[str, Any]]:
    """POST /v1/links and PATCH /v1/links/{link_id}: the fields of docs/links.md, unknown ones
    refused (unknown_field). A change sends at least one (nothing_to_change)."""

    def body(*, form: bool, new: bool) -> dict[str, Any]:
        return _object(
            _link_fields(settings, form=form, new=new),
            ("title",) if new else (),
            closed=True,
            allOf=_link_rules(settings, new=new),
            **({} if new else {"minProperties": 1}),
            examples=[
                {"title": "Kopi Gayo 250 g", "amount": 85000, "max_paid_uses": 20} if new else {"max_paid_uses": 50}
            ],
        )

    return {
        f"POST {LINKS_PREFIX}": _body(body(form=False, new=True), body(form=True, new=True)),
        f"PATCH {LINKS_PREFIX}/{{link_id}}": _body(body(form=False, new=False), body(form=True, new=False)),
    }


# Request bodies of the routes that read theirs by hand and say nothing of it where they are
# declared (create-payment, the store order, mutations, uploads and qris-convert do, there; the
# body schemas here replace theirs, which predate the form variants and the text rules).
REQUEST_BODIES: dict[str, dict[str, Any]] = {
    "POST /api/create-payment.php": _body(_ref("CreatePaymentBody"), _ref("CreatePaymentForm")),
    "POST /v1/store/orders": _body(_ref("StoreOrderBody")),
    "PUT /v1/webhook-settings": _body(_ref("WebhookSettingsBody"), required=False),
    "POST /v1/endpoints": _body({"allOf": [_ref("EndpointBody")], "required": ["url"]}),
    "PATCH /v1/endpoints/{endpoint_id}": _body(_ref("EndpointBody"), required=False),
    "POST /v1/endpoints/{endpoint_id}/recover": _body(_ref("RecoverBody")),
    "POST /v1/endpoints/{endpoint_id}/test": _body(_ref("SampleEventBody"), required=False),
    "POST /callback_urls": _body(_ref("CallbackUrlBody")),
    "POST /v1/contents": _body(_CONTENT),
    "POST /api/qris-info.php": _body(_QRIS_INFO, _QRIS_INFO),
    "POST /v1/mutations": _body(_BATCH),
    "POST /v1/forwarders/{forwarder_id}/mutations": _body(_BATCH),
    "POST /api/wa-store-complete.php": _body(_COMPLETE, _COMPLETE),
    **{
        f"POST /v1/store/orders/{{order_number}}/{step}": _body(
            _object({"notify": _nullable(_NOTIFY)}, closed=True), required=False
        )
        for step in ("process", "complete", "cancel")
    },
    "POST /v1/store/orders/{order_number}/payment": _body(_ref("OrderStepBody"), required=False),
    "POST /v1/mutations/{mutation_id}/assign": _body(_ASSIGN),
    "POST /v1/sandbox/payments/{invoice}/pay": _body(
        _object({"amount": {**_whole(1, MAX_CREDIT), "description": "Default: the payment's final amount"}}),
        required=False,
    ),
    f"POST {SOURCES_PREFIX}": _body(_SOURCE),
    f"PATCH {SOURCES_PREFIX}/{{source_id}}": _body(_SOURCE_CHANGE),
    f"POST {SOURCES_PREFIX}/{{source_id}}/notifications": _body(_NOTIFICATIONS),
    f"POST {SOURCES_PREFIX}/{{source_id}}/heartbeat": _body(_HEARTBEAT, required=False),
    f"POST {SOURCES_PREFIX}/{{source_id}}/qrishook": _body(_QRISHOOK),
    f"POST {SOURCES_PREFIX}/{{source_id}}/automation": _TEXT_BODY,
    f"POST {SOURCES_PREFIX}/{{source_id}}/moota": _body(_MOOTA),
    f"POST {SOURCES_PREFIX}/{{source_id}}/notifications/{{notification_id}}/assign": _body(_NOTIFICATION_ASSIGN),
}

# --- query parameters --------------------------------------------------------------------------------
_ACTIVE_ONLY = {"active_only": FLAG}
_LIMIT = {"limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 50}}
_DATE = {"anyOf": [{"type": "string", "format": "date"}, {"const": ""}]}
# idempotency.check_key: 1-255 printable characters (a header is Latin-1; HTTP drops the spaces
# around it).
_PRINTABLE = r"\x21-\x7e\xa1-\xac\xae-\xff"
_IDEMPOTENCY_KEY = _string(rf"^[{_PRINTABLE}](?:[ {_PRINTABLE}]*[{_PRINTABLE}])?$", maxLength=255)
# Parameters the routes take as text and check by hand, with what the check accepts.
PARAMETER_SCHEMAS: dict[str, dict[str, dict[str, Any]]] = {
    "POST /api/create-payment.php": {"Idempotency-Key": _IDEMPOTENCY_KEY},
    "POST /v1/store/orders": {"Idempotency-Key": _IDEMPOTENCY_KEY},
    "GET /api/check-payment.php": {"invoice": _string(NONBLANK)},
    "GET /api/qris-info.php": {"image_url": _string(rf"^{_WS}{URL_CORE}{_WS}$|^$")},
    "GET /api/list-payments.php": {
        "status": _enum(PAYMENT_STATUSES, empty=True),
        "payment_method": _enum(METHODS, empty=True),
        "paid_via": _enum(METHODS, empty=True),
        "start_date": _DATE,
        "end_date": _DATE,
        "page": _PAGE,
        "limit": _PAGE,
    },
    "GET /api/get-statistics.php": {"period": _enum(PERIODS, empty=True)},
    "GET /api/wa-store-orders.php": {"status": _enum(ORDER_STATUSES, empty=True), "limit": _PAGE, "offset": _OFFSET},
    "GET /v1/mutations": {
        "matched": _enum(["true", "false", "1", "0"], empty=True),
        "status": _enum(MUTATION_STATUSES, empty=True),
        "channel": _enum(METHODS, empty=True),
        "page": _MUTATION_PAGE,
        "limit": _MUTATION_PAGE,
    },
    "GET /v1/events": {"type": _enum(sorted(EVENT_TYPES), empty=True), "since": {"anyOf": [_MOMENT, {"const": ""}]}}
    | _LIMIT,
    "GET /v1/deliveries": {"status": _enum(("pending", "succeeded", "failed"), empty=True)} | _LIMIT,
    **{f"GET {path}": _ACTIVE_ONLY for path in ("/v1/files", "/v1/contents", "/v1/images")},
    **{f"GET /api/list-{name}.php": _ACTIVE_ONLY for name in ("files", "contents", "images")},
    f"GET {LINKS_PREFIX}": {
        "active": FLAG,
        "limit": _string(rf"^{_WS}(?:{digits_between(1, MAX_LINKS, max_digits=9)})?{_WS}$"),
    },
    f"GET {LINKS_PREFIX}/{{link_id}}/payments": {"page": _PAGE, "limit": _PAGE},
    f"GET {SOURCES_PREFIX}/{{source_id}}/notifications": {
        "outcome": _enum(("credited", "ignored", "unparsed", "invalid"), empty=True),
        "limit": _string(rf"^(?:{digits_between(1, 100, max_digits=3)})?$"),
    },
}

# --- answers ---------------------------------------------------------------------------------------
# Statuses beyond the ones every route of its kind can answer (see _responses), with their codes.
_SSRF = ("invalid_url", "https_required", "unsafe_url", "url_unresolvable")
_ORDER_STEP = (
    "order_completed",
    "order_cancelled",
    "order_not_paid",
    "order_already_paid",
    "order_already_processing",
    "order_already_completed",
    "order_already_cancelled",
    "order_invalid_transition",
    "payment_pending",
)
_IMAGE_TOO_LARGE = ("payload_too_large", "image_too_large")
STATUSES: dict[str, dict[int, tuple[str, ...]]] = {
    "POST /api/create-payment.php": {
        403: ("subscription_inactive",),
        409: ("idempotency_key_reused", "unique_code_exhausted"),
        422: _SSRF,
    },
    "GET /api/check-payment.php": {404: ("payment_not_found",)},
    # With KASIR_METRICS_TOKEN set, a scraper sends it as a bearer token.
    "GET /metrics": {401: ("invalid_metrics_token",), 429: ("too_many_failed_authentications",)},
    "POST /v1/payments/{invoice}/cancel": {409: ("payment_not_pending",)},
    "GET /pay/status": {404: ("payment_not_found",)},
    "GET /download/{token}": {410: ("download_expired", "download_exhausted")},
    "PUT /v1/webhook-settings": {422: _SSRF},
    "POST /v1/endpoints": {422: _SSRF},
    "PATCH /v1/endpoints/{endpoint_id}": {422: _SSRF},
    "POST /callback_urls": {422: _SSRF},
    "GET /v1/deliveries": {404: ("endpoint_not_found",)},
    "POST /v1/deliveries/{delivery_id}/redeliver": {409: ("endpoint_disabled",)},
    "POST /v1/forwarders/{forwarder_id}/mutations": {401: ("missing_signature", "invalid_signature")},
    "GET /v1/forwarder": {404: ("forwarder_not_configured",)},
    "POST /v1/mutations/{mutation_id}/assign": {
        404: ("payment_not_found",),
        409: ("mutation_already_matched", "channel_mismatch", "payment_not_payable"),
    },
    "POST /v1/sandbox/payments/{invoice}/pay": {403: ("sandbox_test_mode_only",), 409: ("payment_not_pending",)},
    "POST /api/qris-convert.php": {413: _IMAGE_TOO_LARGE, 422: _SSRF},
    "GET /api/qris-info.php": {413: ("image_too_large",), 422: _SSRF},
    "POST /api/qris-info.php": {413: _IMAGE_TOO_LARGE, 422: _SSRF},
    "POST /v1/files": {413: ("file_too_large",)},
    "POST /v1/images": {413: ("image_too_large",)},
    "GET /api/wa-store-orders.php": {404: ("order_not_found",)},
    "POST /api/wa-store-complete.php": {404: ("order_not_found",), 409: _ORDER_STEP},
    "POST /v1/store/orders": {
        403: ("subscription_inactive",),
        409: ("idempotency_key_reused", "order_number_exhausted", "unique_code_exhausted"),
    },
    **{f"POST /v1/store/orders/{{order_number}}/{step}": {409: _ORDER_STEP} for step in ("process", "complete")},
    "POST /v1/store/orders/{order_number}/cancel": {409: _ORDER_STEP},
    "POST /v1/store/orders/{order_number}/payment": {
        403: ("subscription_inactive",),
        409: (*_ORDER_STEP, "unique_code_exhausted"),
    },
    **{operation: {401: ("missing_credentials", "invalid_credentials")} for operation in TOKEN_OPERATIONS},
    f"GET {SOURCES_PREFIX}/{{source_id}}/notifications": {404: ("notification_not_found",)},
    # A new link's slug is drawn at random (kasir.links.slugs); five collisions in a row say so.
    f"POST {LINKS_PREFIX}": {403: ("subscription_inactive",), 409: ("slug_exhausted",)},
    f"PATCH {LINKS_PREFIX}/{{link_id}}": {403: ("subscription_inactive",)},
    # before: a link id that names none of the caller's links.
    f"GET {LINKS_PREFIX}": {404: ("link_not_found",)},
    f"POST {SOURCES_PREFIX}/{{source_id}}/notifications/{{notification_id}}/reparse": {
        409: ("already_credited", "not_reparsable")
    },
    f"POST {SOURCES_PREFIX}/{{source_id}}/notifications/{{notification_id}}/assign": {
        404: ("payment_not_found",),
        409: ("already_credited", "mutation_already_matched", "channel_mismatch", "payment_not_payable"),
    },
}
# What a 404 on a path with an id says, by the parameter.
_NOT_FOUND = {
    "invoice": "payment_not_found",
    "endpoint_id": "endpoint_not_found",
    "hook_id": "endpoint_not_found",
    "delivery_id": "delivery_not_found",
    "forwarder_id": "forwarder_not_found",
    "mutation_id": "mutation_not_found",
    "file_id": "file_not_found",
    "content_id": "content_not_found",
    "image_id": "image_not_found",
    "order_number": "order_not_found",
    "token": "download_not_found",
    "name": "image_not_found",
    "source_id": "source_not_found",
    "notification_id": "notification_not_found",
    "link_id": "link_not_found",
}
# Answers that are not JSON.
MEDIA_TYPES: dict[str, dict[str, Any]] = {
    "GET /qr.png": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
    "GET /qr.svg": {"image/svg+xml": {"schema": {"type": "string"}}},
    "GET /media/{name}": {"image/webp": {"schema": {"type": "string", "format": "binary"}}},
    # The file as the merchant uploaded it, typed by its content (PDF, ZIP, …).
    "GET /download/{token}": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
    "GET /forward.py": {"text/x-python": {"schema": {"type": "string"}}},
}
# JSON answers that are not Kasir's {"success": true, ...}: the providers' own shapes.
_FOREIGN_SHAPES = frozenset({"POST /callback_urls", "POST /v1/report/hooks/{hook_id}/pings"})
_DESCRIPTIONS = {
    400: "Bad input: field names it, code says what is wrong with it",
    401: "No valid credentials: the API key (for a forwarder, the body's signature) is missing or wrong",
    403: "Not allowed to this key or merchant",
    404: "Nothing of yours by this name",
    409: "The request conflicts with the current state",
    410: "The link was good once and is not any more",
    413: "The body, or the image it carries or points to, is too large",
    415: "The body is not JSON, a form or multipart (see Content-Type)",
    422: "The URL is not one Kasir will send to or fetch from (its SSRF guard)",
    429: "Too many requests, for this API key or from this client address; retry after Retry-After",
    503: "Nothing was stored: the database is unreachable or its disk is full; retry after Retry-After",
}
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer", "minimum": 1}}}


def document(app: FastAPI, settings: Settings) -> dict[str, Any]:
    """The document, built once per app."""
    if app.openapi_schema is None:
        app.openapi_schema = build(app, settings)
    return app.openapi_schema


def build(app: FastAPI, settings: Settings) -> dict[str, Any]:
    schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
    components = schema.setdefault("components", {})
    components["securitySchemes"] = SECURITY_SCHEMES
    schemas = components.setdefault("schemas", {})
    # FastAPI's validation error shapes: its 422s are turned into 400 Errors (kasir.api.errors).
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Error"] = ERROR_SCHEMA
    schemas.update(_model_schemas(settings))
    bodies = {**REQUEST_BODIES, "POST /api/qris-convert.php": _convert_body(settings), **_link_bodies(settings)}
    seen: set[str] = set()
    for key, path, operation in _operations(schema):
        seen.add(key)
        if key in bodies:
            operation["requestBody"] = copy.deepcopy(bodies[key])
        _fix_parameters(key, operation)
        _fix_success(key, operation)
        generated = {status: answer for status, answer in operation["responses"].items() if status != "422"}
        operation["responses"] = {**generated, **_responses(key, path, operation)}
        if path.startswith(FORWARDERS_PREFIX) or key in TOKEN_OPERATIONS:
            # Signed with the forwarder's secret, or the source's token, instead of an API key.
            operation["security"] = []
        elif not _public(path):
            operation["security"] = [{name: []} for name in SECURITY_SCHEMES]
    # A table entry for an operation that is not there is a route renamed under it: fail loudly.
    stale = (set(REQUEST_BODIES) | set(PARAMETER_SCHEMAS) | set(STATUSES) | set(MEDIA_TYPES)) - seen
    if stale:
        raise RuntimeError(f"kasir.api.openapi describes operations the app does not have: {sorted(stale)}")
    _text_fields(schema)
    _refuse_control_characters(schema)
    return schema


def _text_fields(document: dict[str, Any]) -> None:
    """In a form or multipart body every field is text: any other JSON value a client builds it
    from arrives as its text. The fields a route ignores may be anything without a control
    character, then, and so may a multipart field that the route takes as any text."""
    schemas = document["components"]["schemas"]
    for _key, _path, operation in _operations(document):
        for media, content in operation.get("requestBody", {}).get("content", {}).items():
            if media not in (_FORM, _MULTIPART):
                continue
            schema = content["schema"]
            if "$ref" in schema:
                schema = schemas[schema["$ref"].removeprefix(_SCHEMAS)]
            if schema.get("additionalProperties") is not False:
                schema["additionalProperties"] = (
                    {"$ref": _SCHEMAS + "JsonValue"} if media == _FORM else copy.deepcopy(_MULTIPART_VALUE)
                )
            for field in schema.get("properties", {}).values() if media == _MULTIPART else ():
                if field.get("type") == "string" and not {"pattern", "enum", "format", "maxLength"} & set(field):
                    field.update(copy.deepcopy(_MULTIPART_VALUE))


def _operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            yield f"{method.upper()} {path}", path, operation


def _public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def _model_schemas(settings: Settings) -> dict[str, Any]:
    """The body models' JSON schemas, saying what their validators accept (the models declare
    ``int`` and ``bool``; the validators take text too) and what the services check after them."""
    found: dict[str, Any] = {}
    for model in BODY_MODELS:
        model_schema = model.model_json_schema(ref_template=_SCHEMAS + "{model}")
        found.update(model_schema.pop("$defs", {}))
        found[model.__name__] = model_schema

    def fields(model: str, /, **changes: dict[str, Any]) -> None:
        properties = found[model]["properties"]
        for field, schema in changes.items():
            old = properties[field]
            kept = {key: old[key] for key in ("default", "description", "examples") if key in old}
            properties[field] = {**schema, **kept}

    method = _nullable(_string(choice(METHODS, empty=True)))
    own_channels = [m.id for m in METHODS.values() if m.own_channel]
    fields(
        "CreatePaymentBody",
        amount=_whole(settings.min_amount, max(settings.max_amount_qris, settings.max_amount_own_channel)),
        description=_nullable(_string(stripped(1000))),
        customer_name=_nullable(_string(stripped(200))),
        customer_email=_nullable(exactly(_EMAIL, 254)),
        customer_phone=_nullable(exactly(_PHONE, 40)),
        callback_url=_nullable(exactly(URL_CORE, 2048)),
        redirect_url=_nullable(exactly(URL_CORE, 2048)),
        file_id=ID,
        content_id=ID,
        product_image_id=ID,
        payment_method=method,
        use_qris_converter=FLAG,
    )
    found["CreatePaymentBody"]["allOf"] = [
        # The platform QRIS has its own, lower ceiling (KASIR_MAX_AMOUNT_QRIS).
        {
            "anyOf": [
                {"required": ["payment_method"], "properties": {"payment_method": {"enum": own_channels}}},
                {"properties": {"amount": _whole(settings.min_amount, settings.max_amount_qris)}},
            ]
        },
        # OVO is paid by a transfer: there is no QRIS to convert.
        {
            "not": {
                "required": ["payment_method", "use_qris_converter"],
                "properties": {"payment_method": {"const": "ovo"}, "use_qris_converter": _TRUE},
            }
        },
    ]
    fields(
        "StoreOrderBody",
        customer_name=_string(stripped(200, blank=False)),
        customer_phone=exactly(indonesian_phone(), 40, blank=False),
        payment_method=method,
        notes=_nullable(_string(stripped(1000))),
        create_payment=FLAG,
        notify=FLAG,
    )
    found["StoreOrderBody"]["properties"]["items"]["items"] = _ref("OrderItemBody")
    fields(
        "OrderItemBody",
        name=_string(stripped(200, blank=False)),
        quantity=_whole(1, 10_000, max_digits=12, signed=False),
        price=_whole(0, 100_000_000),
    )
    fields("OrderStepBody", notify=_nullable(FLAG), payment_method=_nullable(_string(choice(METHODS))))
    fields(
        "EndpointBody",
        url=exactly(URL_CORE, 2048, blank=False),
        dialect=_nullable(_string(choice(DIALECTS))),
        description=_nullable(_string(stripped(500))),
        event_types=_nullable({"type": "array", "items": _string(choice(_EVENT_FILTERS))}),
        rate_limit=_nullable(_lax_int(1, 10_000)),
        fifo=_nullable(LAX_BOOL),
        headers=_nullable(
            {
                "type": "object",
                "propertyNames": {"pattern": _HEADER_NAME},
                "additionalProperties": _HEADER_VALUE,
            }
        ),
        enabled=_nullable(LAX_BOOL),
        expires_in=_nullable(_lax_int(60, 7 * 86400)),
    )
    fields(
        "WebhookSettingsBody",
        default_callback_url=_nullable(exactly(URL_CORE, 2048)),
        dialect=_nullable(_string(choice(DIALECTS))),
        event_types=_nullable({"type": "array", "items": _string(choice(_EVENT_FILTERS))}),
    )
    fields("SampleEventBody", event_type=_enum(SAMPLE_TYPES))
    fields("RecoverBody", since=_MOMENT)
    fields("CallbackUrlBody", url=exactly(URL_CORE, 2048, blank=False))
    # The form variant: a form has no null, and its fields are text whatever the JSON type.
    found["CreatePaymentForm"] = _without_null(found["CreatePaymentBody"])
    found["CreatePaymentForm"]["title"] = "CreatePaymentForm"
    return found


def _fix_parameters(key: str, operation: dict[str, Any]) -> None:
    overrides = dict(PARAMETER_SCHEMAS.get(key, {}))
    for parameter in operation.get("parameters", []):
        schema = parameter.setdefault("schema", {})
        # An optional parameter is absent or a value: FastAPI's "or null" cannot be sent in a URL.
        if not parameter.get("required") and "anyOf" in schema:
            kept = [option for option in schema.pop("anyOf") if option.get("type") != "null"]
            schema.update(kept[0] if len(kept) == 1 else {"anyOf": kept})
        if parameter["name"] in overrides:
            title = schema.get("title")
            schema.clear()
            schema.update({**overrides.pop(parameter["name"]), **({"title": title} if title else {})})
    if overrides:
        raise RuntimeError(f"{key} has no parameters {sorted(overrides)}")


def _fix_success(key: str, operation: dict[str, Any]) -> None:
    for status, response in operation["responses"].items():
        if not status.startswith("2") or "content" not in response:
            continue
        if key in MEDIA_TYPES:
            response["content"] = copy.deepcopy(MEDIA_TYPES[key])
        elif _JSON in response["content"] and key not in _FOREIGN_SHAPES:
            response["content"][_JSON]["schema"] = copy.deepcopy(SUCCESS_SCHEMA)


def _refuse_control_characters(document: dict[str, Any]) -> None:
    """Give every string of every request (parameters, bodies, the keys of open objects)
    without a pattern of its own the TEXT pattern: a control character in any of them is
    refused (kasir.api.body)."""
    schemas = document["components"]["schemas"]
    todo: list[Any] = [schema for name, schema in schemas.items() if name != "Error"]
    schemas["JsonValue"] = JSON_VALUE
    for _key, _path, operation in _operations(document):
        todo += [parameter.get("schema") for parameter in operation.get("parameters", [])]
        todo += [media["schema"] for media in operation.get("requestBody", {}).get("content", {}).values()]
    while todo:
        schema = todo.pop()
        if isinstance(schema, list):
            todo += schema
        elif isinstance(schema, dict):
            if schema.get("type") == "string" and not {"pattern", "enum", "const", "format"} & set(schema):
                schema["pattern"] = TEXT
            if schema.get("type") == "object" and schema.get("additionalProperties") is not False:
                # Fields the route ignores are parsed all the same: held to the same rule.
                schema.setdefault("propertyNames", {"pattern": TEXT})
                if schema.get("additionalProperties", True) is True:
                    schema["additionalProperties"] = {"$ref": _SCHEMAS + "JsonValue"}
            todo += [value for key, value in schema.items() if key not in ("enum", "const", "examples", "default")]


def _responses(key: str, path: str, operation: dict[str, Any]) -> dict[str, Any]:
    """The error answers of one operation: what every route of its kind can answer, and its own."""
    has_body = "requestBody" in operation
    path_ids = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
    bad = ["control_character"]  # in the path or the query string: refused before any route runs
    if operation.get("parameters") or has_body:
        bad += ["invalid_parameter", "missing_parameter"]
    if has_body:
        bad += ["invalid_json", "json_too_deep"]
    codes: dict[int, list[str]] = {400: bad}
    if not _public(path) and not path.startswith(FORWARDERS_PREFIX) and key not in TOKEN_OPERATIONS:
        codes[401] = ["missing_api_key", "invalid_api_key"]
    if not _public(path):
        # Every key, signature or token that fails counts against the client's address.
        codes[429] = (["rate_limited"] if 401 in codes else []) + ["too_many_failed_authentications"]
    elif path in THROTTLED_PATHS or path.startswith(THROTTLED_PREFIXES):
        codes[429] = ["rate_limited"]  # per client address
    if path_ids:
        codes[404] = [_NOT_FOUND[name] for name in path_ids]
    if has_body:
        codes[413] = ["payload_too_large"]
        codes[415] = ["unsupported_media_type"]
    if path not in _NO_DATABASE:
        codes[503] = ["database_unavailable", "storage_full"]
    for status, own in STATUSES.get(key, {}).items():
        codes.setdefault(status, []).extend(own)
    return {str(status): _error(status, codes[status]) for status in sorted(codes)}


def _error(status: int, codes: list[str]) -> dict[str, Any]:
    listed = ", ".join(dict.fromkeys(codes))
    extra = ", or the code of the check that refused the field" if status == 400 else ""
    response: dict[str, Any] = {
        "description": f"{_DESCRIPTIONS[status]} (code: {listed}{extra})",
        "content": {_JSON: {"schema": {"$ref": _SCHEMAS + "Error"}}},
    }
    if status in (429, 503):
        response["headers"] = copy.deepcopy(_RETRY_AFTER)
    return response
