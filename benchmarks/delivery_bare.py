"""The ceiling of ``delivery_bench.py``: a bare aiohttp client loop, no database.

``delivery_bench.py`` runs it as a process of its own, hands it a JSON spec on stdin and reads one
JSON result from stdout. It sends ``events`` POSTs to the receiver, each rendered and signed
with Kasir's ``standard`` dialect exactly as the worker renders them (same headers, same body),
through one pooled keep-alive ``aiohttp.ClientSession`` configured as the worker's (connector
limit = concurrency, no auto-decompression, the response body read up to 4 KiB), with
``concurrency`` requests in flight. What it leaves out is everything durable: no claim, no
attempt log, no state.

With ``presigned`` every request is rendered before the clock starts: the HTTP alone, for
information; the reference renders and signs each request as it sends it, as any sender must
(each event has its own id and timestamp, so no signature can be made ahead of time).

``loop`` is ``uvloop`` (what ``kasir worker`` and, through uvicorn, ``kasir serve`` run on: the
reference) or ``asyncio`` (the default loop, for information).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import aiohttp
import uvloop

from kasir import dialects
from kasir.dialects import WebhookEvent

RESPONSE_BODY_LIMIT = 4096  # as kasir.delivery.dispatch


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    standard = dialects.get("standard")
    url: str = spec["url"]
    secrets = [spec["secret"]]
    payload = spec["payload"]
    created_at = int(time.time())
    prefix = spec["id_prefix"]
    todo = iter(range(spec["events"]))
    statuses: dict[int, int] = {}
    errors: list[str] = []

    connector = aiohttp.TCPConnector(limit=spec["concurrency"], ttl_dns_cache=60)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False) as session:

        def render(i: int) -> tuple[bytes, dict[str, str]]:
            event = WebhookEvent(
                id=f"{prefix}{i:08d}",
                type="payment.paid",
                created_at=created_at,
                data=payload,
                mode="test",
                business_id="bench",
            )
            rendered = standard.render(event, secrets, timestamp=int(time.time()), delivery_id=f"dlv_{i}")
            return rendered.body, rendered.headers

        # presigned: every request rendered before the clock starts, so only the HTTP is timed.
        ready = [render(i) for i in range(spec["events"])] if spec.get("presigned") else None

        async def sender() -> None:
            for i in todo:
                body, headers = ready[i] if ready is not None else render(i)
                try:
                    async with session.post(url, data=body, headers=headers, allow_redirects=False) as resp:
                        await resp.content.read(RESPONSE_BODY_LIMIT)
                        statuses[resp.status] = statuses.get(resp.status, 0) + 1
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")

        started_at, cpu_from = time.time(), time.process_time()
        await asyncio.gather(*(sender() for _ in range(spec["concurrency"])))
        finished_at, cpu_until = time.time(), time.process_time()
    ok = sum(count for status, count in statuses.items() if 200 <= status < 300)
    return {
        "ok": ok,
        "statuses": {str(k): v for k, v in statuses.items()},
        "errors": spec["events"] - ok,  # non-2xx answers and failed requests
        "error_samples": errors[:5],
        "started_at": started_at,
        "finished_at": finished_at,
        "cpu_s": cpu_until - cpu_from,
    }


def main() -> None:
    spec = json.loads(sys.stdin.read())
    result = uvloop.run(run(spec)) if spec.get("loop") == "uvloop" else asyncio.run(run(spec))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
