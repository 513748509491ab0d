"""GCRA limits: a full minute's burst, then one request per interval, with a wait to report."""

from __future__ import annotations

import anyio
import pytest

from kasir.api.ratelimit import MemoryRateLimiter, Unlimited, build_rate_limiter, retry_after_header


def test_burst_then_refusal_with_wait() -> None:
    async def scenario() -> list[float]:
        limiter = MemoryRateLimiter(per_minute=6)  # one every 10 s, burst of 6
        return [await limiter.acquire("k") for _ in range(7)]

    waits = anyio.run(scenario)
    assert waits[:6] == [0.0] * 6
    assert 9.0 < waits[6] <= 10.0
    assert retry_after_header(waits[6]) == 10


def test_keys_are_limited_separately() -> None:
    async def scenario() -> tuple[float, float]:
        limiter = MemoryRateLimiter(per_minute=1)
        await limiter.acquire("a")
        return await limiter.acquire("a"), await limiter.acquire("b")

    a, b = anyio.run(scenario)
    assert a > 0
    assert b == 0.0


def test_tokens_come_back_with_time(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    limiter = MemoryRateLimiter(per_minute=60)
    monkeypatch.setattr(limiter, "_clock", lambda: now[0])

    async def scenario() -> tuple[float, float]:
        for _ in range(60):
            assert await limiter.acquire("k") == 0.0
        refused = await limiter.acquire("k")
        now[0] += 1.0  # one interval later, exactly one more request fits
        return refused, await limiter.acquire("k")

    refused, allowed = anyio.run(scenario)
    assert refused == pytest.approx(1.0)
    assert allowed == 0.0


def test_zero_turns_limiting_off() -> None:
    assert isinstance(build_rate_limiter(0, None), Unlimited)
    assert isinstance(build_rate_limiter(10, None), MemoryRateLimiter)


def test_peek_tells_the_wait_without_counting() -> None:
    async def scenario() -> tuple[float, float, float, float]:
        limiter = MemoryRateLimiter(per_minute=2)  # one every 30 s, burst of 2
        before = await limiter.peek("k")
        await limiter.acquire("k")
        await limiter.acquire("k")
        full = await limiter.peek("k")
        again = await limiter.peek("k")
        return before, full, again, await limiter.acquire("k")

    before, full, again, refused = anyio.run(scenario)
    assert before == 0.0
    assert 29.0 < full <= 30.0
    assert again <= full  # peeking twice counted nothing
    assert refused > 0
