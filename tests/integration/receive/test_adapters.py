"""The receiver SDK's framework adapters, each in its real framework over a real socket: FastAPI
under uvicorn, Flask under werkzeug's server, Django (configured in-process, no database) under
wsgiref. A request ``kasir trigger`` would send reaches the view with its event; a tampered,
unsigned, wrongly signed or stale one is answered 401 and the view never runs."""

from __future__ import annotations

import json
import sys
import threading
import time
import types
import wsgiref.simple_server
from collections.abc import Callable, Iterator
from typing import Any

import django
import pytest
import requests
from django.conf import settings as django_settings
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path as django_path
from fastapi import Depends, FastAPI
from flask import Flask, g
from werkzeug.serving import make_server as werkzeug_server

from kasir.devtools.trigger import new_secret, render, sample_event
from kasir.dialects.base import Rendered
from kasir.receive import DIALECTS, Event, verify
from kasir.receive.django import verify_webhook as django_verify_webhook
from kasir.receive.flask import verify_webhook as flask_verify_webhook
from kasir.receive.starlette import VerifyWebhook
from tests.conftest import LiveServer

SECRET, OLD_SECRET = new_secret(), new_secret()
ALL = sorted(DIALECTS)
TIMED = ["bayargg", "standard"]
FRAMEWORKS = ["fastapi", "flask", "django"]
SIGNATURE_HEADER = {
    "bayargg": "X-Webhook-Signature",
    "standard": "webhook-signature",
    "digiflazz": "X-Hub-Signature",
    "ilenpay": "X-Ilen-Signature",
    "isikuota": "X-Signature",
    "xendit": "x-callback-token",
}
# What each view saw: (framework, dialect, event). Views append; every test starts it empty.
SEEN: list[tuple[str, str, Event]] = []


@pytest.fixture(autouse=True)
def _nothing_seen_yet() -> None:
    SEEN.clear()


def answer(framework: str, dialect: str, event: Event) -> dict[str, Any]:
    SEEN.append((framework, dialect, event))
    return {"ok": True, "type": event.type, "id": event.id}


# --- FastAPI / Starlette --------------------------------------------------------------------


def fastapi_route(app: FastAPI, dialect: str) -> None:
    verified = VerifyWebhook([SECRET, OLD_SECRET], dialect=dialect)

    @app.post(f"/hooks/{dialect}")
    async def hook(event: Event = Depends(verified)) -> dict[str, Any]:
        return answer("fastapi", dialect, event)


def fastapi_app() -> FastAPI:
    app = FastAPI()
    for dialect in ALL:
        fastapi_route(app, dialect)
    return app


# --- Flask ----------------------------------------------------------------------------------


def flask_route(app: Flask, dialect: str) -> None:
    @flask_verify_webhook([SECRET, OLD_SECRET], dialect=dialect)
    def hook(event: Event) -> dict[str, Any]:
        assert g.kasir_event is event
        return answer("flask", dialect, event)

    app.add_url_rule(f"/hooks/{dialect}", endpoint=f"hook_{dialect}", view_func=hook, methods=["POST"])


def flask_app() -> Flask:
    app = Flask("kasir_receive_test")
    for dialect in ALL:
        flask_route(app, dialect)
    return app


# --- Django ---------------------------------------------------------------------------------

DJANGO_URLCONF = "kasir_receive_test_urls"


def django_view(dialect: str) -> Callable[..., HttpResponse]:
    @django_verify_webhook([SECRET, OLD_SECRET], dialect=dialect)
    def hook(request: HttpRequest) -> HttpResponse:
        return JsonResponse(answer("django", dialect, request.kasir_event))

    return hook


def django_app() -> WSGIHandler:
    """Django with the least settings that serve a view: no apps, no database. The CSRF
    middleware is on, as in any real project: the adapter's view must be exempt from it."""
    urls = types.ModuleType(DJANGO_URLCONF)
    urls.urlpatterns = [django_path(f"hooks/{d}", django_view(d)) for d in ALL]  # type: ignore[attr-defined]
    sys.modules[DJANGO_URLCONF] = urls
    if not django_settings.configured:
        django_settings.configure(
            DEBUG=False,
            SECRET_KEY="kasir-receive-adapter-tests",
            ALLOWED_HOSTS=["127.0.0.1"],
            ROOT_URLCONF=DJANGO_URLCONF,
            MIDDLEWARE=["django.middleware.csrf.CsrfViewMiddleware"],
            INSTALLED_APPS=[],
            DATABASES={},
            USE_TZ=True,
        )
        django.setup()
    assert django_settings.ROOT_URLCONF == DJANGO_URLCONF
    return WSGIHandler()


class QuietHandler(wsgiref.simple_server.WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


# --- the servers ----------------------------------------------------------------------------


class ServingThread:
    """A WSGI server (werkzeug's or wsgiref's) serving in a thread until the block ends."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> ServingThread:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)


@pytest.fixture(scope="module", params=FRAMEWORKS)
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """(framework, base URL) of a live server with one hook per dialect at /hooks/<dialect>."""
    framework = str(request.param)
    if framework == "fastapi":
        with LiveServer(fastapi_app()) as live:
            yield framework, live.url
    elif framework == "flask":
        with ServingThread(werkzeug_server("127.0.0.1", 0, flask_app(), threaded=True)) as live:
            yield framework, live.url
    else:
        wsgi = wsgiref.simple_server.make_server("127.0.0.1", 0, django_app(), handler_class=QuietHandler)
        with ServingThread(wsgi) as live:
            yield framework, live.url


def signed(dialect: str, *, secret: str = SECRET, timestamp: int | None = None) -> Rendered:
    return render(sample_event("payment.paid"), dialect, secret, timestamp=timestamp)


def post(server: tuple[str, str], dialect: str, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(f"{server[1]}/hooks/{dialect}", data=body, headers=headers, timeout=10)


def assert_refused(response: requests.Response) -> None:
    assert response.status_code == 401, response.text
    assert "webhook refused" in response.text
    assert SEEN == []  # the view did not run


# --- the tests ------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", ALL)
def test_valid_request_reaches_the_view_with_its_event(server: tuple[str, str], dialect: str) -> None:
    rendered = signed(dialect)
    response = post(server, dialect, rendered.body, rendered.headers)
    assert response.status_code == 200, response.text
    expected = verify(rendered.body, rendered.headers, SECRET, dialect=dialect)
    assert response.json() == {"ok": True, "type": "payment.paid", "id": expected.id}
    assert len(SEEN) == 1
    framework, seen_dialect, event = SEEN[0]
    assert (framework, seen_dialect) == (server[0], dialect)
    assert event == expected  # the whole event: type, id, data, timestamp, payload
    assert event.data["final_amount"] == 50347


@pytest.mark.parametrize("dialect", ALL)
def test_the_old_secret_still_works_during_rotation(server: tuple[str, str], dialect: str) -> None:
    rendered = signed(dialect, secret=OLD_SECRET)
    response = post(server, dialect, rendered.body, rendered.headers)
    assert response.status_code == 200, response.text
    assert len(SEEN) == 1


@pytest.mark.parametrize("dialect", ALL)
def test_tampered_request_is_refused(server: tuple[str, str], dialect: str) -> None:
    rendered = signed(dialect)
    if dialect == "xendit":  # its token does not cover the body (seed 003): tamper with the token
        token = rendered.headers["x-callback-token"]
        # Its last character changed for another (always another: the secret is random).
        headers = {**rendered.headers, "x-callback-token": token[:-1] + ("B" if token.endswith("A") else "A")}
        body = rendered.body
    else:  # the invoice id is signed in every other dialect
        invoice = json.loads(rendered.body).get("invoice_id") or json.loads(rendered.body)["data"]["invoice_id"]
        tampered = invoice[:-1] + ("Y" if invoice.endswith("X") else "X")  # always another
        headers, body = rendered.headers, rendered.body.replace(invoice.encode(), tampered.encode(), 1)
    assert body != rendered.body or headers != rendered.headers
    assert_refused(post(server, dialect, body, headers))


@pytest.mark.parametrize("dialect", ALL)
def test_unsigned_request_is_refused(server: tuple[str, str], dialect: str) -> None:
    rendered = signed(dialect)
    assert_refused(post(server, dialect, rendered.body, {"Content-Type": "application/json"}))
    without_signature = {k: v for k, v in rendered.headers.items() if k != SIGNATURE_HEADER[dialect]}
    assert_refused(post(server, dialect, rendered.body, without_signature))


@pytest.mark.parametrize("dialect", ALL)
def test_wrong_secret_is_refused(server: tuple[str, str], dialect: str) -> None:
    rendered = signed(dialect, secret=new_secret())
    assert_refused(post(server, dialect, rendered.body, rendered.headers))


@pytest.mark.parametrize("dialect", TIMED)
def test_stale_or_future_request_is_refused(server: tuple[str, str], dialect: str) -> None:
    now = int(time.time())
    for timestamp in (now - 301, now + 400):
        rendered = signed(dialect, timestamp=timestamp)
        assert_refused(post(server, dialect, rendered.body, rendered.headers))


@pytest.mark.parametrize("dialect", ["standard", "isikuota"])
def test_body_that_is_not_json_is_refused(server: tuple[str, str], dialect: str) -> None:
    rendered = signed(dialect)
    assert_refused(post(server, dialect, b"not json", rendered.headers))
