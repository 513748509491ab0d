from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from kasir.logs import MaskSecrets, configure_logging, install_secret_masking, mask_secrets


def test_api_keys_in_query_strings_are_masked() -> None:
    line = '"GET /api/check-payment.php?invoice=PAY-a-1-X&apiKey=ksr_test_secret123 HTTP/1.1" 200'
    masked = mask_secrets(line)
    assert "ksr_test_secret123" not in masked
    assert "apiKey=***" in masked
    assert "invoice=PAY-a-1-X" in masked


@pytest.mark.parametrize(
    "secret",
    [
        "ksr_live_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0U1v",
        "whsec_" + "c2VjcmV0LWtleS1ieXRlcy0xMjM0NTY3OA==",
        "fwsec_" + "Zm9yd2FyZGVyLXNlY3JldA",
    ],
)
def test_kasir_secret_shapes_are_masked_anywhere_in_a_line(secret: str) -> None:
    masked = mask_secrets(f"rotated: new secret {secret} for merchant toko")
    assert secret not in masked
    assert secret.split("_")[0] + "_" in masked  # the kind still shows, for whoever reads the log
    assert "for merchant toko" in masked


def test_bearer_tokens_are_masked() -> None:
    masked = mask_secrets("sending with Authorization: Bearer EAAGm0PX4ZCpsBA9zZ")
    assert "EAAGm0PX4ZCpsBA9zZ" not in masked
    assert "Bearer ***" in masked


def test_filter_masks_log_record_arguments() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, "", 0, '%s "%s"', ("1.2.3.4", "GET /?apiKey=ksr_live_x"), None
    )
    MaskSecrets().filter(record)
    assert "ksr_live_x" not in record.getMessage()


@pytest.fixture
def root_logging() -> Iterator[None]:
    """configure_logging changes the root logger; give the test runner's own back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


SECRET = "whsec_" + "c2VjcmV0LWtleS1ieXRlcy0xMjM0NTY3OA=="


def test_child_loggers_are_masked_too(root_logging: None) -> None:
    """The defect: the filter sat on the ``kasir`` logger, which never sees its children's
    records. Now every record that reaches the handler is masked, whoever logged it."""
    out = io.StringIO()
    configure_logging("info", "text", stream=out)
    for name in ("kasir", "kasir.worker", "kasir.api", "kasir.notify", "uvicorn.error", "someone.else"):
        logging.getLogger(name).info("secret is %s", SECRET)
    lines = out.getvalue().splitlines()
    assert len(lines) == 6
    assert all("whsec_***" in line for line in lines), lines
    assert SECRET not in out.getvalue()


def test_tracebacks_are_masked(root_logging: None) -> None:
    out = io.StringIO()
    configure_logging("info", "json", stream=out)
    try:
        raise ValueError(f"bad key {SECRET}")
    except ValueError:
        logging.getLogger("kasir.api").exception("unhandled")
    assert SECRET not in out.getvalue()
    [line] = out.getvalue().splitlines()
    record = json.loads(line)
    assert record["level"] == "ERROR"
    assert record["logger"] == "kasir.api"
    assert record["message"] == "unhandled"
    assert "whsec_***" in record["exc"]


def test_json_lines_and_the_level(root_logging: None) -> None:
    out = io.StringIO()
    configure_logging("warning", "json", stream=out)
    logging.getLogger("kasir.worker").info("claimed 3 deliveries")
    logging.getLogger("kasir.worker").warning("delivery dlv_1 failed: receiver answered 500")
    [line] = out.getvalue().splitlines()
    record = json.loads(line)
    assert set(record) == {"time", "level", "logger", "message"}
    assert record["message"] == "delivery dlv_1 failed: receiver answered 500"
    assert record["time"].endswith("+00:00")


def test_install_secret_masking_covers_handlers_someone_else_configured(root_logging: None) -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    logging.getLogger().addHandler(handler)
    install_secret_masking()
    logging.getLogger("kasir.delivery").warning("token %s", SECRET)
    assert SECRET not in out.getvalue()
    assert "whsec_***" in out.getvalue()
