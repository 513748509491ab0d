"""What the app's lifespan owns and the routes use."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from starlette.requests import Request

from kasir.api.login_throttle import LoginThrottle
from kasir.api.ratelimit import RateLimiter
from kasir.api.throttle import AuthThrottle, ClientAddresses
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.sources.confirmation import Poller


@dataclass(slots=True)
class AppState:
    settings: Settings
    db: Database
    limiter: RateLimiter  # per API key
    # For synchronous sends made while the merchant waits (ping, test); the worker has its own.
    http: aiohttp.ClientSession
    addresses: ClientAddresses  # who the client is, behind KASIR_TRUSTED_PROXIES
    auth_throttle: AuthThrottle  # failed authentications per client address
    public_limiter: RateLimiter  # the public pages per client address
    pollers: tuple[Poller, ...]  # KASIR_MUTATION_SOURCES, as the confirmation rule sees them
    login_throttle: LoginThrottle  # failed dashboard sign-ins, per account and per address


def app_state(request: Request) -> AppState:
    state = request.app.state.kasir
    assert isinstance(state, AppState)
    return state
