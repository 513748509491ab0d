"""What the webhooks pages read, and how their forms become the API's bodies.

Every rule stays where the API keeps it: the forms are turned into the API's own parameters
(``EndpointBody``, ``WebhookSettingsBody``) and checked by the API's checks; the callback log is
``kasir.delivery.service``'s, scoped by the visitor's ``Principal``. What is here is only the
translation between HTML forms and those parameters, and how an attempt's request is shown.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, RowMapping

from kasir import dialects
from kasir.clock import WIB, parse_moment
from kasir.delivery import callback_log, dispatch, endpoints, service
from kasir.delivery.outbox import EVENT_TYPES, ORDER_EVENT_TYPES, PAYMENT_EVENT_TYPES
from kasir.delivery.queue import Job
from kasir.delivery.states import DeliveryStatus
from kasir.devtools.samples import SAMPLE_TYPES
from kasir.errors import InvalidRequest
from kasir.merchants.service import Principal

PAGE_SIZE = 25
# What the event-type checkboxes offer: each type, and the families the API also takes.
CHOOSABLE_EVENTS = (*PAYMENT_EVENT_TYPES, *ORDER_EVENT_TYPES, "source.silent", "source.recovered", "endpoint.disabled")
EVENT_FAMILIES = ("payment.*", "order.*", "source.*", "endpoint.*")
LOG_EVENT_TYPES = tuple(sorted(EVENT_TYPES))
DIALECTS = tuple(dialects.REGISTRY)
TEST_EVENT_TYPES = SAMPLE_TYPES
STATUSES = tuple(DeliveryStatus)
# The prefix of a checkbox naming one event type: "event:payment.paid".
EVENT_FIELD = "event:"


def _text(params: dict[str, Any], name: str) -> str:
    value = params.get(name)
    return value.strip() if isinstance(value, str) else ""


def _raw(params: dict[str, Any], name: str) -> str:
    value = params.get(name)
    return value if isinstance(value, str) else ""


def chosen_events(params: dict[str, Any]) -> list[str]:
    return sorted(key.removeprefix(EVENT_FIELD) for key in params if key.startswith(EVENT_FIELD))


def settings_params(params: dict[str, Any]) -> dict[str, Any]:
    """The settings form as ``WebhookSettingsBody``'s parameters (an empty URL clears it)."""
    return {
        "default_callback_url": _text(params, "default_callback_url") or None,
        "dialect": _text(params, "dialect") or None,
        "event_types": chosen_events(params),
    }


def parse_headers(text: str) -> dict[str, str]:
    """The custom-headers box, one ``Name: value`` a line, as the API's ``headers`` object (its
    rules, ``header_problem``, are checked by the service)."""
    headers: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise InvalidRequest(f"headers: line {number} is not 'Name: value'", field="headers", code="invalid_header")
        headers[name.strip()] = value.strip()
    return headers


def endpoint_params(params: dict[str, Any]) -> dict[str, Any]:
    """The endpoint form as ``EndpointBody``'s parameters. No event type ticked: every event (the
    API's null); an empty rate limit: unlimited."""
    chosen = chosen_events(params)
    rate = _text(params, "rate_limit")
    return {
        "url": _text(params, "url") or None,
        "dialect": _text(params, "dialect") or None,
        "description": _text(params, "description") or None,
        "event_types": chosen or None,
        "rate_limit": rate or None,
        "fifo": params.get("fifo") == "on",
        "headers": parse_headers(_raw(params, "headers")),
    }


def headers_text(row: RowMapping | dict[str, Any]) -> str:
    """An endpoint's custom headers as the form shows them. They are the merchant's own settings
    (the API's GET shows them too); the attempt log masks the credentials among them."""
    stored = json.loads(row["headers"]) if row["headers"] else {}
    return "\n".join(f"{name}: {value}" for name, value in stored.items())


def endpoint_form_values(row: RowMapping | None, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the endpoint form shows: what was just typed (after a refusal), else the endpoint."""
    if params is not None:
        return {
            "url": _text(params, "url"),
            "dialect": _text(params, "dialect") or dialects.DEFAULT,
            "description": _text(params, "description"),
            "events": set(chosen_events(params)),
            "rate_limit": _text(params, "rate_limit"),
            "fifo": params.get("fifo") == "on",
            "headers": _raw(params, "headers"),
        }
    if row is None:
        return {
            "url": "",
            "dialect": dialects.DEFAULT,
            "description": "",
            "events": set(),
            "rate_limit": "",
            "fifo": False,
            "headers": "",
        }
    return {
        "url": row["url"],
        "dialect": row["dialect"],
        "description": row["description"] or "",
        "events": set(json.loads(row["event_types"])) if row["event_types"] else set(),
        "rate_limit": "" if row["rate_limit"] is None else str(row["rate_limit"]),
        "fifo": bool(row["fifo"]),
        "headers": headers_text(row),
    }


def parse_wib(value: str | None, field: str) -> datetime | None:
    """A ``datetime-local`` field (``2026-04-16T12:25``), read in WIB; aware UTC."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        return parse_moment(text, naive=WIB)
    except ValueError:
        raise InvalidRequest(f"{field} must be a date and time (WIB)", field=field, code="invalid_time") from None


# --- the callback log -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogFilters:
    status: str = ""
    endpoint: str = ""
    event_type: str = ""
    since: str = ""
    until: str = ""

    @classmethod
    def from_query(cls, query: Any) -> LogFilters:
        def get(name: str) -> str:
            value = query.get(name)
            return value.strip() if isinstance(value, str) else ""

        filters = cls(get("status"), get("endpoint"), get("event_type"), get("since"), get("until"))
        if filters.status and filters.status not in STATUSES:
            raise InvalidRequest(f"status must be one of {', '.join(STATUSES)}", field="status")
        if filters.event_type and filters.event_type not in EVENT_TYPES:
            raise InvalidRequest(f"event type must be one of {', '.join(LOG_EVENT_TYPES)}", field="event_type")
        return filters

    def query(self) -> dict[str, str]:
        return {k: v for k, v in (("status", self.status), ("endpoint", self.endpoint),
                                  ("event_type", self.event_type), ("since", self.since),
                                  ("until", self.until)) if v}  # fmt: skip


@dataclass(frozen=True, slots=True)
class LogPage:
    rows: list[RowMapping]
    newer: str | None  # the cursor of the page newer than this one (after=…)
    older: str | None  # (before=…)
    endpoints: list[RowMapping]


def read_log(
    conn: Connection, caller: Principal, filters: LogFilters, *, before: str, after: str, size: int = PAGE_SIZE
) -> LogPage:
    """One page of the callback log, newest first, through the service's scoped query; the
    cursors are deliveries' public ids (another merchant's or mode's is a 404)."""
    endpoint_row = service.find_endpoint(conn, caller, filters.endpoint)["id"] if filters.endpoint else None
    before_id = service.find_delivery(conn, caller, before)["id"] if before else None
    after_id = service.find_delivery(conn, caller, after)["id"] if after and not before else None
    rows = service.list_deliveries(
        conn,
        caller,
        endpoint_id=endpoint_row,
        status=filters.status or None,
        limit=size + 1,
        event_type=filters.event_type or None,
        since=parse_wib(filters.since, "since"),
        until=parse_wib(filters.until, "until"),
        before=before_id,
        after=after_id,
    )
    if after_id is not None:
        more_newer = len(rows) > size
        rows = rows[-size:] if more_newer else rows
        newer = rows[0]["public_id"] if rows and more_newer else None
        older = rows[-1]["public_id"] if rows else None
    else:
        more_older = len(rows) > size
        rows = rows[:size]
        older = rows[-1]["public_id"] if rows and more_older else None
        newer = rows[0]["public_id"] if rows and before_id is not None else None
    return LogPage(rows, newer, older, service.list_endpoints(conn, caller))


# --- one delivery and its attempts -----------------------------------------------------------

# Renders a body the way the worker does, with a stand-in secret (a valid Standard Webhooks one):
# the bodies of the dialects do not depend on the secret, but for the signature some carry.
_STAND_IN_SECRET = "whsec_" + base64.b64encode(b"kasir-dashboard-stand-in-secret!").decode()
# Shown masked whatever the attempt log kept: every header that names a signature or a token.
_SIGNATURE_WORDS = ("signature", "token", "secret")


def shown_headers(logged: str) -> dict[str, str]:
    """An attempt's request headers as a page shows them: the log's masking
    (``dispatch.mask``), and any other header naming a signature masked the same way."""
    headers: dict[str, str] = json.loads(logged)
    shown = {}
    for name, value in headers.items():
        if any(word in name.lower() for word in _SIGNATURE_WORDS):
            masked = dispatch.mask("authorization", value)
        else:
            masked = dispatch.mask(name, value)
        shown[name] = masked
    return shown


def rebuilt_body(delivery: RowMapping, event: RowMapping, username: str, headers: dict[str, str]) -> str | None:
    """The body an attempt sent, rendered again by the delivery's dialect from the stored event
    (``dispatch.prepare``, as the worker does) at the attempt's signed timestamp; any signature
    the body carries is masked. None when the dialect cannot render it."""
    lowered = {name.lower(): value for name, value in headers.items()}
    stamp = lowered.get("x-webhook-timestamp") or lowered.get("webhook-timestamp") or ""
    timestamp = int(stamp) if stamp.isdigit() else int(event["created_at"].timestamp())
    job = Job(
        id=0,
        public_id=delivery["public_id"],
        url=delivery["url"],
        dialect=delivery["dialect"],
        attempts=0,
        merchant_id=delivery["merchant_id"],
        mode=delivery["mode"],
        endpoint_id=delivery["endpoint_id"],
        event_id=event["event_id"],
        event_type=event["type"],
        event_created_at=int(event["created_at"].timestamp()),
        event_payload=json.loads(event["payload"]),
        username=username,
        secrets=[_STAND_IN_SECRET],
    )
    try:
        request = dispatch.prepare(job, timestamp)
    except Exception:  # the dialect cannot say this event: nothing was sent with a body either
        return None
    body = request.body.decode("utf-8", "replace")
    for name, value in request.headers.items():
        if name.lower() in dispatch.SECRET_HEADERS or any(word in name.lower() for word in _SIGNATURE_WORDS):
            for part in value.split(" "):
                scheme = dispatch.mask("authorization", part).removesuffix("***")
                bare = part[len(scheme) :]
                if len(bare) >= 8:
                    body = body.replace(bare, "***")
    return body


@dataclass(frozen=True, slots=True)
class DeliveryDetail:
    delivery: RowMapping
    event: RowMapping
    endpoint_public_id: str | None
    attempts: list[dict[str, Any]]


def delivery_detail(conn: Connection, caller: Principal, public_id: str) -> DeliveryDetail:
    delivery = service.find_delivery(conn, caller, public_id)
    attempts = service.list_attempts(conn, caller, public_id)
    event = callback_log.event_by_row_id(conn, delivery["event_id"])
    endpoint_public_id = endpoints.public_id_of(conn, delivery["endpoint_id"])
    shown = []
    for attempt in attempts:
        headers = shown_headers(attempt["request_headers"])
        shown.append(
            {
                **attempt,
                "headers": headers,
                "body": rebuilt_body(delivery, event, caller.username, headers),
            }
        )
    return DeliveryDetail(delivery, event, endpoint_public_id, shown)


def payment_of_delivery(conn: Connection, delivery: RowMapping) -> int | None:
    """The payment a delivery's event is about (its audit line goes on the payment's page)."""
    return callback_log.payment_of_event(conn, delivery["event_id"])
