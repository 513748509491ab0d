"""One attempt, in three steps (the Svix split): prepare the request, send it, decide what the
answer means for the delivery."""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiohttp

from kasir import dialects
from kasir.config import Settings
from kasir.delivery import retry
from kasir.delivery.queue import Job, Outcome
from kasir.delivery.ssrf import check_literal_at_send
from kasir.dialects import WebhookEvent

RESPONSE_BODY_LIMIT = 4096
# Headers that carry a secret or a signature; the attempt log keeps only their scheme.
SECRET_HEADERS = frozenset(
    {
        "x-webhook-signature",
        "webhook-signature",
        "x-hub-signature",
        "x-ilen-signature",
        "x-signature",
        "x-callback-token",
        "authorization",
    }
)


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


def prepare(job: Job, timestamp: int) -> Request:
    event = WebhookEvent(
        id=job.event_id,
        type=job.event_type,
        created_at=job.event_created_at,
        data=job.event_payload,
        mode=job.mode,
        business_id=job.username,
    )
    rendered = dialects.get(job.dialect).render(event, job.secrets, timestamp=timestamp, delivery_id=job.public_id)
    # Custom headers come first, so no endpoint setting can overwrite a signature.
    reserved = {name.lower() for name in rendered.headers}
    headers = {k: v for k, v in job.headers.items() if k.lower() not in reserved}
    headers.update(rendered.headers)
    return Request(job.url, headers, rendered.body)


async def send(session: aiohttp.ClientSession, request: Request, *, guard: bool) -> Result:
    started = time.perf_counter()
    try:
        if guard:
            check_literal_at_send(request.url)
        async with session.post(request.url, data=request.body, headers=request.headers, allow_redirects=False) as resp:
            body = await resp.content.read(RESPONSE_BODY_LIMIT)
            return Result(
                status_code=resp.status,
                response_body=body.decode("utf-8", "replace"),
                duration=time.perf_counter() - started,
                error=None,
                retry_after=resp.headers.get("Retry-After"),
            )
    except TimeoutError:
        return Result(None, None, time.perf_counter() - started, "timed out waiting for the receiver")
    except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError) as exc:
        return Result(None, None, time.perf_counter() - started, describe_error(exc))


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
    if result.ok:
        status, next_at, outcome, endpoint_result = "succeeded", None, "succeeded", "success"
    elif result.status_code == 410:
        status, next_at, outcome, endpoint_result = "failed", None, "failed", "gone"
    elif result.permanent:
        status, next_at, outcome, endpoint_result = "failed", None, "failed", "failure"
    else:
        delay = retry.honoured_retry_after(
            result.status_code, result.retry_after, now, settings.delivery_max_retry_after
        )
        if delay is None:
            delay = retry.schedule_delay(attempt_number, settings.delivery_retry_schedule)
        elif attempt_number > len(settings.delivery_retry_schedule):
            delay = None
        if delay is None:
            status, next_at, outcome = "failed", None, "failed"
        else:
            status, next_at, outcome = "pending", now + timedelta(seconds=delay), "retrying"
        endpoint_result = "failure"
    attempt = {
        "delivery_id": job.id,
        "attempt": attempt_number,
        "started_at": started_at,
        "url": request.url,
        "request_headers": json.dumps({k: mask(k, v) for k, v in request.headers.items()}),
        "status_code": result.status_code,
        "response_body": result.response_body,
        "duration_ms": round(result.duration * 1000),
        "error": result.error
        or (None if result.ok else f"receiver answered {result.status_code}; only 2xx counts as delivered"),
        "outcome": outcome,
    }
    return Outcome(job, attempt, status, next_at, endpoint_result)
