"""Dashboard sign-in and sessions over HTTP: what a shop owner's browser goes through, and what an
attacker's does not get.

Covered: every dashboard URL redirects to the sign-in without a session and every POST is
refused; the session cookie's flags; a one-time password changed before anything else, ending the
other sessions; the CSRF token on every state-changing form (refused with nothing changed); a
copied cookie dead after sign-out; idle and absolute expiry; throttled sign-ins answered clearly,
even with the right password; no password or hash in any page or log line; test and live shown
apart. Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from kasir.app import create_app
from kasir.clock import utcnow
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.db.tables import dashboard_sessions, dashboard_users
from kasir.merchants.service import NewMerchant
from kasir.team import users
from tests.conftest import writes_nothing
from tests.dashboard_helpers import PASSWORD, csrf_of

LOGIN = "/dashboard/login"


@pytest.fixture
def owner(db: Database, merchant: NewMerchant) -> users.NewUser:
    return db.write_sync(
        lambda conn: users.create_user(conn, merchant.username, "Owner@Toko.test", utcnow(), password=PASSWORD)
    )


def sign_in(client: TestClient, email: str = "owner@toko.test", password: str = PASSWORD) -> str:
    """Signs ``client`` in; the CSRF token of its pages."""
    response = client.post(LOGIN, data={"email": email, "password": password}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/dashboard/account").text)


def sessions_of(db: Database) -> int:
    return db.read_sync(
        lambda conn: conn.execute(sa.select(sa.func.count()).select_from(dashboard_sessions)).scalar_one()
    )


@pytest.mark.parametrize("path", ["/dashboard", "/dashboard/account", "/dashboard/chart.svg", "/dashboard?lang=en"])
def test_without_a_session_every_page_redirects_to_the_sign_in(client: TestClient, path: str) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith(f"{LOGIN}?next=%2Fdashboard")


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/dashboard/mode", {"mode": "live"}),
        ("/dashboard/logout", {}),
        ("/dashboard/account/password", {"current_password": PASSWORD, "new_password": "something-else-2"}),
    ],
)
def test_without_a_session_every_post_is_refused_and_changes_nothing(
    client: TestClient, db: Database, owner: users.NewUser, path: str, data: dict[str, str]
) -> None:
    with writes_nothing(db):
        response = client.post(path, data=data, follow_redirects=False)
    assert response.status_code == 403
    assert "text/html" in response.headers["content-type"]


def test_signing_in_sets_a_strict_cookie_and_lands_on_the_page_asked_for(
    client: TestClient, owner: users.NewUser
) -> None:
    page = client.get(f"{LOGIN}?next=%2Fdashboard%2Faccount")
    assert 'name="email"' in page.text
    assert 'name="password"' in page.text
    response = client.post(
        LOGIN,
        data={"email": "OWNER@toko.test ", "password": PASSWORD, "next": "/dashboard/account"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/account"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/dashboard" in cookie
    assert "Secure" not in cookie  # http://kasir.test: a Secure cookie would never come back
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/dashboard", "/pay?invoice=x"])
def test_after_signing_in_nobody_is_sent_off_the_dashboard(
    client: TestClient, owner: users.NewUser, target: str
) -> None:
    response = client.post(
        LOGIN, data={"email": owner.email, "password": PASSWORD, "next": target}, follow_redirects=False
    )
    assert response.headers["location"] == "/dashboard"


def test_over_https_the_cookie_is_secure(settings: Settings, db: Database, owner: users.NewUser) -> None:
    secure = settings.model_copy(update={"public_url": "https://kasir.example"})
    with TestClient(create_app(secure, database=db, background=False), base_url="https://kasir.example") as client:
        response = client.post(LOGIN, data={"email": owner.email, "password": PASSWORD}, follow_redirects=False)
    assert "Secure" in response.headers["set-cookie"]


@pytest.mark.parametrize(("email", "password"), [("owner@toko.test", "wrong-password"), ("nobody@toko.test", PASSWORD)])
def test_a_wrong_email_or_password_is_the_same_refusal(
    client: TestClient, db: Database, owner: users.NewUser, email: str, password: str
) -> None:
    response = client.post(LOGIN, data={"email": email, "password": password}, follow_redirects=False)
    assert response.status_code == 401
    assert "Email atau kata sandi salah." in response.text
    assert "set-cookie" not in response.headers
    assert sessions_of(db) == 0


def test_a_one_time_password_is_changed_before_anything_else_and_ends_other_sessions(
    settings: Settings, db: Database, merchant: NewMerchant
) -> None:
    made = db.write_sync(lambda conn: users.create_user(conn, merchant.username, "kasir@toko.test", utcnow()))
    app = create_app(settings, database=db, background=False)
    with TestClient(app) as laptop, TestClient(app) as phone:
        csrf = sign_in(laptop, made.email, made.password)
        sign_in(phone, made.email, made.password)
        for path in ("/dashboard", "/dashboard/chart.svg"):
            assert laptop.get(path, follow_redirects=False).headers["location"] == "/dashboard/account"
        with writes_nothing(db):
            assert laptop.post("/dashboard/mode", data={"mode": "live", "csrf_token": csrf}).status_code == 403
        changed = laptop.post(
            "/dashboard/account/password",
            data={"csrf_token": csrf, "current_password": made.password, "new_password": "a-better-password-2"},
            follow_redirects=False,
        )
        assert changed.headers["location"] == "/dashboard/account?done=password"
        assert laptop.get("/dashboard").status_code == 200
        # The other session (the phone) ended with the old password.
        assert phone.get("/dashboard", follow_redirects=False).headers["location"].startswith(LOGIN)
    with TestClient(app) as again:
        assert again.post(LOGIN, data={"email": made.email, "password": made.password}).status_code == 401
        sign_in(again, made.email, "a-better-password-2")


@pytest.mark.parametrize("given", [None, "", "0" * 64, "not-it"])
def test_a_form_without_this_sessions_csrf_token_is_refused_with_nothing_changed(
    client: TestClient, db: Database, owner: users.NewUser, given: str | None
) -> None:
    sign_in(client)
    data = {"mode": "live"} | ({"csrf_token": given} if given is not None else {})
    with writes_nothing(db):
        response = client.post("/dashboard/mode", data=data, follow_redirects=False)
    assert response.status_code == 403
    assert "kedaluwarsa" in response.text


def test_another_sessions_csrf_token_is_not_this_ones(settings: Settings, db: Database, owner: users.NewUser) -> None:
    app = create_app(settings, database=db, background=False)
    with TestClient(app) as mine, TestClient(app) as theirs:
        sign_in(mine)
        their_token = sign_in(theirs)
        with writes_nothing(db):
            assert mine.post("/dashboard/mode", data={"mode": "live", "csrf_token": their_token}).status_code == 403


def test_a_copied_cookie_stops_working_after_sign_out(settings: Settings, db: Database, owner: users.NewUser) -> None:
    app = create_app(settings, database=db, background=False)
    with TestClient(app) as browser, TestClient(app) as thief:
        csrf = sign_in(browser)
        thief.cookies.set("kasir_session", browser.cookies["kasir_session"], path="/dashboard")
        assert thief.get("/dashboard").status_code == 200
        out = browser.post("/dashboard/logout", data={"csrf_token": csrf}, follow_redirects=False)
        assert out.headers["location"] == f"{LOGIN}?signed_out=1"
        assert thief.get("/dashboard", follow_redirects=False).status_code == 303
    assert sessions_of(db) == 0


@pytest.mark.parametrize("column", ["last_seen_at", "expires_at"])
def test_an_idle_or_old_session_ends(client: TestClient, db: Database, owner: users.NewUser, column: str) -> None:
    sign_in(client)
    past = {"last_seen_at": utcnow() - timedelta(hours=5), "expires_at": utcnow() - timedelta(seconds=1)}[column]
    db.write_sync(lambda conn: conn.execute(sa.update(dashboard_sessions).values({column: past})))
    assert client.get("/dashboard", follow_redirects=False).headers["location"].startswith(LOGIN)


@pytest.fixture
def strict_client(settings: Settings, db: Database) -> Iterator[TestClient]:
    throttled = settings.model_copy(update={"dashboard_login_limit": 3})
    with TestClient(create_app(throttled, database=db, background=False)) as client:
        yield client


def test_a_throttled_account_is_told_to_wait_even_with_the_right_password(
    strict_client: TestClient, db: Database, owner: users.NewUser
) -> None:
    for _ in range(3):
        assert strict_client.post(LOGIN, data={"email": owner.email, "password": "wrong-one-1"}).status_code == 401
    response = strict_client.post(LOGIN, data={"email": owner.email, "password": PASSWORD}, follow_redirects=False)
    assert response.status_code == 429
    found = re.search(r"Coba lagi dalam (\d+) detik", response.text)
    assert found
    assert 0 < int(found.group(1)) <= 60
    assert sessions_of(db) == 0


def test_one_address_trying_many_accounts_is_throttled_too(
    settings: Settings, db: Database, merchant: NewMerchant, owner: users.NewUser
) -> None:
    throttled = settings.model_copy(update={"dashboard_login_address_limit": 3})
    with TestClient(create_app(throttled, database=db, background=False)) as client:
        for n in range(3):
            assert client.post(LOGIN, data={"email": f"guess{n}@toko.test", "password": "x" * 12}).status_code == 401
        response = client.post(LOGIN, data={"email": owner.email, "password": PASSWORD}, follow_redirects=False)
    assert response.status_code == 429
    assert re.search(r"Coba lagi dalam \d+ detik", response.text)
    assert sessions_of(db) == 0


def test_no_password_or_hash_is_shown_or_logged(
    client: TestClient, db: Database, owner: users.NewUser, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    csrf = sign_in(client)
    client.post(LOGIN, data={"email": owner.email, "password": "wrong-password-9"})
    client.post(
        "/dashboard/account/password",
        data={"csrf_token": csrf, "current_password": PASSWORD, "new_password": "next-password-3"},
    )
    stored = db.read_sync(lambda conn: conn.execute(sa.select(dashboard_users.c.password_hash)).scalar_one())
    assert stored.startswith("$argon2id$")
    pages = "".join(client.get(path).text for path in ("/dashboard", "/dashboard/account", LOGIN))
    logged = caplog.text
    for secret in (PASSWORD, "wrong-password-9", "next-password-3", stored, "$argon2"):
        assert secret not in pages
        assert secret not in logged


def test_test_and_live_are_shown_apart_and_switched_in_one_place(client: TestClient, owner: users.NewUser) -> None:
    csrf = sign_in(client)
    test_page = client.get("/dashboard").text
    assert 'class="mode-test"' in test_page
    assert "MODE UJI" in test_page
    switched = client.post("/dashboard/mode", data={"mode": "live", "csrf_token": csrf}, follow_redirects=False)
    assert switched.headers["location"] == "/dashboard"
    live_page = client.get("/dashboard?lang=en").text
    assert 'class="mode-live"' in live_page
    assert "LIVE MODE" in live_page
    assert "Test mode: test data" not in live_page
