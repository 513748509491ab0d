"""The public link page's form token: a form is sent by the browser that was shown it, once.

The page has no session and asks for no password, so the classic CSRF harm (acting with a
victim's credentials) is absent; what remains is another site making its visitors' browsers post
the form, taking a capped link's uses from addresses spread wide enough to pass the throttle. So
the page gives the browser a random key in a cookie (``SameSite=Lax``: a cross-site POST does not
carry it, ``HttpOnly``: no script reads it) and the form a token, an HMAC of a fresh nonce under
that key: a POST needs both, and a page elsewhere has neither. The nonce also names the form
once: a double tap (or a resent POST) answers the payment the first one made
(kasir.links.service.claim), instead of holding a second use.

Nothing is stored for it, and a GET writes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

COOKIE = "kasir_link_form"
FIELD = "form_token"
COOKIE_PATH = "/l/"
COOKIE_MAX_AGE = 7 * 86400
_CONTEXT = b"kasir-link-form"
_MAX_TOKEN = 100


def new_browser_key() -> str:
    return secrets.token_urlsafe(32)


def _mac(browser_key: str, slug: str, nonce: str) -> str:
    message = b"|".join((_CONTEXT, slug.encode(), nonce.encode()))
    return hmac.new(browser_key.encode(), message, hashlib.sha256).hexdigest()


def issue(browser_key: str, slug: str) -> str:
    """A token for one render of the form of ``slug``, good in this browser only."""
    nonce = secrets.token_urlsafe(16)
    return f"{nonce}.{_mac(browser_key, slug, nonce)}"


def nonce_of(browser_key: str | None, slug: str, token: object) -> str | None:
    """The form's nonce when ``token`` was issued for ``slug`` under ``browser_key``, else None."""
    if not browser_key or not isinstance(token, str) or len(token) > _MAX_TOKEN or token.count(".") != 1:
        return None
    nonce, mac = token.split(".")
    if not nonce or not hmac.compare_digest(_mac(browser_key, slug, nonce), mac):
        return None
    return nonce
