"""The SSRF guard: callback URLs must not reach loopback, private, link-local, multicast or
cloud-metadata addresses.

An address is judged by what a connection to it reaches: IPv6 forms that embed or translate an
IPv4 address (IPv4-mapped and -compatible, SIIT, NAT64, 6to4, Teredo) by the IPv4 address inside,
any other IPv6 address only if it is global unicast. The same rule serves callback URLs, the
``image_url`` fetches of qris-convert and qris-info, and the resolver every connection goes through.

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


# What a developer whose receiver runs on their own machine needs to read, in the refusal itself.
DEVELOPMENT_HINT = "; to allow it while developing, set KASIR_WEBHOOK_ALLOW_PRIVATE_NETWORKS=1"


# Only global unicast IPv6 (RFC 4291 §2.4) can be a receiver on the internet; everything else
# (unique-local, link-local, site-local, multicast, the NAT64 local-use prefix, SRv6 SIDs, …) is
# refused without a case of its own.
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_SITE_LOCAL = ipaddress.IPv6Network("fec0::/10")  # deprecated by RFC 3879, still routed on some LANs
_NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215: its IPv4 position is not fixed
_DOCUMENTATION = (ipaddress.IPv6Network("2001:db8::/32"), ipaddress.IPv6Network("3fff::/20"))  # RFC 3849, 9637

# IPv6 forms that carry an IPv4 address in their last 32 bits, and what reaches it: a connection
# to them is a connection to that IPv4 address, through the kernel, a translator or a relay.
_LAST_32_BITS = (
    (ipaddress.IPv6Network("::ffff:0:0/96"), "an IPv4-mapped address"),  # RFC 4291
    (ipaddress.IPv6Network("::ffff:0:0:0/96"), "an IPv4-translated (SIIT) address"),  # RFC 2765
    (ipaddress.IPv6Network("64:ff9b::/96"), "a NAT64 address"),  # RFC 6052 well-known prefix
    (ipaddress.IPv6Network("::/96"), "an IPv4-compatible address"),  # RFC 4291, deprecated
)


def translated_ipv4(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    """The IPv4 address that ``address`` stands for (a connection to one is a connection to the
    other), with the form's name; None for an IPv6 address of its own."""
    for network, form in _LAST_32_BITS:
        if address in network:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), form
    return None


def tunnelled_ipv4(address: ipaddress.IPv6Address) -> list[tuple[ipaddress.IPv4Address, str]]:
    """The IPv4 addresses a tunnelling address (6to4, Teredo) routes through or to."""
    if address.sixtofour is not None:  # 2002:AABB:CCDD::/48 (RFC 3056)
        return [(address.sixtofour, "a 6to4 address")]
    if address.teredo is not None:  # 2001::/32: the relay (server) and the client it reaches (RFC 4380)
        server, client = address.teredo
        return [(client, "a Teredo address"), (server, "a Teredo address")]
    return []


def refusal(address: IPAddress) -> str | None:
    """Why we will not connect to ``address``, or None when it is a public unicast address.

    An IPv6 address is judged by what it can reach: one that embeds an IPv4 address is as safe
    as that address; any other must be global unicast."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.is_loopback:
            return "a loopback address"
        if address.is_unspecified:
            return "a private or reserved address (unspecified)"
        translated = translated_ipv4(address)
        if translated is not None:
            inner, form = translated
            reason = _refusal_v4(inner)
            return None if reason is None else f"{reason}, inside {form} ({inner})"
        for inner, form in tunnelled_ipv4(address):
            reason = _refusal_v4(inner)
            if reason is not None:
                return f"{reason}, inside {form} ({inner})"
        if address in _SITE_LOCAL:
            return "a deprecated site-local address (a private network)"
        if address in _NAT64_LOCAL_USE:
            return "a private or reserved address (the local-use NAT64 prefix)"
        if address.is_link_local:
            return "a link-local address (cloud metadata lives here)"
        if address.is_multicast:
            return "a multicast address"
        if address not in _GLOBAL_UNICAST or any(address in net for net in _DOCUMENTATION):
            return "a private or reserved address (not global unicast)"
        if address.is_private or not address.is_global:
            return "a private or reserved address"
        return None
    return _refusal_v4(address)


def _refusal_v4(address: ipaddress.IPv4Address) -> str | None:
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
            raise UnsafeURL(f"{field}: {host} resolves to {address}, {reason}{DEVELOPMENT_HINT}", field=field)


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
                raise OSError(
                    errno.EACCES, f"refused to connect: {host} resolves to {result['host']}, {reason}{DEVELOPMENT_HINT}"
                )
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
            raise OSError(errno.EACCES, f"refused to connect: {literal} is {reason}{DEVELOPMENT_HINT}")
