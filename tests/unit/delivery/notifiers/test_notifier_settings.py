"""KASIR_NOTIFIER and the WhatsApp settings: the log notifier by default; ``whatsapp`` only with a
phone number id and a token, refused when the settings are built (not at the first order) with a
message that names what is missing; the token never shown."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError
from typer.testing import CliRunner

from kasir.cli import app
from kasir.config import Settings
from kasir.delivery import notifiers
from kasir.delivery.notifiers.log import LogNotifier
from kasir.delivery.notifiers.whatsapp import WhatsAppCloudNotifier

NEEDS = "KASIR_NOTIFIER=whatsapp needs KASIR_WHATSAPP_PHONE_NUMBER_ID and KASIR_WHATSAPP_TOKEN"
TOKEN = "EAAGm0PX4ZCpsBAKasirSettingsToken"


def build(tmp_path: Path, **values: Any) -> Settings:
    return Settings(home=tmp_path / "home", **values)


def test_the_default_notifier_writes_to_the_log(tmp_path: Path) -> None:
    settings = build(tmp_path)
    assert settings.notifier == "log"
    assert settings.whatsapp_api_url == "https://graph.facebook.com/v21.0"
    assert isinstance(notifiers.from_settings(settings), LogNotifier)


@pytest.mark.parametrize(
    "values",
    [
        pytest.param({}, id="neither"),
        pytest.param({"whatsapp_token": TOKEN}, id="no-phone-number-id"),
        pytest.param({"whatsapp_phone_number_id": "106540352242922"}, id="no-token"),
        pytest.param({"whatsapp_phone_number_id": "", "whatsapp_token": TOKEN}, id="empty-phone-number-id"),
        pytest.param({"whatsapp_phone_number_id": "106540352242922", "whatsapp_token": ""}, id="empty-token"),
    ],
)
def test_whatsapp_without_its_phone_number_id_or_token_is_refused(tmp_path: Path, values: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as refused:
        build(tmp_path, notifier="whatsapp", **values)
    assert NEEDS in str(refused.value)
    assert TOKEN not in str(refused.value)


def test_whatsapp_from_the_environment_is_refused_the_same_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KASIR_NOTIFIER", "whatsapp")
    monkeypatch.setenv("KASIR_WHATSAPP_TOKEN", TOKEN)
    with pytest.raises(ValidationError, match=re.escape(NEEDS)):
        build(tmp_path)
    monkeypatch.setenv("KASIR_WHATSAPP_PHONE_NUMBER_ID", "106540352242922")
    monkeypatch.setenv("KASIR_WHATSAPP_API_URL", "http://127.0.0.1:9/v21.0")
    settings = build(tmp_path)
    notifier = notifiers.from_settings(settings)
    assert isinstance(notifier, WhatsAppCloudNotifier)
    assert notifier.url == "http://127.0.0.1:9/v21.0/106540352242922/messages"


def test_an_unknown_notifier_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="'log' or 'whatsapp'"):
        build(tmp_path, notifier="sms")


def test_the_token_is_a_secret_in_every_rendering_of_the_settings(tmp_path: Path) -> None:
    settings = build(tmp_path, notifier="whatsapp", whatsapp_phone_number_id="106540352242922", whatsapp_token=TOKEN)
    assert isinstance(settings.whatsapp_token, SecretStr)
    assert settings.whatsapp_token.get_secret_value() == TOKEN
    for shown in (repr(settings), str(settings), settings.model_dump_json(), str(settings.model_dump())):
        assert TOKEN not in shown


def invoke_worker(tmp_path: Path) -> str:
    """``kasir worker`` with KASIR_NOTIFIER=whatsapp and a token but no phone number id."""
    env = {
        "KASIR_HOME": str(tmp_path / "home"),
        "KASIR_DATABASE_URL": f"sqlite:///{tmp_path / 'kasir.db'}",
        "KASIR_NOTIFIER": "whatsapp",
        "KASIR_WHATSAPP_TOKEN": TOKEN,
    }
    result = CliRunner().invoke(app, ["worker"], env=env)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return " ".join(result.output.split())  # Rich wraps long lines


def test_the_worker_command_refuses_to_start_and_says_why(tmp_path: Path) -> None:
    output = invoke_worker(tmp_path)
    assert NEEDS in output
    assert "Traceback" not in output
    assert TOKEN not in output
    assert not (tmp_path / "kasir.db").exists()  # refused before touching the database


def test_the_worker_command_names_no_bogus_variable(tmp_path: Path) -> None:
    output = invoke_worker(tmp_path)
    assert "KASIR_:" not in output
