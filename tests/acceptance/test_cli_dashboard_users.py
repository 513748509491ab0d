"""`kasir user create` and the demo's dashboard login, as an operator runs them: the password
printed once signs in (a one-time one must then be changed), and nothing else does."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from kasir.app import create_app
from kasir.cli import app
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.merchants.service import NewMerchant
from kasir.team import users

Invoke = Callable[..., Result]


@pytest.fixture
def run(database_url: str, tmp_path: Path) -> Invoke:
    runner = CliRunner()
    env = {"KASIR_DATABASE_URL": database_url, "KASIR_HOME": str(tmp_path / "home")}

    def invoke(*args: str, ok: bool = True) -> Result:
        result = runner.invoke(app, list(args), env=env)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return invoke


@pytest.fixture
def dashboard(settings: Settings, db: Database) -> TestClient:
    return TestClient(create_app(settings, database=db, background=False))


def signs_in(client: TestClient, email: str, password: str) -> str | None:
    """Where a sign-in with these lands, or None when it is refused."""
    with client:
        response = client.post("/dashboard/login", data={"email": email, "password": password}, follow_redirects=False)
        if response.status_code != 303:
            return None
        return str(client.get("/dashboard", follow_redirects=False).headers.get("location", "/dashboard"))


def test_user_create_prints_a_one_time_password_that_must_be_changed(
    run: Invoke, merchant: NewMerchant, dashboard: TestClient
) -> None:
    shown = run("user", "create", "--merchant", merchant.username, "--email", "Kasir@Toko.test").stdout
    password = re.search(r"one-time password\s+(\S+)", shown)
    assert password, shown
    assert "/dashboard/login" in shown
    assert signs_in(dashboard, "kasir@toko.test", password.group(1)) == "/dashboard/account"
    assert signs_in(dashboard, "kasir@toko.test", "not-the-password") is None


def test_user_create_json_and_its_refusals(run: Invoke, merchant: NewMerchant) -> None:
    made = json.loads(run("user", "create", "--merchant", merchant.username, "--email", "a@toko.test", "--json").stdout)
    assert made["email"] == "a@toko.test"
    assert made["role"] == "owner"
    assert len(made["one_time_password"]) == 16
    again = run("user", "create", "--merchant", merchant.username, "--email", "A@toko.test", ok=False)
    assert again.exit_code != 0
    assert "already" in again.output
    nobody = run("user", "create", "--merchant", "no_such_shop", "--email", "b@toko.test", ok=False)
    assert nobody.exit_code != 0
    assert "no_such_shop" in nobody.output
    bad = run("user", "create", "--merchant", merchant.username, "--email", "b@toko.test", "--role", "boss", ok=False)
    assert bad.exit_code != 0


def test_the_demo_prints_a_dashboard_login_that_works_on_every_run(
    run: Invoke, tmp_path: Path, dashboard: TestClient
) -> None:
    first = run("demo").stdout
    email = re.search(r"email\s+(\S+@\S+)", first)
    password = re.search(r"password\s+(\S+)", first)
    assert email, first
    assert password, first
    assert "/dashboard/login" in first
    assert signs_in(dashboard, email.group(1), password.group(1)) == "/dashboard"  # no change forced on the demo
    second = run("demo").stdout
    assert password.group(1) in second
    # The file lost: a new password, which works, and the old one does not.
    (tmp_path / "home" / "demo-merchant.json").unlink()
    third = re.search(r"password\s+(\S+)", run("demo").stdout)
    assert third
    assert third.group(1) != password.group(1)
    assert signs_in(dashboard, email.group(1), third.group(1)) == "/dashboard"
    assert signs_in(dashboard, email.group(1), password.group(1)) is None


def test_user_list_shows_the_team_and_never_a_password(
    run: Invoke, merchant: NewMerchant, other_merchant: NewMerchant
) -> None:
    owner = json.loads(
        run("user", "create", "--merchant", merchant.username, "--email", "o@toko.test", "--json").stdout
    )
    run(
        "user",
        "create",
        "--merchant",
        merchant.username,
        "--email",
        "kasir.depan.toko.kopi@toko.test",
        "--role",
        "cashier",
    )
    run("user", "create", "--merchant", other_merchant.username, "--email", "x@lain.test")
    listed = json.loads(run("user", "list", "--merchant", merchant.username, "--json").stdout)
    assert [(user["email"], user["role"], user["last_sign_in_at"]) for user in listed] == [
        ("o@toko.test", "owner", None),
        ("kasir.depan.toko.kopi@toko.test", "cashier", None),
    ]
    table = run("user", "list", "--merchant", merchant.username).stdout
    assert "kasir.depan.toko.kopi@toko.test" in table  # whole: it is what `user remove` takes
    assert "never" in table
    assert owner["one_time_password"] not in table
    assert "x@lain.test" not in table
    nobody = run("user", "list", "--merchant", "no_such_shop", ok=False)
    assert nobody.exit_code != 0
    assert "no_such_shop" in nobody.output


def test_user_remove_ends_the_sessions_and_is_in_the_teams_history(
    run: Invoke, merchant: NewMerchant, dashboard: TestClient, db: Database
) -> None:
    made = json.loads(run("user", "create", "--merchant", merchant.username, "--email", "o@toko.test", "--json").stdout)
    with dashboard:
        response = dashboard.post(
            "/dashboard/login",
            data={"email": "o@toko.test", "password": made["one_time_password"]},
            follow_redirects=False,
        )
        assert response.status_code == 303
        assert dashboard.get("/dashboard/account", follow_redirects=False).status_code == 200
        removed = run("user", "remove", "--email", "O@toko.test").stdout
        assert "o@toko.test" in removed
        assert "no owner now" in removed  # the last owner may go, and the operator is told
        assert (
            dashboard.get("/dashboard/account", follow_redirects=False)
            .headers["location"]
            .startswith("/dashboard/login")
        )
    assert signs_in(dashboard, "o@toko.test", made["one_time_password"]) is None
    assert json.loads(run("user", "list", "--merchant", merchant.username, "--json").stdout) == []
    history = db.read_sync(lambda conn: users.team_actions(conn, merchant.id))
    assert [(line["action"], line["subject"], line["actor"]) for line in history] == [
        ("team.remove", "o@toko.test", users.OPERATOR)
    ]
    again = run("user", "remove", "--email", "o@toko.test", ok=False)
    assert again.exit_code != 0
    assert "no dashboard user" in again.output
