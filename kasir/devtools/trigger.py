"""``kasir trigger``: one realistic, signed sample event sent to a URL (the ``stripe trigger``
pattern, and seed 002's callback tester). The event is rendered by the same dialect module the
delivery worker uses, so a receiver that accepts it accepts the real thing."""

from __future__ import annotations

import base64
import json
import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime

from kasir import dialects
from kasir.devtools.samples import SAMPLE_TYPES, ping_payload, sample_payload
from kasir.dialects.base import Rendered, WebhookEvent

EVENT_TYPES = (*SAMPLE_TYPES, "ping")


def new_secret() -> str:
    """A secret every dialect accepts (Standard Webhooks wants base64 after ``whsec_``)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def sample_event(event_type: str, *, username: str = "demo", now: int | None = None) -> WebhookEvent:
    if event_type not in EVENT_TYPES:
        raise ValueError(f"event must be one of {', '.join(EVENT_TYPES)}")
    moment = datetime.fromtimestamp(now, UTC) if now is not None else datetime.now(UTC)
    if event_type == "ping":
        data = ping_payload("hook_trigger", "http://receiver.example/", "whsec_…", True)
    else:
        data = sample_payload(event_type, username, "http://127.0.0.1:8000", moment)
    return WebhookEvent(
        id="evt_" + secrets.token_hex(12),
        type=event_type,
        created_at=int(moment.timestamp()),
        data=data,
        mode="test",
        business_id=username,
    )


def render(event: WebhookEvent, dialect: str, secret: str, *, timestamp: int | None = None) -> Rendered:
    module = dialects.get(dialect)
    if module.event_name(event.type) is None:
        raise ValueError(f"dialect {dialect} has no way to say {event.type}")
    return module.render(
        event, [secret], timestamp=timestamp or int(time.time()), delivery_id="dlv_" + secrets.token_hex(8)
    )


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    milliseconds: float


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Kasir's worker does not follow redirects (a 3xx is a failed delivery), so neither do the
    tools: a receiver that redirects must show up as one."""

    def redirect_request(self, *_args: object, **_kwargs: object) -> None:
        return None


NO_REDIRECTS = urllib.request.build_opener(_NoRedirects)


def send(url: str, rendered: Rendered, *, timeout: float = 30.0) -> Answer:
    request = urllib.request.Request(url, data=rendered.body, headers=rendered.headers, method="POST")  # noqa: S310
    started = time.perf_counter()
    try:
        with NO_REDIRECTS.open(request, timeout=timeout) as response:  # the developer's URL
            status, headers, body = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:  # a 4xx/5xx is an answer, not a failure to send
        status, headers, body = error.code, dict(error.headers), error.read()
    return Answer(status, headers, body, (time.perf_counter() - started) * 1000)


def pretty_body(body: bytes) -> str:
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except (ValueError, UnicodeDecodeError):
        return body.decode("utf-8", "replace")
