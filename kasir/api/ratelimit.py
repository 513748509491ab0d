"""Per-key request limits (``KASIR_RATE_LIMIT`` per minute), with ``Retry-After``.

The algorithm is GCRA (a token bucket kept as one timestamp): a key may burst up to the whole
minute's allowance, then gets one request every 60/limit seconds. One node keeps the state in
memory; several nodes share it through Redis, in a Lua script that runs atomically on Redis'
own clock so that nodes with skewed clocks still agree.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Protocol

log = logging.getLogger("kasir.ratelimit")

PERIOD = 60.0


class RateLimiter(Protocol):
    async def acquire(self, key: str) -> float:
        """0 when the request may go ahead, else the seconds to wait before trying again."""
        ...

    async def peek(self, key: str) -> float:
        """What ``acquire`` would answer now, without counting a request."""
        ...

    async def close(self) -> None: ...


class Unlimited:
    async def acquire(self, key: str) -> float:
        return 0.0

    async def peek(self, key: str) -> float:
        return 0.0

    async def close(self) -> None:
        return None


class MemoryRateLimiter:
    def __init__(self, per_minute: int) -> None:
        self.interval = PERIOD / per_minute
        self._tat: dict[str, float] = {}  # theoretical arrival time per key
        self._clock = time.monotonic

    async def acquire(self, key: str) -> float:
        now = self._clock()
        tat = max(self._tat.get(key, now), now)
        new_tat = tat + self.interval
        if new_tat - now > PERIOD:
            return new_tat - PERIOD - now
        self._tat[key] = new_tat
        if len(self._tat) > 100_000:  # forget keys that are idle (their TAT is in the past)
            self._tat = {k: v for k, v in self._tat.items() if v > now}
        return 0.0

    async def peek(self, key: str) -> float:
        now = self._clock()
        return max(0.0, max(self._tat.get(key, now), now) + self.interval - PERIOD - now)

    async def close(self) -> None:
        return None


_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
-- ARGV[3] == '1': only say what the wait would be, count nothing
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
if new_tat - now > period then
  return tostring(new_tat - period - now)
end
if ARGV[3] == '1' then
  return '0'
end
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil(period * 1000) + 1000)
return '0'
"""


class RedisRateLimiter:
    def __init__(self, url: str, per_minute: int) -> None:
        import redis.asyncio as redis

        self.interval = PERIOD / per_minute
        self._redis = redis.from_url(url)
        self._script = self._redis.register_script(_GCRA)
        self._warned = False

    async def acquire(self, key: str) -> float:
        return await self._run(key, peek=False)

    async def peek(self, key: str) -> float:
        return await self._run(key, peek=True)

    async def _run(self, key: str, *, peek: bool) -> float:
        try:
            wait = await self._script(keys=[f"kasir:rl:{key}"], args=[self.interval, PERIOD, "1" if peek else "0"])
        except Exception as exc:  # Redis down: limiting is protection, not a reason to refuse payments
            if not self._warned:
                log.warning("rate limiter cannot reach Redis (%s); letting requests through", exc)
                self._warned = True
            return 0.0
        self._warned = False
        return float(wait)

    async def close(self) -> None:
        await self._redis.aclose()


def build_rate_limiter(per_minute: int, redis_url: str | None) -> RateLimiter:
    if per_minute <= 0:
        return Unlimited()
    if redis_url:
        return RedisRateLimiter(redis_url, per_minute)
    return MemoryRateLimiter(per_minute)


def retry_after_header(wait: float) -> int:
    return max(1, math.ceil(wait))
