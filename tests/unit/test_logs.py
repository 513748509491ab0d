from __future__ import annotations

import logging

from kasir.logs import MaskSecrets, mask_secrets


def test_api_keys_in_query_strings_are_masked() -> None:
    line = '"GET /api/check-payment.php?invoice=PAY-a-1-X&apiKey=ksr_test_secret123 HTTP/1.1" 200'
    masked = mask_secrets(line)
    assert "ksr_test_secret123" not in masked
    assert "apiKey=***" in masked
    assert "invoice=PAY-a-1-X" in masked


def test_filter_masks_log_record_arguments() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, "", 0, '%s "%s"', ("1.2.3.4", "GET /?apiKey=ksr_live_x"), None
    )
    MaskSecrets().filter(record)
    assert "ksr_live_x" not in record.getMessage()
