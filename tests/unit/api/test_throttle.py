"""Who the client is (``ClientAddresses``) and how failed authentications are counted
(``AuthThrottle``), on their own: scopes as the ASGI server hands them over."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from kasir.api.ratelimit import MemoryRateLimiter
from kasir.api.throttle import AuthThrottle, ClientAddresses
from kasir.errors import RateLimited, Unauthorized


def scope(peer: str, *forwarded: str) -> dict[str, Any]:
    return {"client": (peer, 40000), "headers": [(b"x-forwarded-for", value.encode()) for value in forwarded]}


def test_without_trusted_proxies_the_peer_is_the_client_whatever_it_claims() -> None:
    addresses = ClientAddresses([])
    assert addresses(scope("203.0.113.9", "198.51.100.1")) == "203.0.113.9"


def test_a_peer_that_is_not_a_trusted_proxy_cannot_name_another_address() -> None:
    addresses = ClientAddresses(["10.0.0.2"])
    assert addresses(scope("203.0.113.9", "198.51.100.1")) == "203.0.113.9"


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded", "client"),
    [
        pytest.param(["127.0.0.1"], "127.0.0.1", ["198.51.100.1"], "198.51.100.1", id="one-proxy"),
        # The client's own claim is left of what our proxy appended: the rightmost untrusted wins.
        pytest.param(["127.0.0.1"], "127.0.0.1", ["6.6.6.6, 198.51.100.1"], "198.51.100.1", id="spoofed-prefix"),
        pytest.param(
            ["127.0.0.1", "10.0.0.0/8"], "127.0.0.1", ["198.51.100.1, 10.1.2.3"], "198.51.100.1", id="two-proxies"
        ),
        pytest.param(["127.0.0.1"], "127.0.0.1", ["6.6.6.6", "198.51.100.1"], "198.51.100.1", id="two-headers"),
        pytest.param(["::1"], "::1", ["2001:db8::7"], "2001:db8::7", id="ipv6"),
        pytest.param(["127.0.0.1"], "127.0.0.1", [], "127.0.0.1", id="no-header"),
        pytest.param(["127.0.0.1"], "127.0.0.1", ["not-an-address"], "127.0.0.1", id="garbage"),
        pytest.param(["127.0.0.0/8"], "127.0.0.1", ["127.0.0.5"], "127.0.0.5", id="all-trusted"),
    ],
)
def test_behind_trusted_proxies_the_forwarded_client_counts(
    trusted: list[str], peer: str, forwarded: list[str], client: str
) -> None:
    assert ClientAddresses(trusted)(scope(peer, *forwarded)) == client


def test_a_throttled_address_is_refused_before_its_credentials_are_looked_at() -> None:
    """Once the allowance is used up, ``guard`` refuses without calling the check: a right guess
    made then gets the same 429 as a wrong one. Another address is not affected."""
    calls: list[str] = []

    async def wrong() -> None:
        calls.append("wrong")
        raise Unauthorized("no")

    async def right() -> str:
        calls.append("right")
        return "merchant"

    async def scenario() -> tuple[list[str], str]:
        throttle = AuthThrottle(MemoryRateLimiter(3), 3)
        outcomes = []
        for _ in range(4):
            try:
                await throttle.guard("198.51.100.1", wrong)
            except RateLimited as exc:
                outcomes.append(f"429 {exc.code} {exc.retry_after}")
            except Unauthorized:
                outcomes.append("401")
        try:
            await throttle.guard("198.51.100.1", right)
        except RateLimited:
            outcomes.append("429 for the right key")
        return outcomes, await throttle.guard("198.51.100.2", right)

    outcomes, other = anyio.run(scenario)
    assert outcomes == ["401", "401", "401", "429 too_many_failed_authentications 20", "429 for the right key"]
    # The third failure used the allowance up: the fourth attempt and the right key were never checked.
    assert calls == ["wrong"] * 3 + ["right"]
    assert other == "merchant"


def test_successes_do_not_count() -> None:
    async def ok() -> int:
        return 1

    async def scenario() -> int:
        throttle = AuthThrottle(MemoryRateLimiter(1), 1)
        return sum([await throttle.guard("198.51.100.1", ok) for _ in range(50)])

    assert anyio.run(scenario) == 50
