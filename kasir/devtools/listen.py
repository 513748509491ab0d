"""``kasir listen``: a local webhook receiver for development (the ``stripe listen`` pattern).

It verifies each request in its dialect with the SDK's ``verify``, prints it, and answers: 401
when verification fails, otherwise ``--status`` (so a developer can watch Kasir retry a 500), or
whatever ``--forward-to`` answered. With ``--server`` and ``--api-key`` it registers itself as a
temporary endpoint on a running Kasir, learns the endpoint's secret from it, and deletes the
endpoint when it stops.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from kasir.devtools.trigger import NO_REDIRECTS
from kasir.receive import WebhookVerificationError, verify

# Hop-by-hop headers are the connection's, not the message's: never forwarded.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "host"}
)
TEMPORARY_ENDPOINT_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class Received:
    """One request as the listener saw it, for the printer (and tests)."""

    at: datetime
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool | None  # None: no secret to verify with
    event_type: str | None
    event_id: str | None
    error: str | None
    answered: int


@dataclass
class Listener:
    dialect: str
    secret: str | None
    status: int = 200
    forward_to: str | None = None
    on_request: Callable[[Received], None] = field(default=lambda _r: None)
    received: list[Received] = field(default_factory=list)

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        verified: bool | None = None
        event_type = event_id = error = None
        if self.secret:
            try:
                event = verify(body, headers.items(), self.secret, dialect=self.dialect)
                verified, event_type, event_id = True, event.type, event.id
            except WebhookVerificationError as exc:
                verified, error = False, f"{type(exc).__name__}: {exc}"
        status, reply_headers, reply = self._answer(verified, method, path, headers, body, error)
        record = Received(
            datetime.now().astimezone(), method, path, headers, body, verified, event_type, event_id, error, status
        )
        self.received.append(record)
        self.on_request(record)
        return status, reply_headers, reply

    def _answer(
        self, verified: bool | None, method: str, path: str, headers: dict[str, str], body: bytes, error: str | None
    ) -> tuple[int, dict[str, str], bytes]:
        if verified is False:
            payload = {"success": False, "error": f"webhook refused: {error}"}
            return 401, {"Content-Type": "application/json"}, json.dumps(payload).encode()
        if self.forward_to:
            return forward(
                self.forward_to.rstrip("/") + path if path != "/" else self.forward_to, method, headers, body
            )
        return self.status, {"Content-Type": "application/json"}, json.dumps({"received": True}).encode()


def forward(url: str, method: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
    sent = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP and k.lower() != "content-length"}
    request = urllib.request.Request(url, data=body, headers=sent, method=method)  # noqa: S310 - developer's URL
    try:
        with NO_REDIRECTS.open(request, timeout=30) as response:
            return response.status, {"Content-Type": response.headers.get("Content-Type", "")}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {"Content-Type": error.headers.get("Content-Type", "")}, error.read()
    except (urllib.error.URLError, OSError) as exc:
        payload = {"success": False, "error": f"forward to {url} failed: {exc}"}
        return 502, {"Content-Type": "application/json"}, json.dumps(payload).encode()


def serve(listener: Listener, host: str, port: int) -> ThreadingHTTPServer:
    """A started server (in a daemon thread); ``shutdown()`` stops it."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            status, headers, reply = listener.handle(self.command, self.path, dict(self.headers.items()), body)
            self.send_response(status)
            for name, value in headers.items():
                if value:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        do_POST = do_PUT = do_PATCH = do_GET = _any

        def log_message(self, format: str, *args: Any) -> None:  # the printer reports instead
            return

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True, name="kasir-listen").start()
    return server


# --- registering with a running Kasir ---------------------------------------------------------


class RegistrationError(Exception):
    pass


def _api(method: str, url: str, api_key: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(  # noqa: S310 - the developer's own Kasir
        url, data=data, method=method, headers={"X-API-Key": api_key, "Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            raw = response.read()
    except urllib.error.HTTPError as error:
        try:
            detail = json.loads(error.read())
        except ValueError:
            detail = {}
        message = detail.get("error") or error.reason
        # The server's own refusal of a loopback URL says how to allow it (kasir.ssrf).
        raise RegistrationError(f"{method} {url}: {error.code} {message}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise RegistrationError(f"{method} {url}: {exc}") from None
    return json.loads(raw) if raw else {}


def register(server: str, api_key: str, listener_url: str, dialect: str) -> tuple[str, str]:
    """(endpoint id, secret) of a new temporary endpoint pointing at the listener."""
    answer = _api(
        "POST",
        server.rstrip("/") + "/v1/endpoints",
        api_key,
        {
            "url": listener_url,
            "dialect": dialect,
            "description": "kasir listen (temporary)",
            "expires_in": TEMPORARY_ENDPOINT_SECONDS,
        },
    )
    endpoint = answer["endpoint"]
    return str(endpoint["id"]), str(endpoint["secret"])


def unregister(server: str, api_key: str, endpoint_id: str) -> None:
    _api("DELETE", f"{server.rstrip('/')}/v1/endpoints/{endpoint_id}", api_key)
