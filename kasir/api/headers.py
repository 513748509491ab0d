"""Headers every answer carries, set once here rather than by each route.

- ``X-Content-Type-Options: nosniff`` everywhere: a JSON error or an uploaded file is never run
  as a script or a page because a browser guessed its type.
- ``Cache-Control: no-store`` unless the route chose its own caching (QR images, product photos
  and static assets do): API answers carry secrets once (``rotate-secret``, a new forwarder, a new
  endpoint) and payment details always, and no proxy or browser cache may keep them.
- ``Strict-Transport-Security`` when ``KASIR_PUBLIC_URL`` is https: browsers then never try the
  plain-http address again, so a buyer on café Wi-Fi cannot be downgraded.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HSTS = "max-age=31536000"
# Static assets are fingerprinted by nothing but are public and small; let the browser revalidate
# them (ETag, Last-Modified from StaticFiles) rather than fetch them on every pay page.
_CACHEABLE_PREFIXES = ("/static/",)


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cacheable = scope["path"].startswith(_CACHEABLE_PREFIXES)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("x-content-type-options", "nosniff")
                if not cacheable:
                    headers.setdefault("cache-control", "no-store")
                if self.hsts:
                    headers.setdefault("strict-transport-security", HSTS)
            await send(message)

        await self.app(scope, receive, send_with_headers)
