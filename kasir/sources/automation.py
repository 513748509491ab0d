"""The body an automation app sends: MacroDroid, Tasker or Automate, set up with a URL and a body
template pasted once (docs/sources.md).

These apps put a notification's title and text into the body as they are: MacroDroid neither
JSON-escapes nor URL-encodes its magic text, so a quote or a newline in a notification would
break a JSON or form body, and an ``&`` would split a form field. The template is therefore plain
text in sections, one field each, divided by a boundary line. The boundary is derived from the
source's token, so a payer who puts a boundary-looking line into their name cannot forge a field:
they do not know it. The token itself is the template's first line, so no header is needed.

::

    token=kst_…
    --kasir-<boundary>
    package=[not_app_package]
    --kasir-<boundary>
    posted_at=[system_time]
    --kasir-<boundary>
    title=[not_title]
    --kasir-<boundary>
    text=[notification]
    --kasir-<boundary>
    big_text=[not_text_big]
"""

from __future__ import annotations

import hashlib
from typing import Any

from kasir.errors import InvalidRequest

# MacroDroid's magic text for a notification trigger. ``[system_time]`` is when the action runs,
# in unix seconds: MacroDroid has no variable for when the notification was posted.
MACRODROID = {
    "package": "[not_app_package]",
    "posted_at": "[system_time]",
    "title": "[not_title]",
    "text": "[notification]",
    "big_text": "[not_text_big]",
}
FIELDS = ("package", "posted_at", "title", "text", "big_text")
CONTENT_TYPE = "text/plain"


def boundary(token_hash: str) -> str:
    return "--kasir-" + hashlib.sha256(f"kasir-automation-boundary:{token_hash}".encode()).hexdigest()[:16]


def template(token: str, token_hash: str, variables: dict[str, str] = MACRODROID) -> str:
    line = boundary(token_hash)
    parts = [f"token={token}", *(f"{name}={variables[name]}" for name in FIELDS)]
    return f"\n{line}\n".join(parts)


def token_of(body: str) -> str | None:
    """The token on the body's first line, before anything else is trusted."""
    first = body.replace("\r\n", "\n").split("\n", 1)[0].strip()
    if not first.startswith("token="):
        return None
    return first.removeprefix("token=").strip() or None


def parse(body: str, token_hash: str) -> dict[str, Any]:
    """The notification in an authenticated template body, as an item of the notifications API."""
    text = body.replace("\r\n", "\n")
    sections = text.split(f"\n{boundary(token_hash)}\n")
    fields: dict[str, str] = {}
    for section in sections[1:]:
        name, sep, value = section.partition("=")
        if not sep or name not in FIELDS:
            raise InvalidRequest(
                f"a section of the body is not one of {', '.join(FIELDS)} as name=value: paste the template as "
                "GET /v1/sources/{id}/automation shows it",
                code="invalid_template",
            )
        if name in fields:
            raise InvalidRequest(f"{name} appears twice in the body", code="invalid_template")
        fields[name] = value.rstrip("\n") if name in ("text", "big_text") else value.strip()
    if "package" not in fields:
        raise InvalidRequest(
            "the body has no package section: paste the template as GET /v1/sources/{id}/automation shows it",
            code="invalid_template",
        )
    item: dict[str, Any] = {name: value for name, value in fields.items() if value != ""}
    posted = item.get("posted_at")
    if isinstance(posted, str) and posted.isdigit() and len(posted) <= 11:
        item["posted_at"] = int(posted) * 1000  # unix seconds, as [system_time] is
    return item
