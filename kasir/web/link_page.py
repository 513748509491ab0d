"""The buyer's side of a payment link: ``GET /l/{slug}`` shows what the link sells and asks what
it needs (a name, the amount when the buyer chooses it, a phone number if they like); ``POST
/l/{slug}`` makes the buyer's payment (kasir.links.service.claim) and sends them, 303, to its pay
page. A plain HTML form, no script; a GET writes nothing. No API key: the slug is the key.

A link that cannot be paid any more says why, and takes nothing: deactivated or expired, 410;
used up, 409. Bad input shows the form again, 400, with what to fix and what was typed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from kasir import phone
from kasir.api.body import read_params
from kasir.api.state import app_state
from kasir.clock import to_wire, utcnow
from kasir.errors import InvalidRequest, KasirError
from kasir.goods.catalog import image_url
from kasir.links import service, slugs
from kasir.money import rupiah
from kasir.payments.methods import METHODS
from kasir.web import i18n
from kasir.web import link_form_token as form_token
from kasir.web.link_texts import TEXTS
from kasir.web.routes import PAGE_HEADERS, TEMPLATES_DIR

router = APIRouter(tags=["payment links"], include_in_schema=False)

# The pay page's headers, but this page's form posts to itself.
HEADERS = {
    **PAGE_HEADERS,
    "Content-Security-Policy": PAGE_HEADERS["Content-Security-Policy"].replace(
        "form-action 'none'", "form-action 'self'"
    ),
}
MAX_NAME = 100
_THOUSANDS = re.compile(r"[0-9]{1,3}(?:\.[0-9]{3})+")
_DIGITS = re.compile(r"[0-9]{1,12}")


@lru_cache(maxsize=1)
def _templates() -> Environment:
    # Autoescape on: the merchant's title and description and the buyer's name are inert text.
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(default=True), auto_reload=False
    )
    env.filters["rupiah"] = rupiah
    return env


class BadInput(Exception):
    """A field of the buyer's form to fix: which, and the words (the page's key and values)."""

    def __init__(self, field: str, key: str, **values: Any) -> None:
        super().__init__(key)
        self.field, self.key, self.values = field, key, values


def _name(value: Any) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise BadInput("name", "error_name_missing")
    if len(text) > MAX_NAME:
        raise BadInput("name", "error_name_too_long", max=MAX_NAME)
    if not text.isprintable():
        raise BadInput("name", "error_name_invalid")
    return text


def _phone(value: Any) -> str | None:
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        return None
    try:
        return phone.normalise(text)  # 62…: the digits WhatsApp reaches the buyer by
    except ValueError:
        raise BadInput("phone", "error_phone_invalid") from None


def _amount(link: Mapping[str, Any], value: Any) -> int | None:
    """The buyer's amount on a link with an open one (None on a fixed price): whole rupiah, as
    Indonesians write it (``50000``, ``50.000``, ``Rp 50.000``)."""
    if link["amount"] is not None:
        return None
    text = value.strip() if isinstance(value, str) else ""
    text = re.sub(r"^rp\.?", "", text, flags=re.IGNORECASE).replace(" ", "")
    if not text:
        raise BadInput("amount", "error_amount_missing")
    if _THOUSANDS.fullmatch(text):
        text = text.replace(".", "")
    if not _DIGITS.fullmatch(text):
        raise BadInput("amount", "error_amount_invalid")
    amount = int(text)
    low, high = link["amount_min"], link["amount_max"]
    if not low <= amount <= high:
        raise BadInput("amount", "error_amount_out_of_range", low=rupiah(low), high=rupiah(high))
    return amount


def _language(request: Request) -> str:
    return i18n.choose(request.query_params.get("lang"), request.cookies, request.headers.get("accept-language"))


def _html(request: Request, name: str, status_code: int, **context: Any) -> HTMLResponse:
    lang = _language(request)
    words = {**i18n.TEXTS[lang], **TEXTS[lang]}
    switch_to = "en" if lang == "id" else "id"
    html = (
        _templates()
        .get_template(name)
        .render(lang=lang, t=words, switch_url=f"{request.url.path}?lang={switch_to}", **context)
    )
    response = HTMLResponse(html, status_code=status_code, headers=HEADERS)
    response.set_cookie(i18n.COOKIE, lang, max_age=365 * 86400, samesite="lax", httponly=True)
    return response


def _closed_page(request: Request, link: Mapping[str, Any], refused: KasirError) -> HTMLResponse:
    lang = _language(request)
    words = TEXTS[lang]
    state = {"link_inactive": "inactive", "link_expired": "expired"}.get(refused.code, "used_up")
    detail = words[f"{state}_detail"]
    if state == "expired":
        detail = detail.format(until=to_wire(link["expires_at"]))
    elif state == "used_up" and not link["reusable"]:
        detail = words["used_up_single"]
    return _html(
        request,
        "link_closed.html",
        refused.status_code,
        heading=words[state],
        detail=detail,
        state=state,
        merchant_name=link["merchant_name"],
        mode=link["mode"],
    )


def _not_found(request: Request) -> HTMLResponse:
    words = TEXTS[_language(request)]
    return _html(
        request, "link_closed.html", 404, heading=words["not_found"], detail=words["not_found_detail"], state="missing"
    )


def _form_page(
    request: Request,
    link: Mapping[str, Any],
    browser_key: str,
    *,
    values: Mapping[str, str] | None = None,
    error: str | None = None,
    error_field: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    method = METHODS[link["payment_method"]]
    image = None
    if link["image_public_id"] is not None:
        photo = {"public_id": link["image_public_id"]}
        # Same-origin paths, as on the pay page: the page is whatever host the buyer reached.
        image = {"url": image_url("", photo, thumbnail=True), "width": link["image_width"]}
        image["height"] = link["image_height"]
    response = _html(
        request,
        "link.html",
        status_code,
        link=link,
        method_name=method.name,
        image=image,
        values=values or {},
        error=error,
        error_field=error_field,
        token_field=form_token.FIELD,
        token=form_token.issue(browser_key, link["slug"]),
        action=slugs.page_path(link["slug"]),
    )
    response.set_cookie(
        form_token.COOKIE,
        browser_key,
        max_age=form_token.COOKIE_MAX_AGE,
        path=form_token.COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=app_state(request).settings.public_url.startswith("https://"),
    )
    return response


async def _link(request: Request, slug: str) -> tuple[dict[str, Any] | None, KasirError | None]:
    state = app_state(request)
    now = utcnow()

    def read(conn: Any) -> tuple[dict[str, Any] | None, KasirError | None]:
        link = service.find_for_page(conn, slug)
        if link is None:
            return None, None
        usage = service.usage_of(conn, [link["public_id"]], now)[link["public_id"]]
        return link, service.refusal(link, usage, now)

    return await state.db.read(read)


@router.get(slugs.PAGE_PREFIX + "{slug}", response_class=HTMLResponse, summary="A payment link's page")
async def link_page(request: Request, slug: str) -> Response:
    link, refused = await _link(request, slug)
    if link is None:
        return _not_found(request)
    if refused is not None:
        return _closed_page(request, link, refused)
    browser_key = request.cookies.get(form_token.COOKIE) or form_token.new_browser_key()
    return _form_page(request, link, browser_key)


@router.post(slugs.PAGE_PREFIX + "{slug}", response_class=HTMLResponse, summary="Pay through a payment link")
async def pay_through_link(request: Request, slug: str) -> Response:
    link, refused = await _link(request, slug)
    if link is None:
        return _not_found(request)
    state = app_state(request)
    words = TEXTS[_language(request)]
    browser_key = request.cookies.get(form_token.COOKIE)
    try:
        params = await read_params(request)
    except KasirError as exc:  # a control character, a body that is no form
        if refused is not None:
            return _closed_page(request, link, refused)
        error = words["error_input"].format(reason=exc.message)
        return _form_page(
            request, link, browser_key or form_token.new_browser_key(), error=error, status_code=exc.status_code
        )
    values = {name: params[name] for name in ("name", "phone", "amount") if isinstance(params.get(name), str)}
    nonce = form_token.nonce_of(browser_key, slug, params.get(form_token.FIELD))
    if refused is not None:
        # A double tap that used the link's last use up: the first tap's payment, not a refusal.
        sent = None if nonce is None else await state.db.read(lambda conn: service.sent_before(conn, link, nonce))
        return _closed_page(request, link, refused) if sent is None else _to_pay_page(sent)
    if browser_key is None or nonce is None:
        # No cookie (another site's form, or cookies off), or a token of another browser or
        # link: nothing is made; this page's own form, with what was typed, is one tap away.
        return _form_page(
            request,
            link,
            browser_key or form_token.new_browser_key(),
            values=values,
            error=words["error_form_expired"],
            status_code=403,
        )
    try:
        buyer = service.Buyer(
            name=_name(params.get("name")),
            phone=_phone(params.get("phone")),
            amount=_amount(link, params.get("amount")),
        )
    except BadInput as bad:
        return _form_page(
            request,
            link,
            browser_key,
            values=values,
            error=words[bad.key].format(**bad.values),
            error_field=bad.field,
            status_code=400,
        )
    now = utcnow()
    try:
        row = await state.db.write(lambda conn: service.claim(conn, slug, buyer, state.settings, now, once=nonce))
    except KasirError as exc:
        if exc.code in ("link_inactive", "link_expired", "link_used_up"):
            return _closed_page(request, link, exc)  # the last use went to a buyer a moment faster
        if isinstance(exc, InvalidRequest) and exc.field == "amount":
            low, high = rupiah(link["amount_min"] or 0), rupiah(link["amount_max"] or 0)
            error = words["error_amount_out_of_range"].format(low=low, high=high)
            return _form_page(request, link, browser_key, values=values, error=error, error_field="amount")
        # The method stopped being available, its codes are all taken, a file was deactivated:
        # the merchant's to fix, and the buyer is told to ask them.
        return _html(
            request,
            "link_closed.html",
            409 if exc.status_code < 500 else exc.status_code,
            heading=words["unavailable"],
            detail=words["unavailable_detail"],
            state="unavailable",
            merchant_name=link["merchant_name"],
            mode=link["mode"],
        )
    return _to_pay_page(row["invoice_id"])


def _to_pay_page(invoice_id: str) -> Response:
    # Relative: the pay page on the host the buyer is on (the CSP's form-action 'self' holds for
    # the redirect a form's answer makes, too).
    return RedirectResponse(f"/pay?invoice={quote(invoice_id, safe='')}", status_code=303, headers=HEADERS)
