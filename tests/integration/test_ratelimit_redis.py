"""Two API nodes sharing one Redis share one limit per key, and one per client address."""

from __future__ import annotations

import os
import secrets

import anyio
import pytest
import redis
from fastapi.testclient import TestClient

from kasir.api.ratelimit import RedisRateLimiter
from kasir.app import create_app
from kasir.config import Settings
from kasir.db.engine import Database

REDIS_URL = os.environ.get("KASIR_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def redis_url() -> str:
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"Redis at {REDIS_URL} is not reachable: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} is not reachable: {exc}")
    return REDIS_URL


def test_the_limit_is_shared_across_nodes(redis_url: str) -> None:
    key = "test-" + secrets.token_hex(4)

    async def scenario() -> list[float]:
        node_a, node_b = RedisRateLimiter(redis_url, 4), RedisRateLimiter(redis_url, 4)
        try:
            waits = []
            for i in range(5):
                waits.append(await (node_a if i % 2 else node_b).acquire(key))
            return waits
        finally:
            await node_a.close()
            await node_b.close()

    waits = anyio.run(scenario)
    assert waits[:4] == [0.0] * 4
    assert 14.0 < waits[4] <= 15.0  # 60/4 s until the next request fits


def test_an_unreachable_redis_lets_requests_through() -> None:
    async def scenario() -> float:
        limiter = RedisRateLimiter("redis://127.0.0.1:1/0", 1)
        try:
            await limiter.acquire("k")
            return await limiter.acquire("k")
        finally:
            await limiter.close()

    assert anyio.run(scenario) == 0.0


def test_peek_is_shared_and_counts_nothing(redis_url: str) -> None:
    key = "test-" + secrets.token_hex(4)

    async def scenario() -> tuple[float, float, float]:
        node_a, node_b = RedisRateLimiter(redis_url, 2), RedisRateLimiter(redis_url, 2)
        try:
            free = await node_b.peek(key)
            await node_a.acquire(key)
            await node_a.acquire(key)
            return free, await node_b.peek(key), await node_b.peek(key)
        finally:
            await node_a.close()
            await node_b.close()

    free, full, again = anyio.run(scenario)
    assert free == 0.0
    assert 29.0 < full <= 30.0
    assert 29.0 < again <= full


def test_failed_authentications_add_up_across_nodes(redis_url: str, settings: Settings, db: Database) -> None:
    """Two API nodes on one Redis: failures on either count toward one limit per address, and
    the node that did not see the last failure refuses the address too once it counts one."""
    shared = settings.model_copy(update={"redis_url": redis_url, "auth_failure_limit": 4})
    address = f"198.51.100.{secrets.randbelow(200) + 1}"
    wrong = {"X-API-Key": "ksr_test_" + secrets.token_hex(20)}
    redis.Redis.from_url(redis_url).delete(f"kasir:rl:auth:{address}")
    with (
        TestClient(create_app(shared, database=db, background=False), client=(address, 1)) as node_a,
        TestClient(create_app(shared, database=db, background=False), client=(address, 2)) as node_b,
    ):
        statuses = [
            (node_a if i % 2 else node_b).get("/api/list-payments.php", headers=wrong).status_code for i in range(6)
        ]
    assert statuses == [401, 401, 401, 401, 429, 429]
