"""Rules for single values from outside, shared by every way input comes in (the API, the pages,
forwarded notifications, reported credits, links): a leaf, so that the domain packages apply the
same rules as the API without importing it (docs/architecture.md, "Layers")."""

from __future__ import annotations

import re
from typing import Any

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

# C0 control characters but tab, line feed and carriage return, which text legitimately holds.
# No name, note or id a person types has one; PostgreSQL refuses NUL outright (the driver raised,
# a 500) while SQLite stored it; ESC and the rest are terminal escapes in logs and invisible on
# the pay page. Refused wherever request text is parsed, so both databases see the same input.
# DEL and the C1 range are left alone: they are not C0, and both databases store them.
CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


# Ids have at most 15 digits, as text or as a JSON number: a larger number names no row, and
# would not fit the database's integer (SQLite and psycopg raised on it: a 500).
MAX_ID = 10**15 - 1


def optional_id(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError("must be a positive integer id")
    if isinstance(value, int) or (isinstance(value, str) and re.fullmatch(r"\s*[0-9]{1,15}\s*", value)):
        number = int(value)
        if 0 < number <= MAX_ID:
            return number
    raise ValueError("must be a positive integer id")


def boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError("must be true or false")
