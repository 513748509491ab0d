"""`kasir user create` and the demo's dashboard login, as an operator runs them: the password
printed once signs in (a one-time one must then be changed), and nothing else does."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from kasir.app import create_app
from kasir.cli import app
from kasir.config import Settings
from kasir.db.engine import Database
from kasir.merchants.service import NewMerchant

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
