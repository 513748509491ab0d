"""A small closed-loop HTTP/1.1 load generator: ``api_bench.py``'s default client.

``api_bench.py`` runs it as a process of its own (so its CPU is not the server's), hands it a JSON
spec on stdin and reads one JSON result from stdout. Each of ``connections`` keep-alive
connections sends its next request as soon as the previous response is complete.

A run has three phases, on the same connections:

1. priming: the connections are opened one after the other, each sending one request and
   waiting for its answer. Under load, uvloop accepts about one new connection per event-loop
   turn, and a turn of the Kasir server can take 80 ms with 64 requests queued: connections
   opened all at once (as wrk opens them) keep some clients waiting seconds for their first
   answer and bend the latency tail. Opened on an idle server, every one is accepted at once;
2. warm-up: full load, not recorded;
3. measurement: full load for ``duration`` seconds; responses completed in this window count.

Why not aiohttp or httpx: on a 2-core machine the generator shares the CPU with the server, and a
client that costs more per request than the server would measure itself. A bare
``asyncio.Protocol`` on uvloop with httptools' parser (both already installed by
``uvicorn[standard]``) costs a few microseconds per request and adds no dependency.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, cast

import httptools
import uvloop


@dataclass(slots=True)
class Spec:
    host: str
    port: int
    case: str  # hello | check | create | status
    connections: int
    warmup: float
    duration: float
    api_key: str = ""
    invoices: list[str] = field(default_factory=list)
    amount_min: int = 1_000
    amount_max: int = 500_000
    server_pid: int | None = None  # when given, its CPU time over the measurement is reported


class Requests:
    """The raw bytes of each case's next request."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        host = f"Host: {spec.host}:{spec.port}\r\n"
        auth = f"X-API-Key: {spec.api_key}\r\n"
        if spec.case == "hello":
            self._fixed = [f"GET /hello HTTP/1.1\r\n{host}\r\n".encode()]
        elif spec.case == "check":
            # Pre-built, so the client spends nothing per request but a list index.
            self._fixed = [
                f"GET /api/check-payment.php?invoice={invoice} HTTP/1.1\r\n{host}{auth}\r\n".encode()
                for invoice in spec.invoices
            ]
        elif spec.case == "status":
            # The pay page's poll: public, so no X-API-Key (the invoice in the link is the key).
            self._fixed = [
                f"GET /pay/status?invoice={invoice} HTTP/1.1\r\n{host}\r\n".encode() for invoice in spec.invoices
            ]
        elif spec.case == "create":
            self._fixed = []
            self._create_head = (
                f"POST /api/create-payment.php HTTP/1.1\r\n{host}{auth}Content-Type: application/json\r\n"
            )
        else:
            raise ValueError(f"unknown case {spec.case!r}")
        self._next = 0

    def next(self) -> bytes:
        if self._fixed:
            self._next = (self._next + 1) % len(self._fixed)
            return self._fixed[self._next]
        # A fresh amount each time: each amount has only 999 unique codes, so a fixed amount
        # would run out of them within a second.
        body = f'{{"amount": {random.randint(self.spec.amount_min, self.spec.amount_max)}}}'
        return f"{self._create_head}Content-Length: {len(body)}\r\n\r\n{body}".encode()


@dataclass(slots=True)
class Tally:
    measure_from: float = math.inf
    measure_until: float = math.inf
    latencies: list[float] = field(default_factory=list)
    status_errors: int = 0
    socket_errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    def record(self, status: int, latency: float, finished_at: float) -> None:
        # Only responses completed inside the window count: priming's and warm-up's do not.
        if not self.measure_from <= finished_at <= self.measure_until:
            return
        self.latencies.append(latency)
        if not 200 <= status < 300:
            self.status_errors += 1
            self.statuses[status] = self.statuses.get(status, 0) + 1


class Connection(asyncio.Protocol):
    """One keep-alive connection: one request at a time, the next sent when a response is whole."""

    def __init__(self, requests: Requests, tally: Tally) -> None:
        loop = asyncio.get_running_loop()
        self.requests = requests
        self.tally = tally
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.sent_at = 0.0
        self.looping = False  # False while priming: one request, answered into ``primed``
        self.primed: asyncio.Future[int] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.closing = False  # we closed it (end of run, or a bad response already counted)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        self._send()

    def start(self) -> None:
        self.looping = True
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        self.sent_at = time.perf_counter()
        self.transport.write(self.requests.next())

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.tally.socket_errors += 1
            self._close()

    # httptools callback: one whole response has arrived.
    def on_message_complete(self) -> None:
        now = time.perf_counter()
        status = self.parser.get_status_code()
        if not self.looping:
            self.primed.set_result(status)
            return
        self.tally.record(status, now - self.sent_at, now)
        if now < self.tally.measure_until:
            self._send()
        else:
            self._close()

    def _close(self) -> None:
        self.closing = True
        assert self.transport is not None
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        # A connection the server drops is counted, not replaced: any socket error makes the
        # run invalid anyway, so there is no point in keeping the concurrency up.
        if not self.closing:
            self.tally.socket_errors += 1
        if not self.primed.done():
            self.primed.set_exception(ConnectionError("connection lost while priming"))
        if not self.closed.done():
            self.closed.set_result(None)


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After "pid (comm)": utime and stime are the 12th and 13th fields, in clock ticks.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


async def run(spec: Spec) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    requests = Requests(spec)
    tally = Tally()

    connections: list[Connection] = []
    for _ in range(spec.connections):
        _, connection = await loop.create_connection(partial(Connection, requests, tally), spec.host, spec.port)
        status = await connection.primed
        if not 200 <= status < 300:
            raise SystemExit(f"priming request answered {status}")
        connections.append(connection)

    start = time.perf_counter()
    tally.measure_from = start + spec.warmup
    tally.measure_until = tally.measure_from + spec.duration
    cpu: dict[str, float] = {}

    async def sample_cpu(at: float, suffix: str) -> None:
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
        cpu["client" + suffix] = time.process_time()
        if spec.server_pid:
            cpu["server" + suffix] = cpu_seconds(spec.server_pid)

    samplers = [
        asyncio.create_task(sample_cpu(tally.measure_from, "_from")),
        asyncio.create_task(sample_cpu(tally.measure_until, "_until")),
    ]
    for connection in connections:
        connection.start()
    await asyncio.wait_for(
        asyncio.gather(*(c.closed for c in connections), *samplers),
        timeout=spec.warmup + spec.duration + 60,
    )

    ordered = sorted(tally.latencies)
    result: dict[str, Any] = {
        "requests": len(ordered),
        "rps": len(ordered) / spec.duration,
        "p50_ms": _percentile(ordered, 0.50) * 1000,
        "p99_ms": _percentile(ordered, 0.99) * 1000,
        "max_ms": (ordered[-1] if ordered else math.nan) * 1000,
        "errors": tally.status_errors,
        "socket_errors": tally.socket_errors,
        "error_statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        # Share of one core the generator used: near 1.0 means it, not the server, was the limit.
        "client_cpu": (cpu["client_until"] - cpu["client_from"]) / spec.duration,
    }
    if spec.server_pid:
        result["server_cpu_seconds"] = cpu["server_until"] - cpu["server_from"]
    return result


def main() -> None:
    spec = Spec(**json.load(sys.stdin))
    result = uvloop.run(run(spec))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
