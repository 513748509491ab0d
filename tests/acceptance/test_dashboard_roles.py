"""Team roles over HTTP: each role in each area of the dashboard (docs/dashboard.md, "Team roles").

Covered: every route of webhooks, reconciliation and payment sources, and creating and cancelling
payments, is the 403 page for a cashier (a GET shows nothing, a POST with a valid CSRF token changes
nothing); every route of the team is the 403 page for a developer and a cashier; the owner and the
developer open the integration's pages; the navigation offers each role only what it may open; a
cashier's payments are the paid ones whatever the URL asks (list, CSV, a payment's page: a pending
one is a 404), with no cancel button, no create button and no callbacks; the overview shows a
cashier the money received and the payments paid, not the endpoints, callbacks, sources or pending
ones; no page a cashier opens holds a webhook secret; the API, by key, refuses nothing new. Every
test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from kasir.clock import utcnow
from kasir.config import Settings
from kasir.dashboard.pages import reconciliation, sources, team, webhooks
from kasir.dashboard.texts import TEXTS
from kasir.db.engine import Database
from kasir.merchants.service import NewMerchant
from kasir.payments.views import PaymentRow
from kasir.team import sessions, users
from tests.conftest import auth, writes_nothing
from tests.dashboard_helpers import PASSWORD
from tests.payment_helpers import create

ROLE_REFUSED = TEXTS["id"]["role_refused"]
EMAILS = {"owner": "owner@toko.test", "developer": "dev@toko.test", "cashier": "kasir@toko.test"}


@pytest.fixture
def tokens(db: Database, merchant: NewMerchant) -> dict[str, str]:
    """A user of each role, each with a session already open: role → the session cookie's token."""
    now = utcnow()

    def make(conn: sa.Connection) -> dict[str, str]:
        found = {}
        for role, email in EMAILS.items():
            user = users.create_user(conn, merchant.username, email, now, role=role, password=PASSWORD)
            found[role] = sessions.start(conn, user.id, now, 3600, None)
        return found

    return db.write_sync(make)


def be(client: TestClient, token: str) -> str:
    """The client is now this session's browser; its CSRF token."""
    client.cookies.clear()
    client.cookies.set(sessions.COOKIE, token)
    return sessions.csrf_of(token)


def routes_of(*modules: Any, exclude: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """(method, URL) of every route of the page modules, path parameters filled with "x"."""
    found = []
    for module in modules:
        for route in module.router.routes:
            if any(route.path.startswith(prefix) for prefix in exclude):
                continue
            for method in sorted(route.methods):
                found.append((method, re.sub(r"\{[^}]+\}", "x", route.path)))
    return found


BUILDER_ROUTES = [
    *routes_of(webhooks, reconciliation, sources),
    ("GET", "/dashboard/payments/new"),
    ("POST", "/dashboard/payments/new"),
    ("POST", "/dashboard/payments/x/cancel"),
]
TEAM_ROUTES = routes_of(team, exclude=(team.INVITE,))


def assert_refused(response: Any) -> None:
    """The 403 page: the role's refusal, and no form of the page refused."""
    assert response.status_code == 403, response.text
    assert ROLE_REFUSED in response.text
    assert "<form" not in response.text.split("<main", 1)[1].split("</main>", 1)[0]


def test_the_inventory_is_complete() -> None:
    # The loops below would pass vacuously if the routers were empty.
    assert len(BUILDER_ROUTES) > 30
    assert ("POST", "/dashboard/webhooks/rotate-secret") in BUILDER_ROUTES
    assert ("POST", "/dashboard/team/users/x/remove") in TEAM_ROUTES


def test_a_cashier_is_refused_every_route_of_the_integration(
    client: TestClient, db: Database, settings: Settings, merchant: NewMerchant, tokens: dict[str, str]
) -> None:
    csrf = be(client, tokens["cashier"])
    pending = create(db, settings, merchant.test_api_key)
    with writes_nothing(db):
        for method, url in [*BUILDER_ROUTES, ("POST", f"/dashboard/payments/{pending['invoice_id']}/cancel")]:
            if method == "GET":
                assert_refused(client.get(url))
            else:
                data = {"csrf_token": csrf, "url": "http://127.0.0.1:9/x", "amount": "10000", "name": "HP"}
                assert_refused(client.post(url, data=data))


@pytest.mark.parametrize("role", ["developer", "cashier"])
def test_only_owners_reach_the_team(client: TestClient, db: Database, tokens: dict[str, str], role: str) -> None:
    csrf = be(client, tokens[role])
    with writes_nothing(db):
        for method, url in TEAM_ROUTES:
            if method == "GET":
                assert_refused(client.get(url))
            else:
                assert_refused(client.post(url, data={"csrf_token": csrf, "email": "x@y.test", "role": "owner"}))
    be(client, tokens["owner"])
    assert client.get("/dashboard/team").status_code == 200


@pytest.mark.parametrize("role", ["owner", "developer"])
def test_owners_and_developers_open_the_integration(client: TestClient, tokens: dict[str, str], role: str) -> None:
    be(client, tokens[role])
    for url in (
        "/dashboard/webhooks",
        "/dashboard/webhooks/deliveries",
        "/dashboard/webhooks/endpoints/new",
        "/dashboard/reconciliation",
        "/dashboard/sources",
        "/dashboard/sources/new",
        "/dashboard/payments/new",
    ):
        response = client.get(url)
        assert response.status_code == 200, (url, response.text)


NAV_LINKS = {
    # What each role's navigation offers among the areas of part 1 and the team.
    "owner": {"/dashboard/payments", "/dashboard/webhooks", "/dashboard/sources", "/dashboard/team"},
    "developer": {"/dashboard/payments", "/dashboard/webhooks", "/dashboard/sources"},
    "cashier": {"/dashboard/payments"},
}
AREAS = {
    "/dashboard/payments",
    "/dashboard/webhooks",
    "/dashboard/reconciliation",
    "/dashboard/sources",
    "/dashboard/team",
    "/dashboard/keys",
    "/dashboard/channels",
}


@pytest.mark.parametrize("role", ["owner", "developer", "cashier"])
def test_the_navigation_offers_what_the_role_may_open(client: TestClient, tokens: dict[str, str], role: str) -> None:
    be(client, tokens[role])
    page = client.get("/dashboard")
    assert page.status_code == 200
    nav = page.text.split('<nav class="nav">', 1)[1].split("</nav>", 1)[0]
    offered = set(re.findall(r'href="([^"]+)"', nav)) & AREAS
    assert NAV_LINKS[role] <= offered
    if role == "cashier":
        assert offered == {"/dashboard/payments"}
    if role == "developer":
        assert "/dashboard/team" not in offered
        assert "/dashboard/channels" not in offered


def row(payment: PaymentRow) -> str:
    """The payments list's row of ``payment``."""
    return f'data-invoice="{payment["invoice_id"]}"'


def test_a_cashier_sees_only_what_has_been_paid(
    client: TestClient, db: Database, settings: Settings, merchant: NewMerchant, tokens: dict[str, str]
) -> None:
    paid = create(db, settings, merchant.test_api_key, amount=85000)
    pending = create(db, settings, merchant.test_api_key, amount=12000)
    answer = client.post(f"/v1/sandbox/payments/{paid['invoice_id']}/pay", headers=auth(merchant.test_api_key))
    assert answer.status_code == 200, answer.text

    be(client, tokens["cashier"])
    for query in ("", "?status=pending", "?status=", "?status=expired", f"?search={pending['invoice_id']}"):
        listed = client.get(f"/dashboard/payments{query}")
        assert listed.status_code == 200, listed.text
        assert row(pending) not in listed.text
        assert 'data-status="pending"' not in listed.text
        if "search" not in query:
            assert row(paid) in listed.text
    listed = client.get("/dashboard/payments")
    assert 'value="pending"' not in listed.text
    assert 'data-testid="paid-only"' in listed.text
    assert 'href="/dashboard/payments/new"' not in listed.text

    csv = client.get("/dashboard/payments.csv?status=pending")
    assert csv.status_code == 200
    assert paid["invoice_id"] in csv.text
    assert pending["invoice_id"] not in csv.text

    page = client.get(f"/dashboard/payments/{paid['invoice_id']}")
    assert page.status_code == 200
    assert 'data-status="paid"' in page.text
    assert "cancel-form" not in page.text
    assert 'data-testid="events"' not in page.text
    hidden = client.get(f"/dashboard/payments/{pending['invoice_id']}")
    unknown = client.get("/dashboard/payments/INV-NONE")
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.text.replace(pending["invoice_id"], "?") == unknown.text.replace("INV-NONE", "?")

    # The owner and the developer see both, and may cancel the pending one.
    for role in ("owner", "developer"):
        be(client, tokens[role])
        listed = client.get("/dashboard/payments")
        assert row(paid) in listed.text
        assert row(pending) in listed.text
        assert 'href="/dashboard/payments/new"' in listed.text
        page = client.get(f"/dashboard/payments/{pending['invoice_id']}")
        assert page.status_code == 200
        assert "cancel-form" in page.text
        assert 'data-testid="events"' in client.get(f"/dashboard/payments/{paid['invoice_id']}").text


def test_the_overview_of_a_cashier_is_the_money(
    client: TestClient, db: Database, settings: Settings, merchant: NewMerchant, tokens: dict[str, str]
) -> None:
    paid = create(db, settings, merchant.test_api_key, amount=85000)
    create(db, settings, merchant.test_api_key, amount=12000)
    client.post(f"/v1/sandbox/payments/{paid['invoice_id']}/pay", headers=auth(merchant.test_api_key))
    be(client, tokens["cashier"])
    page = client.get("/dashboard")
    assert page.status_code == 200
    assert 'data-figure="received"' in page.text
    assert 'data-figure="paid"' in page.text
    for hidden in ('data-testid="integration"', 'data-figure="pending"', 'data-figure="created"'):
        assert hidden not in page.text
    assert client.get("/dashboard/chart.svg").status_code == 200
    be(client, tokens["developer"])
    page = client.get("/dashboard")
    assert 'data-testid="integration"' in page.text
    assert 'data-figure="pending"' in page.text


def test_no_page_a_cashier_opens_holds_a_secret(
    client: TestClient, db: Database, settings: Settings, merchant: NewMerchant, tokens: dict[str, str]
) -> None:
    paid = create(db, settings, merchant.test_api_key)
    client.post(f"/v1/sandbox/payments/{paid['invoice_id']}/pay", headers=auth(merchant.test_api_key))
    be(client, tokens["cashier"])
    secrets = [merchant.test_webhook_secret, merchant.live_webhook_secret, merchant.test_api_key, merchant.live_api_key]
    for url in ("/dashboard", "/dashboard/payments", f"/dashboard/payments/{paid['invoice_id']}", "/dashboard/account"):
        page = client.get(url)
        assert page.status_code == 200, url
        for secret in secrets:
            assert secret not in page.text, url


def test_signing_in_as_a_cashier_to_a_refused_page(client: TestClient, tokens: dict[str, str]) -> None:
    client.cookies.clear()
    landing = client.get("/dashboard/webhooks", follow_redirects=False)
    assert landing.status_code == 303
    signed = client.post(
        "/dashboard/login",
        data={"email": EMAILS["cashier"], "password": PASSWORD, "next": "/dashboard/webhooks"},
        follow_redirects=True,
    )
    assert_refused(signed)


def test_the_api_refuses_nothing_new(client: TestClient, merchant: NewMerchant, tokens: dict[str, str]) -> None:
    # Roles are the dashboard's: an API key does what it did (a cashier's cookie adds nothing).
    be(client, tokens["cashier"])
    made = client.post("/v1/endpoints", json={"url": "http://127.0.0.1:9/hook"}, headers=auth(merchant.test_api_key))
    assert made.status_code in (200, 201), made.text
    assert client.get("/v1/endpoints", headers=auth(merchant.test_api_key)).status_code == 200
