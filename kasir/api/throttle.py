"""Throttling by client address: failed authentications, and the public pages a buyer opens.

The per-key limit (``kasir.api.ratelimit``) needs a valid key; these two protect what comes before
one. Both count per client address, which behind a reverse proxy is the one it names in
``X-Forwarded-For``, and only when the proxy is one of ``KASIR_TRUSTED_PROXIES``: otherwise any
client could name any address and spread its guesses over as many as it likes (docs/deploy.md,
"Throttling").
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from starlette.types import ASGIApp, Receive, Scope, Send

from kasir.api.errors import error_response
from kasir.api.ratelimit import RateLimiter, retry_after_header
from kasir.errors import RateLimited, Unauthorized

T = TypeVar("T")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# What a buyer's phone asks for without a key: the pay page, its status poll, the QR images, the
# download of what was bought, the product photos and the payment links' pages (docs/links.md).
PUBLIC_PATHS = frozenset({"/pay", "/pay/status", "/qr.png", "/qr.svg"})
PUBLIC_PREFIXES = ("/download/", "/media/", "/l/")


class ClientAddresses:
    """The client address of a request: the TCP peer, or, when the peer is a trusted proxy, the
    rightmost address in ``X-Forwarded-For`` that is not itself a trusted proxy (each proxy
    appends the address it saw; entries left of the last untrusted one are the client's claims)."""

    def __init__(self, trusted: Iterable[str]) -> None:
        self._trusted: tuple[Network, ...] = tuple(ipaddress.ip_network(item, strict=False) for item in trusted)

    def _is_trusted(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self._trusted)

    def __call__(self, scope: Scope) -> str:
        peer = scope.get("client")
        host = str(peer[0]) if peer else ""
        if not self._trusted or not self._is_trusted(host):
            return host
        forwarded = b",".join(value for name, value in scope["headers"] if name == b"x-forwarded-for")
        hops = [hop.strip() for hop in forwarded.decode("latin-1").split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self._is_trusted(hop):
                try:
                    return str(ipaddress.ip_address(hop))
                except ValueError:  # not an address: our own proxy wrote nonsense; count the proxy
                    return host
        return hops[0] if hops else host


class AuthThrottle:
    """At most ``KASIR_AUTH_FAILURE_LIMIT`` failed authentications a minute per client address.

    Past it, the address is refused before its key or signature is even looked at, so a guess
    made while throttled can neither succeed nor be told apart from any other. The refusal is
    remembered in this process for the wait the limiter answered: checking it costs a dictionary
    lookup on every request, while the count itself is shared through Redis when configured."""

    def __init__(self, limiter: RateLimiter, per_minute: int) -> None:
        self._limiter = limiter
        self.per_minute = per_minute
        self._blocked: dict[str, float] = {}

    async def guard(self, address: str, authenticate: Callable[[], Awaitable[T]]) -> T:
        """``authenticate()``, unless ``address`` is throttled; its ``Unauthorized`` counts."""
        self.check(address)
        try:
            return await authenticate()
        except Unauthorized:
            await self.failed(address)
            raise

    def check(self, address: str) -> None:
        until = self._blocked.get(address)
        if until is None:
            return
        left = until - time.monotonic()
        if left <= 0:
            del self._blocked[address]
            return
        raise self._refusal(left)

    async def failed(self, address: str) -> None:
        """Count one failure; raises ``RateLimited`` when it is one too many. When it used up
        the allowance, the next attempt of any kind is refused until there is room again."""
        key = "auth:" + address
        wait = await self._limiter.acquire(key)
        refused = wait > 0
        if not refused:
            wait = await self._limiter.peek(key)
        if wait > 0:
            now = time.monotonic()
            if len(self._blocked) > 10_000:
                self._blocked = {k: v for k, v in self._blocked.items() if v > now}
            self._blocked[address] = now + wait
        if refused:
            raise self._refusal(wait)

    def _refusal(self, wait: float) -> RateLimited:
        seconds = retry_after_header(wait)
        return RateLimited(
            f"too many failed authentications from this address ({self.per_minute} per minute); retry in {seconds} s",
            retry_after=seconds,
            code="too_many_failed_authentications",
        )


class PublicRateLimit:
    """ASGI middleware: ``KASIR_PUBLIC_RATE_LIMIT`` requests a minute per client address to the
    public pages, answered 429 with ``Retry-After`` past it. Every other path passes untouched.
    The limiter and the address rule live in the app's state, built by its lifespan."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
                state = scope["app"].state.kasir
                wait = await state.public_limiter.acquire("public:" + state.addresses(scope))
                if wait > 0:
                    seconds = retry_after_header(wait)
                    response = error_response(
                        429,
                        f"too many requests from this address; retry in {seconds} s",
                        "rate_limited",
                        headers={"Retry-After": str(seconds)},
                    )
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)
