"""Request fields, parsed strictly: a wrong field answers 400 naming the field and the reason."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kasir.api.body import loads
from kasir.api.errors import describe_validation_error
from kasir.clock import parse_moment
from kasir.errors import InvalidRequest
from kasir.inputs import boolean, optional_id
from kasir.money import whole_rupiah
from kasir.payments.service import NewPayment

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE_RE = re.compile(r"^\+?[0-9 ()\-]{6,20}$")


def http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL")
    return value


class CreatePaymentBody(BaseModel):
    """create-payment's parameters (seed 004)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    amount: int = Field(description="Integer rupiah, before the unique code.", examples=[50000])
    description: str | None = Field(default=None, max_length=1000)
    customer_name: str | None = Field(default=None, max_length=200)
    customer_email: str | None = Field(default=None, max_length=254)
    customer_phone: str | None = Field(default=None, max_length=40)
    callback_url: str | None = Field(default=None, max_length=2048)
    redirect_url: str | None = Field(default=None, max_length=2048)
    file_id: int | None = None
    content_id: int | None = None
    product_image_id: int | None = None
    payment_method: str = Field(default="qris", description="qris, qris_user, gopay_qris or ovo")
    use_qris_converter: bool = False

    @field_validator("amount", mode="before")
    @classmethod
    def _amount(cls, value: Any) -> int:
        return whole_rupiah(value)

    @field_validator("file_id", "content_id", "product_image_id", mode="before")
    @classmethod
    def _ids(cls, value: Any) -> int | None:
        return optional_id(value)

    @field_validator("use_qris_converter", mode="before")
    @classmethod
    def _bool(cls, value: Any) -> bool:
        return boolean(value)

    @field_validator(
        "description",
        "customer_name",
        "customer_email",
        "customer_phone",
        "callback_url",
        "redirect_url",
        mode="before",
    )
    @classmethod
    def _text(cls, value: Any) -> Any:
        if value is None or isinstance(value, str):
            return value or None
        raise ValueError("must be a string")

    @field_validator("customer_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value and not _EMAIL_RE.fullmatch(value):
            raise ValueError("is not an email address")
        return value or None

    @field_validator("customer_phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value and not _PHONE_RE.fullmatch(value):
            raise ValueError("is not a phone number")
        return value or None

    @field_validator("callback_url", "redirect_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return http_url(value) if value else None

    @field_validator("payment_method", mode="before")
    @classmethod
    def _method(cls, value: Any) -> Any:
        return "qris" if value in (None, "") else value

    def to_new_payment(self) -> NewPayment:
        return NewPayment(**self.model_dump())


def parse(model: type[BaseModel], params: dict[str, Any]) -> Any:
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        field, message, code = describe_validation_error(dict(exc.errors()[0]))
        raise InvalidRequest(message, field=field, code=code) from None


# The calendar's first and last days have no WIB midnight in UTC (datetime overflows, a 500): a
# filter from or to them is a filter from or to the next day in, where no payment is either.
_FIRST_DAY, _LAST_DAY = date(1, 1, 2), date(9999, 12, 30)


def parse_date(value: str | None, field: str) -> date | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) else _bad_date(field)
    except ValueError:
        return _bad_date(field)
    return min(max(day, _FIRST_DAY), _LAST_DAY)


def query_count(value: str | None, field: str, default: int, *, low: int) -> int:
    """A page, limit or offset from the query string: ASCII digits only (str.isdigit() also takes
    "²" and "١"), and few enough of them that an offset computed from it still fits a database
    integer."""
    text = (value or "").strip()
    if not text:
        return default
    if not re.fullmatch(r"[0-9]{1,9}", text) or int(text) < low:
        raise InvalidRequest(f"{field} must be a whole number from {low} to 999999999", field=field)
    return int(text)


def _bad_date(field: str) -> date:
    raise InvalidRequest(f"{field} must be a date as YYYY-MM-DD", field=field)


class EndpointBody(BaseModel):
    """An endpoint's settings; on PATCH only the fields sent change."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    url: str | None = Field(default=None, max_length=2048)
    dialect: str | None = Field(default=None, description="bayargg, standard, digiflazz, ilenpay, isikuota, xendit")
    description: str | None = Field(default=None, max_length=500)
    event_types: list[str] | None = Field(default=None, description="Event types or families (payment.*); null: all")
    rate_limit: int | None = Field(default=None, ge=1, le=10000, description="Deliveries per second")
    fifo: bool | None = Field(default=None, description="Deliver in event order; a failing head holds the rest")
    headers: dict[str, str] | None = Field(default=None, description="Extra request headers")
    enabled: bool | None = None
    expires_in: int | None = Field(
        default=None, ge=60, le=7 * 86400, description="Seconds until a temporary endpoint stops (kasir listen)"
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return http_url(value) if value else value


class WebhookSettingsBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    default_callback_url: str | None = Field(default=None, max_length=2048)
    dialect: str | None = None
    event_types: list[str] | None = Field(default=None, description='Default ["payment.paid"], as bayar.gg')

    @field_validator("default_callback_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return http_url(value) if value else None


class SampleEventBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_type: str = Field(
        default="payment.paid", description="payment.created, .paid, .expired, .cancelled, or order.*"
    )


class RecoverBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # min_length: an empty since is no time at all (it reached the route as None, a 500).
    since: str = Field(
        min_length=1, description="ISO 8601 time or unix seconds: failed deliveries from then on are sent again"
    )


def parse_time(value: str | None, field: str) -> datetime | None:
    """A time filter of the API: ``kasir.clock.parse_moment``'s rule (a time without an offset is
    WIB, as every time the API shows), with unix seconds of any length; aware UTC."""
    if value is None or value == "":
        return None
    try:
        return parse_moment(value, unix_digits=1)
    except ValueError:
        raise InvalidRequest(f"{field} must be an ISO 8601 time or unix seconds", field=field) from None


def whole_number(value: Any, low: int, high: int) -> int:
    """An integer from JSON or a form: no floats, no booleans, no separators."""
    if isinstance(value, bool) or not (
        isinstance(value, int) or (isinstance(value, str) and re.fullmatch(r"\s*[0-9]{1,12}\s*", value))
    ):
        raise ValueError("must be a whole number")
    number = int(value)
    if not low <= number <= high:
        raise ValueError(f"must be between {low} and {high}")
    return number


class OrderItemBody(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200, examples=["Kopi Susu Gula Aren 1 L"])
    quantity: int = Field(description="1 to 10,000", examples=[2])
    price: int = Field(description="Integer rupiah per unit", examples=[37500])

    @field_validator("quantity", mode="before")
    @classmethod
    def _quantity(cls, value: Any) -> int:
        return whole_number(value, 1, 10_000)

    @field_validator("price", mode="before")
    @classmethod
    def _price(cls, value: Any) -> int:
        price = whole_rupiah(value, "price")
        if not 0 <= price <= 100_000_000:
            raise ValueError("must be between 0 and 100,000,000 rupiah")
        return price


class StoreOrderBody(BaseModel):
    """A WA Store order (``POST /v1/store/orders``)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    customer_name: str = Field(min_length=1, max_length=200, examples=["Rahim"])
    customer_phone: str = Field(
        max_length=40, description="08…, 62… or +62…; stored as 62…", examples=["0812-3456-7890"]
    )
    items: list[OrderItemBody] = Field(min_length=1, max_length=100)
    payment_method: str = Field(default="qris", description="qris, qris_user, gopay_qris or ovo")
    notes: str | None = Field(default=None, max_length=1000)
    create_payment: bool = Field(default=True, description="false: the order waits (pending) for POST …/payment")
    notify: bool = Field(default=True, description="Message the buyer on WhatsApp")

    @field_validator("items", mode="before")
    @classmethod
    def _items(cls, value: Any) -> Any:
        # Forms carry the list as one JSON field, held to what a JSON body is held to (its depth,
        # no control characters); those refusals are InvalidRequest, which pydantic lets through.
        if isinstance(value, str):
            try:
                return loads(value, field="items")
            except ValueError:
                raise ValueError("must be a JSON list of {name, quantity, price}") from None
        return value

    @field_validator("create_payment", "notify", mode="before")
    @classmethod
    def _bool(cls, value: Any) -> bool:
        return boolean(value)

    @field_validator("payment_method", mode="before")
    @classmethod
    def _method(cls, value: Any) -> Any:
        return "qris" if value in (None, "") else value

    @field_validator("notes", mode="before")
    @classmethod
    def _notes(cls, value: Any) -> Any:
        if value is None or isinstance(value, str):
            return value or None
        raise ValueError("must be a string")


class OrderStepBody(BaseModel):
    """The body of an order's /v1 steps (process, complete, cancel, payment)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    notify: bool = Field(default=True, description="Message the buyer on WhatsApp")
    payment_method: str | None = Field(default=None, description="For …/payment: another method than the order's")

    @field_validator("notify", mode="before")
    @classmethod
    def _bool(cls, value: Any) -> bool:
        return True if value is None else boolean(value)
