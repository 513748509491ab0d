"""Sign-in throttling: failed sign-ins counted per account and per client address.

A password guesser is slowed on the account it guesses at (``KASIR_DASHBOARD_LOGIN_LIMIT`` failures
a minute, 5) and from the address it guesses from (``KASIR_DASHBOARD_LOGIN_ADDRESS_LIMIT``, 30),
whichever runs out first; past either, the sign-in is refused before the password is checked,
saying how long to wait. The counts are shared through Redis when it is configured
(kasir.api.ratelimit), so several nodes count together.
"""

from __future__ import annotations

import hashlib

from kasir.api.ratelimit import RateLimiter


class LoginThrottle:
    def __init__(self, per_account: RateLimiter, per_address: RateLimiter) -> None:
        self._account = per_account
        self._address = per_address

    @staticmethod
    def _account_key(account: str) -> str:
        # Hashed: the key may go to Redis, and an email address is personal data.
        return "login-account:" + hashlib.sha256(account.encode()).hexdigest()

    async def wait(self, account: str, address: str) -> float:
        """Seconds before ``account`` may try again from ``address`` (0: now)."""
        return max(
            await self._account.peek(self._account_key(account)),
            await self._address.peek("login-address:" + address),
        )

    async def failed(self, account: str, address: str) -> None:
        await self._account.acquire(self._account_key(account))
        await self._address.acquire("login-address:" + address)

    async def close(self) -> None:
        await self._account.close()
        await self._address.close()
