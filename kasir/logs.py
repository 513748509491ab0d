"""Logging set-up. API keys can arrive in the query string (``?apiKey=``, seed 004), and access
logs print query strings: this filter masks them before any handler sees the record."""

from __future__ import annotations

import logging
import re

_SECRET_IN_QUERY = re.compile(r"(?i)((?:apiKey|api_key|key|secret|token)=)[^&\s\"]+")


def mask_secrets(text: str) -> str:
    return _SECRET_IN_QUERY.sub(r"\1***", text)


class MaskSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(mask_secrets(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = mask_secrets(record.msg)
        return True


def install_secret_masking() -> None:
    for name in ("uvicorn.access", "uvicorn.error", "kasir"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, MaskSecrets) for f in logger.filters):
            logger.addFilter(MaskSecrets())
