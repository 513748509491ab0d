"""What the dashboard's browser walks check on a page: that it fits the screen, and that what
the background worker writes shows up."""

from __future__ import annotations

import time
from typing import Any


def no_overflow(page: Any) -> None:
    """Nothing scrolls sideways: the page fits the phone's 390 px as well as the laptop."""
    assert page.evaluate("document.documentElement.scrollWidth") <= page.viewport_size["width"]


def wait_for_text(page: Any, selector: str, text: str, timeout: float = 30.0) -> None:
    """Reload until ``selector`` shows ``text`` (the worker writes the log in the background)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in str(page.locator(selector).all_inner_texts()):
            return
        time.sleep(0.3)
        page.reload()
    raise AssertionError(f"{selector} never showed {text!r}")
