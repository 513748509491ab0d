"""Per-endpoint delivery rate limits (deliveries per second), enforced by each worker.

A token bucket per endpoint with a one-second burst. A delivery that finds the bucket empty is
not attempted: it goes back to the queue due when a token will be there, without using up a try.
With several workers each enforces the limit on its own share.
"""

from __future__ import annotations

import time


class TokenBuckets:
    def __init__(self) -> None:
        self._state: dict[int, tuple[float, float]] = {}  # endpoint -> (tokens, last refill)

    def take(self, endpoint_id: int, rate: int, now: float | None = None) -> float:
        """0 when a delivery may go now (a token is taken), else seconds until one will be free."""
        now = time.monotonic() if now is None else now
        tokens, last = self._state.get(endpoint_id, (float(rate), now))
        tokens = min(float(rate), tokens + (now - last) * rate)
        if tokens >= 1.0:
            self._state[endpoint_id] = (tokens - 1.0, now)
            return 0.0
        self._state[endpoint_id] = (tokens, now)
        return (1.0 - tokens) / rate
