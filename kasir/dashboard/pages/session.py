"""Signing in and out, changing the password, switching between test and live."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import Connection

from kasir.api.body import read_params
from kasir.api.state import app_state
from kasir.clock import utcnow
from kasir.dashboard.texts import TEXTS
from kasir.dashboard.web import (
    EVERYONE,
    LOGIN,
    PREFIX,
    DashboardRoute,
    clear_session_cookie,
    current_visitor,
    form,
    language,
    redirect,
    render,
    safe_next,
    session_token,
    set_session_cookie,
    signed_in,
)
from kasir.errors import InvalidRequest
from kasir.merchants.keys import MODES
from kasir.team import sessions, users
from kasir.team.sessions import Visitor

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
NAV_ENTRY = (f"{PREFIX}/account", "account", EVERYONE)


@router.get(LOGIN)
async def login_page(request: Request) -> Response:
    if await current_visitor(request) is not None:
        return redirect(safe_next(request.query_params.get("next")))
    notice = TEXTS[language(request)]["signed_out"] if request.query_params.get("signed_out") else None
    return render(request, "dashboard/login.html", {"next": request.query_params.get("next", ""), "notice": notice})


@router.post(LOGIN)
async def login(request: Request) -> Response:
    state = app_state(request)
    params = await read_params(request)
    email = params.get("email") if isinstance(params.get("email"), str) else ""
    password = params.get("password") if isinstance(params.get("password"), str) else ""
    target = safe_next(params.get("next") if isinstance(params.get("next"), str) else None)
    words = TEXTS[language(request)]
    address = state.addresses(request.scope)
    account = (email or "").strip().lower()[:254]
    wait = await state.login_throttle.wait(account, address)
    context: dict[str, Any] = {"next": target, "email": email}
    if wait > 0:
        context["error"] = words["sign_in_throttled"].format(seconds=int(wait) + 1)
        return render(request, "dashboard/login.html", context, status_code=429)
    now = utcnow()
    settings = state.settings

    def sign_in(conn: Connection) -> str | None:
        user = users.check_password(conn, account, password or "", now)
        if user is None:
            return None
        return sessions.start(conn, user["id"], now, settings.dashboard_session_lifetime, address)

    token = await state.db.write(sign_in)
    if token is None:
        await state.login_throttle.failed(account, address)
        context["error"] = words["sign_in_failed"]
        return render(request, "dashboard/login.html", context, status_code=401)
    response = redirect(target)
    set_session_cookie(response, token, state)
    return response


@router.post(f"{PREFIX}/logout")
async def logout(request: Request, visitor: Visitor = Depends(signed_in)) -> Response:
    await form(request, visitor)
    state = app_state(request)
    token = session_token(request)
    if token:
        await state.db.write(lambda conn: sessions.end(conn, token))
    response = redirect(f"{LOGIN}?signed_out=1")
    clear_session_cookie(response)
    return response


@router.get(f"{PREFIX}/account")
async def account_page(request: Request, visitor: Visitor = Depends(signed_in)) -> Response:
    return render(request, "dashboard/account.html", {"done": request.query_params.get("done")}, visitor=visitor)


@router.post(f"{PREFIX}/account/password")
async def change_password(request: Request, visitor: Visitor = Depends(signed_in)) -> Response:
    params = await form(request, visitor)
    state = app_state(request)
    now = utcnow()
    current = params.get("current_password")
    new = params.get("new_password")

    def change(conn: Connection) -> None:
        users.change_password(
            conn,
            {"id": visitor.user_id},
            current if isinstance(current, str) else "",
            new if isinstance(new, str) else "",
            now,
            keep_session=visitor.session_id,
        )

    try:
        await state.db.write(change)
    except InvalidRequest as exc:
        return render(request, "dashboard/account.html", {"error": exc.message}, status_code=400, visitor=visitor)
    return redirect(f"{PREFIX}/account?done=password")


@router.post(f"{PREFIX}/mode")
async def switch_mode(request: Request, visitor: Visitor = Depends(signed_in)) -> Response:
    params = await form(request, visitor)
    mode = params.get("mode")
    if mode not in MODES:
        raise InvalidRequest("mode must be test or live", field="mode", code="invalid_mode")
    state = app_state(request)
    await state.db.write(lambda conn: sessions.switch_mode(conn, visitor.session_id, str(mode)))
    # Back to the overview: a page of the other mode's ids would be a 404 now.
    return redirect(PREFIX)
