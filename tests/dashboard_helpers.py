"""What the dashboard's tests share: a user who signs in, the CSRF token of a page, a laptop."""

from __future__ import annotations

import re
from typing import Any

PASSWORD = "kata-sandi-toko-1"
EMAIL = "owner@toko.test"
# A laptop, next to the phone (390×844) of tests/browser/conftest.py.
LAPTOP: dict[str, Any] = {
    "viewport": {"width": 1280, "height": 800},
    "device_scale_factor": 1,
    "is_mobile": False,
    "has_touch": False,
}


def csrf_of(html: str) -> str:
    """The CSRF token a dashboard page's forms carry."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)
