"""`kasir demo` (the banner of `make run`) names the demo merchant's channels that nothing
confirms by itself in test mode, and how to get a source for them (issue 16, item 9)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from kasir.cli import app
from kasir.db.engine import Database
from kasir.merchants.service import authenticate
from kasir.payments import forwarders
from tests.integration.payments.fake_pollers import HERE

Invoke = Callable[..., Result]


@pytest.fixture
def run(database_url: str, tmp_path: Path) -> Invoke:
    runner = CliRunner()
    base = {"KASIR_DATABASE_URL": database_url, "KASIR_HOME": str(tmp_path / "home")}

    def invoke(*args: str, **env: str) -> Result:
        result = runner.invoke(app, list(args), env={**base, **env})
        assert result.exit_code == 0, result.output
        return result

    return invoke


def line_of(output: str, start: str) -> str:
    [found] = [line.strip() for line in output.splitlines() if line.strip().startswith(start)]
    return found


def test_demo_names_the_channels_without_a_source_and_how_to_get_one(run: Invoke) -> None:
    out = run("demo").stdout
    assert line_of(out, "no confirmation source").startswith("no confirmation source  qris, qris_user, gopay_qris, ovo")
    assert "kasir sandbox pay <invoice>" in out
    assert "KASIR_SANDBOX_AUTOPAY=10" in out
    assert "POST /v1/forwarder" in out
    assert "docs/mutations.md" in out


def test_demo_with_autopay_or_a_forwarder_says_every_channel_is_automatic(run: Invoke, db: Database) -> None:
    autopay = run("demo", KASIR_SANDBOX_AUTOPAY="10").stdout
    assert "no confirmation source" not in autopay
    assert line_of(autopay, "confirmation") == "confirmation         automatic on every channel (test mode)"

    key = run("demo").stdout.split("test API key")[1].split()[0]
    db.write_sync(lambda conn: forwarders.setup(conn, authenticate(conn, key), datetime.now(UTC)))
    assert "automatic on every channel" in run("demo").stdout


def test_demo_with_an_ovo_poller_names_the_other_channels(run: Invoke) -> None:
    out = run("demo", KASIR_MUTATION_SOURCES=f"{HERE}:ovo_only").stdout
    assert line_of(out, "no confirmation source").startswith("no confirmation source  qris, qris_user, gopay_qris (")
