"""The SSRF guard: callback URLs must not reach loopback, private, link-local, multicast or
cloud-metadata addresses.

Checked when a URL is saved (a clear 422), and again when we send: the resolver below refuses
a name whose answer changed to a private address since, and the connection goes to the address
it checked, so a DNS rebinding between check and connect gains nothing.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from kasir.errors import KasirError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeURL(KasirError):
    status_code = 422
    code = "unsafe_url"


def refusal(address: IPAddress) -> str | None:
    """Why we will not connect to ``address``, or None when it is a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return refusal(address.ipv4_mapped)
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address (cloud metadata lives here)"
    if address.is_multicast:
        return "a multicast address"
    if address.is_private or not address.is_global:
        return "a private or reserved address"
    return None


def literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def check_scheme(url: str, *, require_https: bool, field: str) -> str:
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError:  # "http://[::1/x": an unclosed IPv6 literal
        raise UnsafeURL(f"{field} is not a valid URL", field=field, code="invalid_url") from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise UnsafeURL(f"{field} must be an http:// or https:// URL", field=field, code="invalid_url")
    if require_https and parts.scheme != "https":
        raise UnsafeURL(f"{field} must use https", field=field, code="https_required")
    return hostname


async def check_url(url: str, *, allow_private: bool, require_https: bool, field: str = "url") -> None:
    """Refuse ``url`` at save time with a 422 that names the field and the reason."""
    host = check_scheme(url, require_https=require_https, field=field)
    if allow_private:
        return
    literal = literal_address(host)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):  # UnicodeError: a name IDNA cannot encode ("a..b")
            raise UnsafeURL(f"{field}: {host} does not resolve", field=field, code="url_unresolvable") from None
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    for address in addresses:
        reason = refusal(address)
        if reason is not None:
            raise UnsafeURL(f"{field}: {host} resolves to {address}, {reason}", field=field, code="unsafe_url")


class GuardedResolver(AbstractResolver):
    """aiohttp resolver that refuses the whole name if any answer is not public."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            reason = refusal(ipaddress.ip_address(result["host"]))
            if reason is not None:
                raise OSError(errno.EACCES, f"refused to connect: {host} resolves to {result['host']}, {reason}")
        return results

    async def close(self) -> None:
        await self._inner.close()


def check_literal_at_send(url: str) -> None:
    """aiohttp does not consult the resolver for an IP literal, so those are checked here."""
    host = urlsplit(url).hostname or ""
    literal = literal_address(host)
    if literal is not None:
        reason = refusal(literal)
        if reason is not None:
            raise OSError(errno.EACCES, f"refused to connect: {literal} is {reason}")
