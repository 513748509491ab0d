"""A payment link's fields as a merchant sends them (the API's JSON or form, the dashboard's form),
parsed and checked: each on its own first, then together (the price, the uses), the way
create-payment checks its own. A wrong field is a 400 naming it; nothing is written."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from kasir.clock import WIB, parse_moment
from kasir.config import Settings
from kasir.errors import InvalidRequest
from kasir.inputs import boolean, optional_id
from kasir.money import rupiah, whole_rupiah
from kasir.payments.methods import METHODS

MAX_TITLE = 200
MAX_DESCRIPTION = 2000
MAX_URL = 2048
# A cap beyond any shop's sales through one link; it keeps the number a plain integer everywhere.
MAX_USES = 1_000_000

PRICE_FIELDS = ("amount", "amount_min", "amount_max")
ATTACHMENT_FIELDS = ("file_id", "content_id", "product_image_id")
FIELDS = (
    "title",
    "description",
    *PRICE_FIELDS,
    "reusable",
    "max_paid_uses",
    "expires_at",
    "redirect_url",
    "payment_method",
    *ATTACHMENT_FIELDS,
    "active",
)

# What a new link is when a field is not given. Reusable: a link is mostly shared to a group or a
# status, for many buyers; a single-use one (an invoice for one buyer) says so.
DEFAULTS: dict[str, Any] = {
    "description": None,
    "amount": None,
    "amount_min": None,
    "amount_max": None,
    "reusable": True,
    "max_paid_uses": None,
    "expires_at": None,
    "redirect_url": None,
    "payment_method": "qris",
    "file_id": None,
    "content_id": None,
    "product_image_id": None,
    "active": True,
}


def _absent(value: Any) -> bool:
    # A form sends an empty field as ""; JSON may send null. Both mean "none".
    return value is None or (isinstance(value, str) and not value.strip())


def _title(value: Any, field: str) -> str:
    if _absent(value):
        raise InvalidRequest("title is required: what the buyer is paying for", field=field, code="missing_title")
    if not isinstance(value, str):
        raise InvalidRequest("title must be text", field=field, code="invalid_title")
    title = value.strip()
    if len(title) > MAX_TITLE:
        raise InvalidRequest(f"title is at most {MAX_TITLE} characters", field=field, code="title_too_long")
    if not title.isprintable():  # a line break or tab: the title is one line on every page
        raise InvalidRequest("title must be one line of printable text", field=field, code="invalid_title")
    return title


def _description(value: Any, field: str) -> str | None:
    if _absent(value):
        return None
    if not isinstance(value, str):
        raise InvalidRequest("description must be text", field=field, code="invalid_description")
    text = value.strip()
    if len(text) > MAX_DESCRIPTION:
        raise InvalidRequest(
            f"description is at most {MAX_DESCRIPTION} characters", field=field, code="description_too_long"
        )
    return text


def _money(value: Any, field: str) -> int | None:
    if _absent(value):
        return None
    try:
        amount = whole_rupiah(value, field)
    except ValueError as exc:
        raise InvalidRequest(f"{field} {exc}", field=field, code="invalid_amount") from None
    if amount <= 0:
        raise InvalidRequest(f"{field} must be a positive whole number of rupiah", field=field, code="invalid_amount")
    return amount


def _flag(value: Any, field: str) -> bool:
    try:
        return boolean(value)
    except ValueError:
        raise InvalidRequest(f"{field} must be true or false", field=field, code="invalid_parameter") from None


def _uses(value: Any, field: str) -> int | None:
    if _absent(value):
        return None
    if isinstance(value, bool) or not (
        isinstance(value, int) or (isinstance(value, str) and value.strip().isascii() and value.strip().isdigit())
    ):
        raise InvalidRequest(
            f"{field} must be a whole number from 1 to {MAX_USES}", field=field, code="invalid_max_paid_uses"
        )
    uses = int(value)
    if not 1 <= uses <= MAX_USES:
        raise InvalidRequest(
            f"{field} must be a whole number from 1 to {MAX_USES}", field=field, code="invalid_max_paid_uses"
        )
    return uses


def _moment(value: Any, field: str) -> datetime | None:
    if _absent(value):
        return None
    try:
        moment = parse_moment(value.strip() if isinstance(value, str) else value)
        moment.astimezone(WIB)  # shown in WIB (clock.to_wire): after 9999-12-31 23:59:59 WIB it overflows
        return moment
    except (ValueError, OverflowError):
        raise InvalidRequest(
            f"{field} must be a time: ISO 8601 (an offset, or WIB without one) or unix seconds",
            field=field,
            code="invalid_expires_at",
        ) from None


def _url(value: Any, field: str) -> str | None:
    if _absent(value):
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"{field} must be an http:// or https:// URL", field=field, code="invalid_url")
    url = value.strip()
    if len(url) > MAX_URL:
        raise InvalidRequest(f"{field} is at most {MAX_URL} characters", field=field, code="invalid_url")
    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed [ in the host, or a character NFKC makes a / or a ? in it
        raise InvalidRequest(f"{field} must be an http:// or https:// URL", field=field, code="invalid_url") from None
    # The buyer's browser is sent there once paid: a javascript: or data: URL would run on the
    # pay page. Kasir itself never fetches it, so there is no server-side request to guard.
    if parts.scheme not in ("http", "https") or not parts.hostname or any(ch.isspace() for ch in url):
        raise InvalidRequest(f"{field} must be an http:// or https:// URL", field=field, code="invalid_url")
    return url


def _method(value: Any, field: str) -> str:
    if _absent(value):
        return "qris"
    if not isinstance(value, str) or value not in METHODS:  # a list or an object is no key of METHODS
        raise InvalidRequest(
            f"payment_method must be one of {', '.join(METHODS)}", field=field, code="invalid_payment_method"
        )
    return str(value)


def _attachment(value: Any, field: str) -> int | None:
    try:
        return optional_id(value)
    except ValueError:
        raise InvalidRequest(f"{field} must be a positive integer id", field=field, code="invalid_parameter") from None


_PARSERS: dict[str, Callable[[Any, str], Any]] = {
    "title": _title,
    "description": _description,
    "amount": _money,
    "amount_min": _money,
    "amount_max": _money,
    "reusable": _flag,
    "max_paid_uses": _uses,
    "expires_at": _moment,
    "redirect_url": _url,
    "payment_method": _method,
    "file_id": _attachment,
    "content_id": _attachment,
    "product_image_id": _attachment,
    "active": _flag,
}


def parse_changes(params: Mapping[str, Any]) -> dict[str, Any]:
    """The fields ``params`` gives, each typed and checked on its own. An unknown field is refused
    rather than ignored: ``ammount`` must not make a link with a default price."""
    for name in params:
        if name not in _PARSERS:
            raise InvalidRequest(
                f"unknown field {name!r}; a link has {', '.join(FIELDS)}", field=str(name), code="unknown_field"
            )
    return {name: _PARSERS[name](params[name], name) for name in FIELDS if name in params}


def _price(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, int | None]:
    """The price after ``changes``: a fixed ``amount``, or ``amount_min`` and ``amount_max``. Setting
    one kind replaces the other, so a fixed price becomes an open one by sending its bounds."""
    given = {name: changes[name] for name in PRICE_FIELDS if changes.get(name) is not None}
    if "amount" in given and ("amount_min" in given or "amount_max" in given):
        raise InvalidRequest(
            "give amount (a fixed price) or amount_min and amount_max (the buyer chooses), not both",
            field="amount",
            code="amount_conflict",
        )
    if "amount" in given:
        return {"amount": given["amount"], "amount_min": None, "amount_max": None}
    if given or any(changes.get(name, 0) is None for name in PRICE_FIELDS):
        # Open, or the fixed price removed: bounds come from the changes, else from the link.
        price: dict[str, int | None] = {"amount": None}
        for name in ("amount_min", "amount_max"):
            price[name] = given.get(name, None if name in changes else current.get(name))
        return price
    return {name: current.get(name) for name in PRICE_FIELDS}


def _check_price(values: Mapping[str, Any], settings: Settings) -> None:
    method = METHODS[values["payment_method"]]
    low, high = settings.min_amount, method.max_amount(settings)
    bounds = f"between Rp {rupiah(low)} and Rp {rupiah(high)} for {method.id}"
    if values["amount"] is not None:
        if not low <= values["amount"] <= high:
            raise InvalidRequest(f"amount must be {bounds}", field="amount", code="amount_out_of_range")
        return
    minimum, maximum = values["amount_min"], values["amount_max"]
    if minimum is None and maximum is None:
        raise InvalidRequest(
            "a link needs a price: amount (fixed), or amount_min and amount_max (the buyer chooses)",
            field="amount",
            code="missing_amount",
        )
    for name, value in (("amount_min", minimum), ("amount_max", maximum)):
        if value is None:
            raise InvalidRequest(
                f"{name} is required when the buyer chooses the amount", field=name, code="missing_amount"
            )
        if not low <= value <= high:
            raise InvalidRequest(f"{name} must be {bounds}", field=name, code="amount_out_of_range")
    if minimum > maximum:
        raise InvalidRequest(
            "amount_min must not be more than amount_max", field="amount_min", code="invalid_amount_range"
        )


def _uses_of(current: Mapping[str, Any], changes: Mapping[str, Any]) -> tuple[bool, int | None]:
    reusable = changes.get("reusable", current["reusable"])
    if not reusable:
        if changes.get("max_paid_uses") not in (None, 1):
            raise InvalidRequest(
                "a single-use link has exactly one use; send reusable true for a cap above 1",
                field="max_paid_uses",
                code="single_use_cap",
            )
        return False, 1
    if "max_paid_uses" in changes:
        return True, changes["max_paid_uses"]
    if not current["reusable"]:
        return True, None  # a single-use link made reusable: no cap, unless one is sent
    return True, current["max_paid_uses"]


def resolve(
    current: Mapping[str, Any] | None, changes: Mapping[str, Any], settings: Settings, now: datetime
) -> dict[str, Any]:
    """The link's fields once ``changes`` apply to ``current`` (None: a new link), checked
    together. Only what is checkable without the database; kasir.links.service checks the rest
    (the method's availability, the goods' ids)."""
    if current is None:
        if "title" not in changes:
            raise InvalidRequest("title is required: what the buyer is paying for", field="title", code="missing_title")
        current = DEFAULTS
    values = {name: changes.get(name, current.get(name)) for name in FIELDS}
    if values["payment_method"] is None:
        values["payment_method"] = "qris"
    values.update(_price(current, changes))
    values["reusable"], values["max_paid_uses"] = _uses_of(current, changes)
    _check_price(values, settings)
    expires_at = changes.get("expires_at")
    if expires_at is not None and expires_at <= now:
        raise InvalidRequest("expires_at must be in the future", field="expires_at", code="expires_at_past")
    return values
