"""``create_app(settings)``: the ASGI app. Its lifespan owns the engine, the rate limiters and the
background (kasir.background); nothing is built at import time."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

import kasir.alerts
import kasir.store  # noqa: F401 - registers the on-paid hook of WA Store orders (kasir.payments.paid_hooks)
from kasir import __version__, secrets_at_rest
from kasir.api import errors, openapi
from kasir.api.body import BodySizeLimit
from kasir.api.headers import SecurityHeaders
from kasir.api.login_throttle import LoginThrottle
from kasir.api.ratelimit import build_rate_limiter
from kasir.api.routes import (
    account,
    deliveries,
    goods,
    links,
    metrics,
    mutations,
    payments,
    providers,
    qris,
    sources,
    store,
    webhooks,
)
from kasir.api.state import AppState
from kasir.api.throttle import AuthThrottle, ClientAddresses, PublicRateLimit
from kasir.background import Background
from kasir.config import Settings
from kasir.dashboard import pages as dashboard
from kasir.db.engine import Database, build_engine
from kasir.delivery.metrics import DeliveryMetrics
from kasir.logs import install_secret_masking
from kasir.payments.sources import configured_sources
from kasir.sources.confirmation import pollers_of
from kasir.ssrf import GuardedResolver
from kasir.web import link_page
from kasir.web import routes as web


def create_app(settings: Settings, *, database: Database | None = None, background: bool = True) -> FastAPI:
    """``database`` lets a caller share one it already has (tests, the CLI); otherwise the app
    builds its own from the settings and disposes of it on shutdown. ``background=False`` is
    ``kasir serve --no-worker``: an API node that leaves every background duty (deliveries,
    sweeps, pollers) to ``kasir worker`` nodes (docs/architecture.md, "Background duties")."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        install_secret_masking()
        db = database or Database(build_engine(settings.resolved_database_url))
        if not secrets_at_rest.is_installed():
            # Whoever started the app without the CLI (an embedding server, a benchmark): the key
            # is checked against what is stored before anything is signed (docs/deploy.md).
            secrets_at_rest.load_key(db, settings)
        limiter = build_rate_limiter(settings.rate_limit, settings.redis_url)
        auth_failures = build_rate_limiter(settings.auth_failure_limit, settings.redis_url)
        public_limiter = build_rate_limiter(settings.public_rate_limit, settings.redis_url)
        http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=64, resolver=None if settings.webhook_allow_private_networks else GuardedResolver()
            ),
            timeout=aiohttp.ClientTimeout(total=settings.delivery_timeout),
            auto_decompress=False,
        )
        # Built on every node, also --no-worker ones: which channels confirm by themselves
        # (the pay page's promise, the methods API) is the configuration's, not this node's;
        # the pollers themselves run wherever the background runs (kasir.sources.confirmation).
        sources = configured_sources(settings, db)
        app.state.kasir = AppState(
            settings=settings,
            db=db,
            limiter=limiter,
            http=http,
            addresses=ClientAddresses(settings.trusted_proxies),
            auth_throttle=AuthThrottle(auth_failures, settings.auth_failure_limit),
            public_limiter=public_limiter,
            pollers=pollers_of(sources),
            login_throttle=LoginThrottle(
                build_rate_limiter(settings.dashboard_login_limit, settings.redis_url),
                build_rate_limiter(settings.dashboard_login_address_limit, settings.redis_url),
            ),
        )
        runner: Background | None = None
        worker_db: Database | None = None
        if background:
            # The delivery worker's own engine (its commits are bookkeeping) and threads (its
            # network I/O goes on while a commit waits for the disk); the rest share the API's.
            worker_db = Database(
                build_engine(str(db.engine.url.render_as_string(hide_password=False)), bookkeeping=True), offload=True
            )
            runner = Background(db, settings, worker_db=worker_db, metrics=app.state.metrics, sources=sources)
            runner.start()
        try:
            yield
        finally:
            if runner is not None:
                await runner.stop()
            if worker_db is not None:
                await worker_db.aclose()
                worker_db.dispose()
            for each in (limiter, auth_failures, public_limiter):
                await each.close()
            await app.state.kasir.login_throttle.close()
            await http.close()
            await db.aclose()  # this loop's read connections, even when the Database lives on
            if database is None:
                db.dispose()

    app = FastAPI(
        title="Kasir",
        version=__version__,
        summary="Self-hosted QRIS payment gateway, compatible with bayar.gg's API.",
        lifespan=lifespan,
    )
    app.state.metrics = DeliveryMetrics()
    errors.install(app)
    # Hottest first: FastAPI tries routers in order, and each one it passes costs every route
    # in it. check-payment is in payments; the pay page's status poll (every open pay page,
    # every 1.5 s) is in web, and matched last it cost more than the rest of its request.
    app.include_router(payments.router)
    app.include_router(web.router)
    app.include_router(account.router)
    app.include_router(webhooks.router)
    app.include_router(deliveries.router)
    app.include_router(mutations.router)
    app.include_router(providers.router)
    app.include_router(metrics.router)
    app.include_router(qris.router)
    app.include_router(goods.router)
    app.include_router(store.router)
    app.include_router(sources.router)
    app.include_router(links.router)
    app.include_router(link_page.router)
    dashboard.include(app)
    app.mount("/static", StaticFiles(directory=web.STATIC_DIR), name="static")

    @app.get("/health", tags=["meta"], summary="Liveness: the process answers")
    async def health() -> dict[str, Any]:
        return {"success": True, "status": "ok", "version": __version__}

    batch_limit = settings.max_mutation_body_bytes
    app.add_middleware(
        BodySizeLimit,
        max_bytes=settings.max_body_bytes,
        larger={
            mutations.MUTATIONS_PREFIX: batch_limit,
            mutations.FORWARDERS_PREFIX: batch_limit,
            sources.SOURCES_PREFIX + "/": settings.max_source_body_bytes,
            **{path: qris.image_body_limit(settings.max_qr_image_bytes) for path in qris.IMAGE_PATHS},
            **goods.upload_body_limits(settings.max_file_bytes, settings.max_image_bytes),
            **dashboard.goods.upload_body_limits(settings.max_file_bytes, settings.max_image_bytes),
            dashboard.channels.PREVIEW: dashboard.channels.upload_body_limit(settings.max_qr_image_bytes),
        },
    )
    app.add_middleware(PublicRateLimit)
    # Outermost, so that answers made by the middleware above (413, 429) carry the headers too.
    app.add_middleware(SecurityHeaders, hsts=settings.public_url.startswith("https://"))
    app.openapi = lambda: openapi.document(app, settings)  # type: ignore[method-assign]
    return app
