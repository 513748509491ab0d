"""Real HTTP receivers for delivery tests: a threaded server on a loopback port that records
every request and answers as its script says (status, delay, Retry-After, connection reset)."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


@dataclass
class Reply:
    status: int = 200
    body: bytes = b'{"status":"ok"}'
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    reset: bool = False  # close the connection with RST instead of answering


def answer(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
    """Write ``reply`` as the handler's answer, or reset the connection (SO_LINGER 0: the close
    sends RST) when the reply says so."""
    if reply.reset:
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.connection.close()
        handler.close_connection = True
        return
    handler.send_response(reply.status)
    for name, value in reply.headers.items():
        handler.send_header(name, value)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(reply.body)))
    handler.end_headers()
    handler.wfile.write(reply.body)


class Receiver:
    """``script(request_number, received) -> Reply`` decides each answer; the default is 200.
    ``port``: listen on this one (a receiver that comes up where a client already sends)."""

    def __init__(self, script: Callable[[int, Received], Reply] | None = None, *, port: int = 0) -> None:
        self.script = script or (lambda _n, _r: Reply())
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                received = Received(self.path, {k: v for k, v in self.headers.items()}, body, time.time())
                with receiver._lock:
                    receiver.requests.append(received)
                    number = len(receiver.requests)
                reply = receiver.script(number, received)
                if reply.delay:
                    time.sleep(reply.delay)
                answer(self, reply)

            def log_message(self, *_args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.01)
        raise AssertionError(f"expected {count} requests, got {len(self.requests)}")
