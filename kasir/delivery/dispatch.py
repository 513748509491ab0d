"""One attempt, in three steps (the Svix split): prepare the request, send it, decide what the
answer means for the delivery."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from kasir import dialects
from kasir.config import Settings
from kasir.delivery import retry
from kasir.delivery.queue import Job, Outcome
from kasir.delivery.states import AttemptOutcome, DeliveryStatus
from kasir.dialects import WebhookEvent
from kasir.ssrf import check_literal_at_send

RESPONSE_BODY_LIMIT = 4096
# Headers that carry a secret or a signature; the attempt log keeps only their scheme.
SECRET_HEADERS = frozenset(
    {
        "x-webhook-signature",
        "webhook-signature",
        "x-hub-signature",
        "x-ilen-signature",
        "x-signature",
        "x-kasir-body-signature",  # bayargg's second signature, over the raw body
        "x-callback-token",
        "authorization",
    }
)


# RFC 9110 §5.1 makes a field name a token; this is a stricter subset of it (no
# "!#$%&'*+.^_`|~"), which every receiver's framework reads as it is.
HEADER_NAME = re.compile(r"[A-Za-z0-9-]{1,64}")
HEADER_VALUE_LIMIT = 1024
# Headers the HTTP client owns; an endpoint setting them would break the request.
CLIENT_HEADERS = frozenset({"host", "content-length", "content-type", "transfer-encoding", "connection"})
# RFC 9110 §5.5 field-value without obs-text: visible ASCII, SP and HTAB allowed inside only.
# obs-text (0x80-0xFF) is refused on purpose: aiohttp writes a str value as UTF-8 while
# receivers read header bytes as Latin-1, so a non-ASCII value never arrives as it was typed.
_FIELD_VALUE = re.compile(r"(?:[\x21-\x7e](?:[\x20\x09\x21-\x7e]*[\x21-\x7e])?)?")
_NOT_FIELD_CHAR = re.compile(r"[^\x20\x09\x21-\x7e]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def header_problem(name: object, value: object) -> str | None:
    """What is wrong with one custom header of an endpoint, naming it (never showing its
    value, which may be a credential), or None.

    The API refuses such a header when it is saved; ``prepare`` checks again, so that a row
    written before that check existed fails its attempts instead of the worker."""
    if not isinstance(name, str) or not HEADER_NAME.fullmatch(name):
        return f"{printable(repr(name)[:70])} is not a valid header name (letters, digits and '-', at most 64)"
    if name.lower() in CLIENT_HEADERS:
        return f"{name} cannot be set: the HTTP client sets it"
    if not isinstance(value, str):
        return f"the value of {name} is not a string"
    if len(value) > HEADER_VALUE_LIMIT:
        return f"the value of {name} is longer than {HEADER_VALUE_LIMIT} characters"
    if _FIELD_VALUE.fullmatch(value):
        return None
    bad = _NOT_FIELD_CHAR.search(value)
    if bad is None:
        return f"the value of {name} starts or ends with a space or a tab"
    char = bad.group()
    if char in "\r\n":
        what = "a line break"
    elif ord(char) < 0x80:
        what = f"a control character (0x{ord(char):02x})"
    else:
        what = f"a non-ASCII character (U+{ord(char):04X})"
    return f"the value of {name} contains {what}; a header value is one line of visible ASCII characters"


def printable(text: str) -> str:
    """Control characters as escapes, for a message meant to be read in the attempt log."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class InvalidHeader(ValueError):
    """A custom header that cannot go on the wire (see ``header_problem``)."""


@dataclass(frozen=True, slots=True)
class Request:
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class Result:
    status_code: int | None
    response_body: str | None
    duration: float
    error: str | None
    retry_after: str | None = None
    # The receiver said this exact request can never succeed (a notifier reads it from the
    # provider's error code); the delivery ends without using up the schedule.
    permanent: bool = False

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


# The scheme of a signature or credential may show; everything after it may not. Base64 ends
# in "=", so a value must never be cut at the first "=" or "," it happens to contain.
_SCHEMES = re.compile(r"^(v1,|sha1=|sha256=|key=|Basic |Bearer )", re.IGNORECASE)


def mask(name: str, value: str) -> str:
    if name.lower() not in SECRET_HEADERS:
        return value
    scheme = _SCHEMES.match(value)
    return (scheme.group(1) if scheme else "") + "***"


class _Payload(Mapping[str, Any]):
    """A job's data for a dialect, decoded from the stored text the first time it is read: a
    dialect that splices the stored text (``raw_data``) never pays for the decoding."""

    __slots__ = ("_job",)

    def __init__(self, job: Job) -> None:
        self._job = job

    def __getitem__(self, key: str) -> Any:
        return self._job.payload()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._job.payload())

    def __len__(self) -> int:
        return len(self._job.payload())


def prepare(job: Job, timestamp: int) -> Request:
    """The request of one attempt. Raises when it cannot be built (a header the endpoint has no
    right to send, a payload the dialect cannot render): callers record that as a failed try."""
    for name, value in job.headers.items():
        problem = header_problem(name, value)
        if problem is not None:
            raise InvalidHeader(f"endpoint headers: {problem}")
    event = WebhookEvent(
        id=job.event_id,
        type=job.event_type,
        created_at=job.event_created_at,
        data=_Payload(job),
        mode=job.mode,
        business_id=job.username,
        raw_data=job.payload_json,
    )
    rendered = dialects.get(job.dialect).render(event, job.secrets, timestamp=timestamp, delivery_id=job.public_id)
    # Custom headers come first, so no endpoint setting can overwrite a signature.
    reserved = {name.lower() for name in rendered.headers}
    headers = {k: v for k, v in job.headers.items() if k.lower() not in reserved}
    headers.update(rendered.headers)
    return Request(job.url, headers, rendered.body)


PREPARE_FAILED = "cannot prepare the request"
SEND_FAILED = "cannot send the request"


def known_request(job: Job) -> Request:
    """What the attempt log can show of a request that could not be prepared: where it was
    going and the endpoint's own headers (masked as always), no body."""
    headers = job.headers if isinstance(job.headers, Mapping) else {}
    return Request(job.url, {str(k): str(v) for k, v in headers.items()}, b"")


def failure(stage: str, exc: BaseException, *, duration: float = 0.0, secrets: Iterable[str] = ()) -> Result:
    """A try that raised, as a failed Result (no status): the delivery then follows the retry
    schedule like any other failure. Secrets are cut out of the message, which is shown to the
    merchant in the attempt log."""
    text = f"{stage}: {describe_error(exc)}"
    for secret in sorted({s for s in secrets if len(s) >= 6}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return Result(None, None, duration, printable(text)[:1000])


def secret_values(headers: Mapping[str, Any], secrets: Iterable[str] = ()) -> list[str]:
    """Every value the attempt log must never show: the signing secrets and the credentials in
    headers, with and without their scheme."""
    found = [s for s in secrets if isinstance(s, str)]
    for name, value in headers.items():
        if isinstance(name, str) and isinstance(value, str) and name.lower() in SECRET_HEADERS:
            found += [value, _SCHEMES.sub("", value)]
    return found


async def send(session: aiohttp.ClientSession, request: Request, *, guard: bool) -> Result:
    """Never raises (but for cancellation): whatever goes wrong is the Result's error."""
    started = time.perf_counter()
    try:
        if guard:
            check_literal_at_send(request.url)
        async with session.post(request.url, data=request.body, headers=request.headers, allow_redirects=False) as resp:
            body = await resp.content.read(RESPONSE_BODY_LIMIT)
            return Result(
                status_code=resp.status,
                # PostgreSQL takes no NUL in text, and one refused row fails the whole batch
                # of attempts recorded with it; NUL becomes what undecodable bytes become.
                response_body=body.decode("utf-8", "replace").replace("\x00", "\ufffd"),
                duration=time.perf_counter() - started,
                error=None,
                retry_after=resp.headers.get("Retry-After"),
            )
    except TimeoutError:
        return Result(None, None, time.perf_counter() - started, "timed out waiting for the receiver")
    except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError) as exc:
        return Result(None, None, time.perf_counter() - started, printable(describe_error(exc)))
    except Exception as exc:  # aiohttp raises ValueError, TypeError… for a request it cannot write
        return failure(SEND_FAILED, exc, duration=time.perf_counter() - started, secrets=secret_values(request.headers))


def describe_error(exc: BaseException) -> str:
    """The error as the attempt log shows it, with the cause aiohttp wraps (the SSRF guard's
    refusal, a DNS failure) rather than only its own summary."""
    text = f"{type(exc).__name__}: {exc}"
    cause = getattr(exc, "os_error", None) or exc.__cause__
    if cause is not None and str(cause) and str(cause) not in text:
        text += f" ({cause})"
    return text[:1000]


def decide(job: Job, request: Request, result: Result, started_at: datetime, settings: Settings) -> Outcome:
    """2xx succeeds; 410 gives up and disables the endpoint; anything else retries on the
    schedule (or after an honoured Retry-After) until the schedule is used up."""
    attempt_number = job.attempts + 1
    now = started_at + timedelta(seconds=result.duration)
    status: DeliveryStatus
    outcome: AttemptOutcome
    if result.ok:
        status, next_at, outcome, endpoint_result = DeliveryStatus.SUCCEEDED, None, AttemptOutcome.SUCCEEDED, "success"
    elif result.status_code == 410:
        status, next_at, outcome, endpoint_result = DeliveryStatus.FAILED, None, AttemptOutcome.FAILED, "gone"
    elif result.permanent:
        status, next_at, outcome, endpoint_result = DeliveryStatus.FAILED, None, AttemptOutcome.FAILED, "failure"
    else:
        delay = retry.honoured_retry_after(
            result.status_code, result.retry_after, now, settings.delivery_max_retry_after
        )
        if delay is None:
            delay = retry.schedule_delay(attempt_number, settings.delivery_retry_schedule)
        elif attempt_number > len(settings.delivery_retry_schedule):
            delay = None
        if delay is None:
            status, next_at, outcome = DeliveryStatus.FAILED, None, AttemptOutcome.FAILED
        else:
            status, next_at, outcome = DeliveryStatus.PENDING, now + timedelta(seconds=delay), AttemptOutcome.RETRYING
        endpoint_result = "failure"
    attempt = {
        "delivery_id": job.id,
        "attempt": attempt_number,
        "started_at": started_at,
        "url": request.url,
        "request_headers": logged_headers(request.headers),
        "status_code": result.status_code,
        "response_body": result.response_body,
        "duration_ms": round(result.duration * 1000),
        "error": result.error
        or (None if result.ok else f"receiver answered {result.status_code}; only 2xx counts as delivered"),
        "outcome": outcome,
    }
    return Outcome(job, attempt, status, next_at, endpoint_result)


def logged_headers(headers: Mapping[str, Any]) -> str:
    """The request's headers as the attempt log keeps them (JSON, secrets masked); any value,
    even one that could not be sent, is shown as text rather than failing the record."""
    return json.dumps({str(k): mask(str(k), str(v)) for k, v in headers.items()})
