"""Two API nodes sharing one Redis share one limit per key."""

from __future__ import annotations

import os
import secrets

import anyio
import pytest
import redis

from kasir.api.ratelimit import RedisRateLimiter

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
