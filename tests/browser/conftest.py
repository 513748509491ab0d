"""Browser fixtures: Debian's Chromium driven by Playwright's sync API, a phone-sized context per
test, a shop site for redirects, and full-page screenshots under test-output/screenshots/.

No ``playwright install``: the browser is /usr/bin/chromium. Without it the browser tests skip,
except under ``CI=true``, where they fail (the rule of the PostgreSQL fixture in
tests/conftest.py).

While Playwright's sync API is up it keeps an asyncio loop marked running in the main thread, so
any later test calling asyncio.run() or anyio.run() would fail ("Already running asyncio in this
thread"). The one Chromium of the session is therefore started on first use and stopped as soon
as the run leaves tests/browser (``pytest_runtest_teardown`` below), not at the session's end.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from kasir.merchants.service import NewMerchant
from tests.conftest import IN_CI, LiveServer, auth

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-output" / "screenshots"

# An Indonesian buyer's phone: 390×844 CSS pixels (an iPhone 12-class screen), touch, id-ID.
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "id-ID",
}


class SharedChromium:
    """The session's Chromium: launched on first use, stopped by ``stop`` (and relaunched if a
    browser test comes again after it)."""

    def __init__(self) -> None:
        self._playwright: Any = None
        self._browser: Any = None

    def new_context(self, **options: Any) -> Any:
        if self._browser is None:
            from playwright.sync_api import sync_playwright

            self._playwright = sync_playwright().start()
            self._browser = self._playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        return self._browser.new_context(**options)

    def stop(self) -> None:
        if self._playwright is not None:
            try:
                self._browser.close()
            finally:
                self._playwright.stop()
                self._playwright = self._browser = None


_CHROMIUM = SharedChromium()


@pytest.fixture(scope="session")
def browser() -> Iterator[SharedChromium]:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (apt-get install chromium)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    yield _CHROMIUM
    _CHROMIUM.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """After the last browser test in a row (its contexts closed), stop Chromium and Playwright."""
    result = yield
    if nextitem is None or Path(__file__).parent not in Path(nextitem.path).parents:
        _CHROMIUM.stop()
    return result


@dataclass
class Phone:
    """One browser context on a phone, its page, and what the page logged as errors."""

    context: Any
    page: Any
    errors: list[str] = field(default_factory=list)


@pytest.fixture
def open_phone(browser: SharedChromium) -> Iterator[Callable[..., Phone]]:
    """Opens a phone context (PHONE, overridable) with one page; closed after the test."""
    opened: list[Phone] = []

    def open_(**overrides: Any) -> Phone:
        context = browser.new_context(**{**PHONE, **overrides})
        context.set_default_timeout(10_000)
        page = context.new_page()
        phone = Phone(context, page)
        page.on("console", lambda msg: phone.errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: phone.errors.append(f"uncaught: {exc}"))
        opened.append(phone)
        return phone

    yield open_
    for phone in opened:
        phone.context.close()


@pytest.fixture
def phone(open_phone: Callable[..., Phone]) -> Phone:
    return open_phone()


@pytest.fixture
def shoot(request: pytest.FixtureRequest) -> Callable[[Any, str], Path]:
    """``shoot(page, "paid")`` saves ``<test>-<backend>-<step>.png``, full page."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    callspec = getattr(request.node, "callspec", None)
    backend = callspec.params.get("backend", "nobackend") if callspec else "nobackend"
    stem = f"{request.node.originalname}-{backend}"

    def shoot_(page: Any, step: str) -> Path:
        path = SCREENSHOTS / f"{stem}-{re.sub(r'[^A-Za-z0-9_.-]', '_', step)}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return shoot_


@pytest.fixture
def api(live_server: LiveServer, merchant: NewMerchant) -> Iterator[httpx.Client]:
    """The merchant's API over real HTTP, with the test key."""
    with httpx.Client(base_url=live_server.url, headers=auth(merchant.test_api_key), timeout=30) as client:
        yield client


# --- the shop a paid buyer is sent back to ----------------------------------------------------

THANKS_HTML = b'<!doctype html><html lang="en"><head><link rel="icon" href="data:,"><title>Shop</title></head><body><p>thanks</p></body></html>'


@dataclass
class ShopSite:
    url: str
    visits: list[dict[str, str]]

    @property
    def thanks(self) -> str:
        return f"{self.url}/thanks"


@pytest.fixture
def shop_site() -> Iterator[ShopSite]:
    """A tiny http.server on another port: ``/thanks`` answers "thanks" and records the headers
    of every visit (the pay page sends no Referer)."""
    visits: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/thanks":
                self.send_error(404)
                return
            visits.append({k.lower(): v for k, v in self.headers.items()})
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(THANKS_HTML)))
            self.end_headers()
            self.wfile.write(THANKS_HTML)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield ShopSite(f"http://127.0.0.1:{server.server_address[1]}", visits)
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)
