"""The names a payment link goes by: its API id (``lnk_…``) and its public page's slug.

The slug is the only key to the public page, so it is unguessable: 16 characters of letters and
digits (95 bits). Letters and digits only, because links are pasted into WhatsApp, which reads
``_text_`` as italics and may cut a trailing ``-`` off a link.
"""

from __future__ import annotations

import re
import secrets
import string

LINK_PREFIX = "lnk_"
SLUG_LENGTH = 16
PAGE_PREFIX = "/l/"

_SLUG_ALPHABET = string.ascii_letters + string.digits
_SLUG = re.compile(rf"[A-Za-z0-9]{{{SLUG_LENGTH}}}")
_LINK_ID = re.compile(r"lnk_[0-9a-f]{24}")


def new_link_id() -> str:
    return LINK_PREFIX + secrets.token_hex(12)


def new_slug() -> str:
    return "".join(secrets.choice(_SLUG_ALPHABET) for _ in range(SLUG_LENGTH))


def plausible_slug(slug: str) -> bool:
    """Worth a query: every slug has this shape, and nothing else may reach the database."""
    return bool(_SLUG.fullmatch(slug))


def plausible_link_id(public_id: str) -> bool:
    return bool(_LINK_ID.fullmatch(public_id))


def page_path(slug: str) -> str:
    return PAGE_PREFIX + slug


def link_url(public_url: str, slug: str) -> str:
    """What the merchant shares: ``{KASIR_PUBLIC_URL}/l/<slug>``."""
    return public_url + page_path(slug)
