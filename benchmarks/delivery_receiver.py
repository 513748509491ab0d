"""The webhook receiver of ``delivery_bench.py``: answers every POST with 200 and counts it.

    python benchmarks/delivery_receiver.py --port 8901

Every sender in the benchmark (the bare aiohttp loop, Kasir's workers, the Celery worker) posts
to this one receiver, so it has to cost as little per request as possible: on a 2-core machine
each microsecond it spends is taken from the sender being measured. It is a bare
``asyncio.Protocol`` on uvloop with httptools' parser (as ``loadgen.py`` is on the client side):
a few µs per request, where an aiohttp web server costs several times more.

Per request it notes the ``webhook-id`` header (to count distinct events), the time of arrival
(``time.time()``, the clock the senders use for their commit times in the latency cases), and
keeps the first few requests whole, so the benchmark can check their signatures.

Control requests (GET, answered with JSON) share the port:

- ``/_reset?times=1&samples=3``: forget everything; ``times=1`` keeps each event's arrival time;
- ``/_stats``: ``count``, ``distinct``, ``first_at``, ``last_at``, ``errors``;
- ``/_times``: ``{event id: arrival time}`` (with ``times=1``);
- ``/_samples``: the kept requests, ``[{"headers": {...}, "body": "..."}]``.

One process: ``delivery_bench.py`` reports the receiver's CPU in every case (``receiver_cores``):
under 0.1 core here even while the bare loop sends ~4,000 requests/s, so it is not the ceiling,
and a second process (SO_REUSEPORT) would only take CPU from the senders on a 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import time
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import httptools
import uvloop

OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


class State:
    def __init__(self) -> None:
        self.reset(times=False, samples=0)

    def reset(self, *, times: bool, samples: int) -> None:
        self.count = 0
        self.ids: set[bytes] = set()
        self.keep_times = times
        self.times: dict[str, float] = {}
        self.samples_wanted = samples
        self.samples: list[dict[str, Any]] = []
        self.first_at: float | None = None
        self.last_at: float | None = None
        self.errors = 0  # requests without a webhook-id, parse errors

    def stats(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "count": self.count,
            "distinct": len(self.ids),
            "first_at": self.first_at,
            "last_at": self.last_at,
            "errors": self.errors,
        }


class Connection(asyncio.Protocol):
    def __init__(self, state: State) -> None:
        self.state = state
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self._reset_request()

    def _reset_request(self) -> None:
        self.url = b""
        self.event_id: bytes | None = None
        self.headers: dict[str, str] | None = None
        self.body: list[bytes] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.state.errors += 1
            assert self.transport is not None
            self.transport.close()

    # httptools callbacks ------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._reset_request()
        state = self.state
        if len(state.samples) < state.samples_wanted:
            self.headers, self.body = {}, []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.headers is not None:
            self.headers[name.decode()] = value.decode()
        if len(name) == 10 and name.lower() == b"webhook-id":
            self.event_id = value

    def on_body(self, body: bytes) -> None:
        if self.body is not None:
            self.body.append(body)

    def on_message_complete(self) -> None:
        assert self.transport is not None
        if self.url.startswith(b"/_"):
            self._control()
        else:
            now = time.time()
            state = self.state
            state.count += 1
            if state.first_at is None:
                state.first_at = now
            state.last_at = now
            event_id = self.event_id
            if event_id is None:
                state.errors += 1
            else:
                state.ids.add(event_id)
                if state.keep_times:
                    state.times.setdefault(event_id.decode(), now)
            if self.headers is not None and self.body is not None and len(state.samples) < state.samples_wanted:
                state.samples.append({"headers": self.headers, "body": b"".join(self.body).decode()})
            self.transport.write(OK)
        if not self.parser.should_keep_alive():
            self.transport.close()

    def _control(self) -> None:
        assert self.transport is not None
        parts = urlsplit(self.url.decode())
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        state = self.state
        answer: Any
        if parts.path == "/_reset":
            state.reset(times=query.get("times") == "1", samples=int(query.get("samples", "0")))
            answer = state.stats()
        elif parts.path == "/_stats":
            answer = state.stats()
        elif parts.path == "/_times":
            answer = state.times
        elif parts.path == "/_samples":
            answer = state.samples
        else:
            answer = {"error": f"unknown control path {parts.path}"}
        body = json.dumps(answer).encode()
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        self.transport.write(head.encode() + body)


def listening_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(4096)
    sock.setblocking(False)
    return sock


async def serve(sock: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    state = State()
    server = await loop.create_server(lambda: Connection(state), sock=sock, backlog=4096)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    sock = listening_socket(args.port)
    print(f"receiver {os.getpid()} listening on 127.0.0.1:{args.port}", flush=True)
    uvloop.run(serve(sock))


if __name__ == "__main__":
    main()
