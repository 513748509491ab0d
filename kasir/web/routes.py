"""The buyer's side: ``GET /pay?invoice=…`` (the page), ``GET /pay/status`` (its live status),
``GET /download/{token}`` (the file a paid payment delivers) and ``GET /media/…`` (product
photos). No API key: the invoice link is what a buyer has."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import Connection

from kasir.api.state import AppState, app_state
from kasir.clock import utcnow
from kasir.errors import NotFound
from kasir.goods import catalog, downloads
from kasir.goods.photos import MEDIA_TYPE
from kasir.goods.storage import MediaStore
from kasir.money import rupiah
from kasir.payments import service
from kasir.payments.service import PayPagePayment
from kasir.payments.views import PaymentStatus
from kasir.web import i18n
from kasir.web.page import confirms_automatically, needs_connection, page_view

router = APIRouter(tags=["pay page"])
STATIC_DIR = Path(__file__).parent / "static"
TEMPLATES_DIR = Path(__file__).parent / "templates"

# The page runs only our own script and styles. Referrer-Policy no-referrer: the page's URL is
# the key to its content, and must not travel to the sites its links and redirect lead to.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


@lru_cache(maxsize=1)
def _templates() -> Environment:
    # Autoescape on: merchant- and buyer-supplied text (description, names) is always inert.
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(default=True), auto_reload=False
    )
    env.filters["rupiah"] = rupiah
    env.filters["urlquote"] = lambda value: quote(str(value), safe="")
    return env


def _render(name: str, status_code: int, lang: str, **context: Any) -> HTMLResponse:
    html = _templates().get_template(name).render(lang=lang, t=i18n.TEXTS[lang], **context)
    response = HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)
    response.set_cookie(i18n.COOKIE, lang, max_age=365 * 86400, samesite="lax", httponly=True)
    return response


async def _current_view(state: AppState, invoice: str) -> tuple[PayPagePayment, dict[str, Any]] | None:
    """The payment and the page's view of it. The payment is read once, outside any transaction
    (on PostgreSQL on the event loop), and written only when it must be expired first: the page
    is polled every few seconds by every waiting buyer. Only a paid payment reads more (its
    goods), and writes only to create its download grant, once."""
    now = utcnow()
    payment = await service.pay_page_payment(state.db, invoice, state.settings.public_url, now)
    if payment is None:
        return None
    if not needs_connection(payment):
        return payment, page_view(None, payment, state.settings, now)
    paid = payment  # a paid payment never changes again: the row read above stands

    def read(conn: Connection) -> dict[str, Any] | None:
        return None if downloads.needs_grant(conn, paid) else page_view(conn, paid, state.settings, now)

    view = await state.db.read(read)
    if view is None:
        view = await state.db.write(lambda conn: page_view(conn, paid, state.settings, now))
    return payment, view


@router.get("/pay", response_class=HTMLResponse, summary="The hosted pay page", include_in_schema=False)
async def pay_page(
    request: Request, invoice: str = Query(default=""), lang: str | None = Query(default=None)
) -> Response:
    state = app_state(request)
    language = i18n.choose(lang, request.cookies, request.headers.get("accept-language"))
    current = await _current_view(state, invoice)
    if current is None:
        return _render("not_found.html", 404, language, invoice=invoice)
    payment, view = current
    automatic = False
    if view["status"] == PaymentStatus.PENDING:
        # Only a payment still to be paid shows the promise; the status poll never reads this.
        automatic = await state.db.read(
            lambda conn: confirms_automatically(conn, payment, state.settings, state.pollers)
        )
    switch_to = "en" if language == "id" else "id"
    return _render(
        "pay.html",
        200,
        language,
        p=view,
        confirms_automatically=automatic,
        texts=i18n.TEXTS[language],
        switch_url=f"/pay?invoice={quote(invoice, safe='')}&lang={switch_to}",
        redirect_delay=20 if (view["has_file"] or view["has_content"]) else 5,
    )


@router.get("/pay/status", summary="A payment's live status, as the pay page shows it", tags=["pay page"])
async def pay_status(request: Request, invoice: str = Query(default="")) -> JSONResponse:
    current = await _current_view(app_state(request), invoice)
    if current is None:
        raise NotFound(f"payment {invoice} not found", code="payment_not_found")
    return JSONResponse({"success": True, "payment": current[1]}, headers={"Cache-Control": "no-store"})


@router.get("/download/{token}", summary="Download the file a paid payment delivers", tags=["pay page"])
async def download(request: Request, token: str) -> Response:
    state = app_state(request)
    now = utcnow()
    granted = await state.db.write(lambda conn: downloads.redeem(conn, token, now))
    path = MediaStore(state.settings.resolved_media_dir).path(granted.storage_key)
    return FileResponse(
        path,
        media_type=granted.content_type,
        filename=granted.filename,  # Content-Disposition: attachment, RFC 5987-encoded when needed
        headers={
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
            "X-Downloads-Remaining": str(granted.remaining),
        },
    )


@router.get("/media/{name}", summary="A product photo", tags=["pay page"])
async def media(request: Request, name: str) -> Response:
    state = app_state(request)
    public_id, _, extension = name.partition(".")
    thumbnail = public_id.endswith("-thumb")
    public_id = public_id.removesuffix("-thumb")
    if extension != "webp" or not public_id.startswith("img_") or len(public_id) > 40:
        raise NotFound("no such image", code="image_not_found")
    files = await state.db.read(lambda conn: catalog.image_files(conn, public_id))
    if files is None:
        raise NotFound("no such image", code="image_not_found")
    key = files[1] if thumbnail else files[0]
    return FileResponse(
        MediaStore(state.settings.resolved_media_dir).path(key),
        media_type=MEDIA_TYPE,
        headers={"Cache-Control": "public, max-age=604800, immutable", "X-Content-Type-Options": "nosniff"},
    )
