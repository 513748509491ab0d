"""What the app's lifespan owns and the routes use."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from starlette.requests import Request

from kasir.api.ratelimit import RateLimiter
from kasir.config import Settings
from kasir.db.engine import Database


@dataclass(slots=True)
class AppState:
    settings: Settings
    db: Database
    limiter: RateLimiter
    # For synchronous sends made while the merchant waits (ping, test); the worker has its own.
    http: aiohttp.ClientSession


def app_state(request: Request) -> AppState:
    state = request.app.state.kasir
    assert isinstance(state, AppState)
    return state
