"""What every dashboard page shares: who is signed in, the CSRF check, rendering, the headers.

Pages are plain server-rendered HTML forms (no JavaScript needed), over the same service
functions as the API, scoped like the API to the signed-in user's merchant and the session's mode
(``Visitor.principal``). A refusal a service raises (``KasirError``) becomes an HTML page with its
status, so a foreign id is a 404 page, never another merchant's data and never a JSON error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape

from kasir.api.body import read_params
from kasir.api.state import AppState, app_state
from kasir.clock import to_wire, utcnow
from kasir.dashboard import texts
from kasir.errors import Forbidden, KasirError
from kasir.merchants.service import Principal
from kasir.money import rupiah
from kasir.team import sessions
from kasir.team.sessions import Visitor
from kasir.team.users import ROLES
from kasir.web import i18n

log = logging.getLogger("kasir.dashboard")

PREFIX = "/dashboard"
LOGIN = f"{PREFIX}/login"
TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "web" / "templates"
CSRF_FIELD = "csrf_token"
# Our own styles and (few) scripts only, no framing, forms post only here; the QR images are data:
# URLs or ours.
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


# Who may do what (docs/dashboard.md, "Team roles"): the owner everything; a developer the
# integration (webhooks, endpoints, keys, logs, sources) but not the team or the channels; a
# cashier what has been paid and the orders to hand over, never a secret or a setting.
EVERYONE = frozenset(ROLES)
OWNER = frozenset({"owner"})
BUILDERS = frozenset({"owner", "developer"})

# The pages the navigation offers, in its order: (path, the texts' key of its name, the roles it
# is shown to); filled from each page module's NAV_ENTRY by kasir.dashboard.pages.include.
NAV: list[tuple[str, str, frozenset[str]]] = []
# What a user whose password is a one-time one may reach before changing it.
_BEFORE_PASSWORD_CHANGE = frozenset({f"{PREFIX}/account", f"{PREFIX}/account/password", f"{PREFIX}/logout"})


class SignInRequired(Exception):
    """No valid session: a page redirects to the sign-in, a POST is refused."""


class PasswordChangeRequired(Exception):
    """Signed in with a one-time password: nothing but changing it, until it is changed."""


class CsrfRefused(Exception):
    """A state-changing request without this session's CSRF token."""


@lru_cache(maxsize=1)
def templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(default=True), auto_reload=False
    )
    env.filters["rupiah"] = rupiah
    env.filters["wib"] = to_wire
    return env


def language(request: Request) -> str:
    return i18n.choose(request.query_params.get("lang"), request.cookies, request.headers.get("accept-language"))


def render(
    request: Request,
    name: str,
    context: Mapping[str, Any],
    *,
    status_code: int = 200,
    visitor: Visitor | None = None,
    words: Mapping[str, Mapping[str, str]] | None = None,
) -> HTMLResponse:
    """The template ``name`` with ``context``; ``t`` holds the shared words (kasir.dashboard.texts)
    and the page's own ``words`` ({"id": {...}, "en": {...}}), in the visitor's language."""
    lang = language(request)
    shared = texts.TEXTS[lang]
    html = (
        templates()
        .get_template(name)
        .render(
            lang=lang,
            t={**shared, **words[lang]} if words else shared,
            visitor=visitor,
            path=request.url.path,
            query=str(request.url.query),
            switch_lang="en" if lang == "id" else "id",
            csrf_field=CSRF_FIELD,
            nav=NAV,
            **context,
        )
    )
    response = HTMLResponse(html, status_code=status_code, headers=HEADERS)
    if request.query_params.get("lang") in i18n.LANGUAGES:
        response.set_cookie(i18n.COOKIE, lang, max_age=365 * 86400, samesite="lax", httponly=True)
    return response


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=HEADERS)


def principal(visitor: Visitor) -> Principal:
    """The API's caller for this visitor: the same scoping, merchant and mode, as an API key has."""
    return Principal(
        merchant_id=visitor.merchant_id,
        username=visitor.merchant_username,
        mode=visitor.mode,  # type: ignore[arg-type]
        key_hash=f"dashboard:{visitor.user_id}",
    )


def session_token(request: Request) -> str | None:
    return request.cookies.get(sessions.COOKIE)


async def current_visitor(request: Request) -> Visitor | None:
    token = session_token(request)
    if not token:
        return None
    state = app_state(request)
    settings = state.settings
    now = utcnow()
    found = await state.db.read(lambda conn: sessions.find(conn, token, now, settings.dashboard_idle_timeout))
    if found is None:
        return None
    visitor, stale = found
    if stale:
        await state.db.write(lambda conn: sessions.touch(conn, visitor.session_id, now))
    return visitor


async def signed_in(request: Request) -> Visitor:
    """The dependency of every page but the sign-in: the visitor, or off to the sign-in page."""
    visitor = await current_visitor(request)
    if visitor is None:
        raise SignInRequired
    if visitor.must_change_password and request.url.path not in _BEFORE_PASSWORD_CHANGE:
        raise PasswordChangeRequired
    return visitor


def allowed(roles: frozenset[str]) -> Callable[[Request], Coroutine[Any, Any, Visitor]]:
    """The dependency of a page only ``roles`` may use: the visitor, once signed in with one of
    them; anyone else gets the 403 page (a GET) and changes nothing (a POST). Pages hide what a
    role cannot do, and this refuses it all the same when the URL is typed."""

    async def visitor_in_role(request: Request) -> Visitor:
        visitor = await signed_in(request)
        if visitor.role not in roles:
            raise Forbidden(texts.TEXTS[language(request)]["role_refused"], code="role_refused")
        return visitor

    return visitor_in_role


def may(visitor: Visitor | None, roles: frozenset[str]) -> bool:
    """Whether a page should offer what only ``roles`` may do (the route refuses it anyway)."""
    return visitor is not None and visitor.role in roles


async def form(request: Request, visitor: Visitor, *, files: frozenset[str] = frozenset()) -> dict[str, Any]:
    """A POSTed form, once its CSRF token is this session's. ``files``: the multipart fields that
    may be uploads (``kasir.api.body.read_params``); any other upload is refused."""
    params = await read_params(request, files=files)
    token = session_token(request)
    given = params.pop(CSRF_FIELD, None)
    if token is None or not isinstance(given, str) or not sessions.csrf_matches(token, given):
        raise CsrfRefused
    return params


def set_session_cookie(response: Response, token: str, state: AppState) -> None:
    response.set_cookie(
        sessions.COOKIE,
        token,
        max_age=int(state.settings.dashboard_session_lifetime),
        httponly=True,
        samesite="lax",
        secure=state.settings.public_url.startswith("https://"),
        path=PREFIX,
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(sessions.COOKIE, path=PREFIX, httponly=True, samesite="lax")


def _error_page(request: Request, status_code: int, message: str, code: str, visitor: Visitor | None) -> HTMLResponse:
    return render(
        request, "dashboard/error.html", {"message": message, "code": code}, status_code=status_code, visitor=visitor
    )


class DashboardRoute(APIRoute):
    """Runs a page, and turns what it refuses into pages: no session → the sign-in (a GET) or
    403 (anything else: a POST without a session changes nothing); a bad CSRF token → 403; a
    service's refusal → its status as a page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInRequired:
                if request.method in ("GET", "HEAD"):
                    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                    return redirect(f"{LOGIN}?next={quote(target, safe='')}")
                return _error_page(request, 403, texts.TEXTS[language(request)]["sign_in_first"], "not_signed_in", None)
            except PasswordChangeRequired:
                if request.method in ("GET", "HEAD"):
                    return redirect(f"{PREFIX}/account")
                visitor = await current_visitor(request)
                words = texts.TEXTS[language(request)]
                return _error_page(request, 403, words["must_change_password"], "password_change_required", visitor)
            except CsrfRefused:
                visitor = await current_visitor(request)
                return _error_page(
                    request, 403, texts.TEXTS[language(request)]["csrf_refused"], "csrf_refused", visitor
                )
            except KasirError as exc:
                visitor = await current_visitor(request)
                return _error_page(request, exc.status_code, exc.message, exc.code, visitor)

        return run


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a dashboard path of ours, never another site."""
    if value and value.startswith(PREFIX) and not value.startswith("//") and "\\" not in value:
        return value
    return PREFIX
