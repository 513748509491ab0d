"""Who may use each route, read off the routes themselves (kasir.dashboard.web's ``allowed``):
a route added later to a module of the integration or of the team without its role gate fails
here, before any HTTP test has to think of it. The HTTP tests (tests/acceptance/
test_dashboard_roles.py) then check that the gates refuse."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute

from kasir.dashboard.pages import overview, payments, reconciliation, session, sources, team, webhooks
from kasir.dashboard.web import BUILDERS, EVERYONE, OWNER, may, signed_in
from kasir.team.sessions import Visitor


def gates(route: APIRoute) -> list[Any]:
    return [dependency.call for dependency in route.dependant.dependencies]


def routes(module: Any) -> list[APIRoute]:
    found = [route for route in module.router.routes if isinstance(route, APIRoute)]
    assert found, module.__name__
    return found


@pytest.mark.parametrize("module", [webhooks, reconciliation, sources], ids=lambda m: m.__name__)
def test_every_route_of_the_integration_is_for_builders(module: Any) -> None:
    for route in routes(module):
        assert gates(route) == [module.builders], route.path


def test_every_route_of_the_team_is_for_owners_but_the_invitation() -> None:
    for route in routes(team):
        if route.path.startswith(team.INVITE):
            assert gates(route) == [], route.path  # the invited person has no session yet
        else:
            assert gates(route) == [team.owners_only], route.path


def test_payments_are_read_by_everyone_and_changed_by_builders() -> None:
    for route in routes(payments):
        changes = route.path.endswith(("/new", "/cancel"))
        assert gates(route) == [payments.builders if changes else signed_in], route.path


@pytest.mark.parametrize("module", [overview, session], ids=lambda m: m.__name__)
def test_the_overview_and_the_account_are_everyones(module: Any) -> None:
    for route in routes(module):
        assert gates(route) in ([signed_in], []), route.path


def visitor(role: str) -> Visitor:
    return Visitor(1, 1, "x@toko.test", role, 1, "toko", "Toko", "test", False, "csrf")


def test_the_matrix() -> None:
    assert {role for role in EVERYONE if may(visitor(role), OWNER)} == {"owner"}
    assert {role for role in EVERYONE if may(visitor(role), BUILDERS)} == {"owner", "developer"}
    assert {role for role in EVERYONE if may(visitor(role), EVERYONE)} == {"owner", "developer", "cashier"}
    assert not may(None, EVERYONE)
