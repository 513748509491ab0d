"""What a mutation source declares about the channels it reports (``channels``, optional)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from kasir.payments.sources import Report, declared_channels
from kasir.sources.confirmation import Poller, pollers_of


class Source:
    name = "any"
    interval = 1.0

    def __init__(self, **attributes: Any) -> None:
        for key, value in attributes.items():
            setattr(self, key, value)

    async def fetch(self) -> Sequence[Report]:
        return []


@pytest.mark.parametrize(
    ("attributes", "declared"),
    [
        ({}, None),  # written before the attribute existed: may report any channel
        ({"channels": None}, None),
        ({"channels": frozenset({"ovo"})}, frozenset({"ovo"})),
        ({"channels": ["qris", "ovo"]}, frozenset({"qris", "ovo"})),
        ({"channels": "ovo"}, frozenset({"ovo"})),  # one channel, not its letters
        ({"channels": ()}, frozenset()),  # declares none: covers nothing
    ],
)
def test_declared_channels(attributes: dict[str, Any], declared: frozenset[str] | None) -> None:
    assert declared_channels(Source(**attributes)) == declared


def test_a_poller_reports_what_it_declares() -> None:
    [ovo, anything, nothing] = pollers_of(
        [Source(name="ovo", channels={"ovo"}), Source(name="all"), Source(name="none", channels=[])]
    )
    assert ovo == Poller("ovo", frozenset({"ovo"}))
    assert (ovo.reports("ovo"), ovo.reports("qris")) == (True, False)
    assert anything.reports("qris")
    assert anything.reports("gopay_qris")
    assert not nothing.reports("ovo")
    assert ovo.source == "source:ovo"
