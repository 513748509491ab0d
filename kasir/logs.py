"""Logging: one line per event worth knowing, on stderr, as text or JSON lines, never a secret.

API keys can arrive in the query string (``?apiKey=``, seed 004) and access logs print query
strings; secrets and keys have recognisable shapes (``ksr_live_…``, ``whsec_…``, ``fwsec_…``).
``MaskSecrets`` rewrites a record's message before any formatter sees it. It is attached to the
*handlers*, not to loggers: a filter on a logger sees only records logged on that very logger,
never those of its children (``kasir.worker``, ``kasir.api``, …) that propagate through it.
The formatters mask tracebacks as well, which no filter sees formatted.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Literal, TextIO

_SECRET_IN_QUERY = re.compile(r"(?i)((?:apiKey|api_key|key|secret|token|password)=)[^&\s\"']+")
# Kasir's own key and secret formats, and bearer credentials, wherever they appear in a line.
_SECRET_SHAPES = re.compile(r"\b((?:ksr_(?:test|live)|whsec|fwsec|src)_)[A-Za-z0-9+/=_-]{8,}")
_BEARER = re.compile(r"(?i)\b(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}")

LogFormat = Literal["text", "json"]


def mask_secrets(text: str) -> str:
    text = _SECRET_IN_QUERY.sub(r"\1***", text)
    text = _SECRET_SHAPES.sub(r"\1***", text)
    return _BEARER.sub(r"\1***", text)


class MaskSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_kasir_masked", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad %-format in somebody's call: keep the raw parts, masked
            message = f"{record.msg} {record.args}"
        record.msg = mask_secrets(message)
        record.args = None
        record._kasir_masked = True
        return True


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return mask_secrets(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, exc (when any)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": mask_secrets(record.getMessage()),
        }
        if record.exc_info:
            line["exc"] = mask_secrets(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False)


def configure_logging(level: str = "info", fmt: LogFormat = "text", stream: TextIO | None = None) -> None:
    """What ``kasir serve`` and ``kasir worker`` run first: the root logger writes to stderr at
    ``level`` (``KASIR_LOG_LEVEL``), as ``fmt`` (``KASIR_LOG_FORMAT``), masked. uvicorn's loggers
    propagate here (the CLI starts uvicorn without a logging config of its own)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(MaskSecrets())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.NOTSET)  # the root's level; uvicorn sets its own from --log-level
    # Third-party chatter that is not an event of Kasir's: a line per request or per connection,
    # and alembic's two lines of set-up on every start (an upgrade it runs is still a warning-free
    # step; `kasir migrate` says what it did).
    for name in ("aiohttp.access", "asyncio", "alembic"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))


def install_secret_masking() -> None:
    """For an app started by someone else's code (tests, an embedding server): mask on every
    handler that exists now, whoever configured it."""
    loggers = [logging.getLogger(), *(logging.getLogger(n) for n in ("uvicorn", "uvicorn.access", "uvicorn.error"))]
    for logger in loggers:
        for handler in logger.handlers:
            if not any(isinstance(f, MaskSecrets) for f in handler.filters):
                handler.addFilter(MaskSecrets())
