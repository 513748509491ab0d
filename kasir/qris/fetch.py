"""Fetching a QR image a client points us at (``image_url`` of qris-convert and qris-info).

The URL is the client's, the connection is ours: it goes through the SSRF guard (checked before
each hop, pinned at connect by the session's guarded resolver), follows at most a few redirects
(each re-checked, since aiohttp's resolver is not consulted for an IP literal in a Location),
and stops at a size and a time limit.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urljoin

import aiohttp

from kasir.errors import InvalidRequest, PayloadTooLarge
from kasir.ssrf import UnsafeURL, check_literal_at_send, check_url

MAX_REDIRECTS = 3
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


async def fetch_image(
    session: aiohttp.ClientSession,
    url: str,
    *,
    max_bytes: int,
    seconds: float,
    allow_private: bool,
) -> bytes:
    """The image at ``url``, at most ``max_bytes``, within ``seconds`` in all (redirects included)."""
    try:
        async with asyncio.timeout(seconds):
            return await _fetch(session, url, max_bytes, allow_private, seconds)
    except TimeoutError:
        raise InvalidRequest(
            f"image_url did not deliver the image within {seconds:g} s", field="image_url", code="image_url_timeout"
        ) from None


async def _fetch(
    session: aiohttp.ClientSession, url: str, max_bytes: int, allow_private: bool, seconds: float
) -> bytes:
    for _ in range(MAX_REDIRECTS + 1):
        await check_url(url, allow_private=allow_private, require_https=False, field="image_url")
        try:
            if not allow_private:
                check_literal_at_send(url)
            async with session.get(
                url,
                allow_redirects=False,
                # The session's own timeout is the webhook one; this fetch has its own budget.
                timeout=aiohttp.ClientTimeout(total=seconds),
                headers={"Accept": "image/png, image/jpeg, image/gif, image/webp", "Accept-Encoding": "identity"},
            ) as response:
                if response.status in _REDIRECTS and response.headers.get("Location"):
                    url = urljoin(url, response.headers["Location"])
                    continue
                if response.status != 200:
                    raise InvalidRequest(
                        f"image_url answered HTTP {response.status}", field="image_url", code="image_url_failed"
                    )
                if response.content_length is not None and response.content_length > max_bytes:
                    raise _too_large(max_bytes)
                body = bytearray()
                async for chunk in response.content.iter_chunked(64 * 1024):
                    body += chunk
                    if len(body) > max_bytes:
                        raise _too_large(max_bytes)
                return bytes(body)
        except UnsafeURL:
            raise
        except TimeoutError:
            raise  # the caller's budget, reported as such
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            # The guarded resolver refuses a private address with an OSError; say so plainly.
            reason = str(exc) or type(exc).__name__
            code = "unsafe_url" if "refused to connect" in reason else "image_url_failed"
            error = UnsafeURL if code == "unsafe_url" else InvalidRequest
            raise error(f"image_url could not be fetched: {reason}", field="image_url", code=code) from None
    raise InvalidRequest(
        f"image_url redirected more than {MAX_REDIRECTS} times", field="image_url", code="image_url_failed"
    )


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the image at image_url is larger than {max_bytes} bytes", code="image_too_large")
