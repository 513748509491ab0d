"""WA Store orders (seed 004): an order taken in a WhatsApp chat, paid through a Kasir payment,
then processed, completed or cancelled by the merchant.

    pending ──► waiting_payment ──► paid ──► processing ──► completed
       │              │  ▲ (a new payment    │
       └──────────────┴──┴─ when one expired)┴──────────► cancelled

- Creating the order's payment moves it to ``waiting_payment``; the payment being paid moves it
  to ``paid`` in the transaction that pays the payment (:func:`mark_paid`, called by matching and
  by manual reconciliation).
- ``completed`` only from ``paid`` or ``processing``; a completed order cannot be cancelled
  (seed 004). Every refusal is a 409 whose ``code`` says why.
- Each change writes its ``order.*`` event, and the buyer's WhatsApp message as a delivery of
  that event, in the transaction of the change.

No HTTP and no commit here: callers pass the Connection of their transaction.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Select, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from kasir import phone
from kasir.clock import WIB, wib_day_start
from kasir.config import Settings
from kasir.db import statements
from kasir.db.statements import Conn, Statement, const, in_list
from kasir.db.tables import store_orders
from kasir.delivery.outbox import record_event
from kasir.errors import Conflict, InvalidRequest, NotFound
from kasir.merchants import lookup
from kasir.merchants.service import Principal
from kasir.payments import purposes
from kasir.payments import service as payment_service
from kasir.store.views import event_payload


class OrderStatus(StrEnum):
    """``store_orders.status`` (seed 004's order statuses)."""

    PENDING = "pending"
    WAITING_PAYMENT = "waiting_payment"
    PAID = "paid"
    PROCESSING = "processing"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


STATUSES = tuple(OrderStatus)
MAX_LIMIT = 100
DEFAULT_LIMIT = 50
MAX_ITEMS = 100

# What each step moves an order from (seed 004: completed only from paid or processing; a
# completed order cannot be cancelled), and the statuses a new payment may be issued in. The one
# rule the services enforce and the dashboard reads to offer only the steps an order can take.
MOVES_FROM: dict[OrderStatus, tuple[OrderStatus, ...]] = {
    OrderStatus.PROCESSING: (OrderStatus.PAID,),
    OrderStatus.COMPLETED: (OrderStatus.PAID, OrderStatus.PROCESSING),
    OrderStatus.CANCELLED: (OrderStatus.PENDING, OrderStatus.WAITING_PAYMENT, OrderStatus.PAID, OrderStatus.PROCESSING),
}
PAYABLE = (OrderStatus.PENDING, OrderStatus.WAITING_PAYMENT)
# The steps by the names of the API's calls (…/process, …/complete, …/cancel, …/payment).
STEPS = ("process", "complete", "cancel", "payment")

_SUFFIX_ALPHABET = string.ascii_uppercase + string.digits
_MAX_NUMBER_ATTEMPTS = 20

# The order with what its API view shows of its current payment.
_WITH_PAYMENT = purposes.joined_to_payment(store_orders, store_orders.c.payment_id)
ORDER_WITH_PAYMENT: Select[Any] = purposes.with_order_payment(select(store_orders).select_from(_WITH_PAYMENT))


@dataclass(frozen=True, slots=True)
class Item:
    name: str
    quantity: int
    price: int  # integer rupiah per unit


@dataclass(frozen=True, slots=True)
class NewOrder:
    customer_name: str
    customer_phone: str  # as typed; normalised by create_order
    items: Sequence[Item]
    notes: str | None = None
    payment_method: str = "qris"
    create_payment: bool = True


@dataclass(frozen=True, slots=True)
class OrderFilter:
    status: str | None = None
    search: str | None = None
    limit: int = DEFAULT_LIMIT
    offset: int = 0
    start_date: date | None = None  # created on these WIB calendar days, both ends included
    end_date: date | None = None


def new_order_number(now: datetime) -> str:
    """``WA{yymmdd}-{4 of A-Z0-9}``, the day in WIB: ``WA260329-A1B2``."""
    suffix = "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(4))
    return f"WA{now.astimezone(WIB):%y%m%d}-{suffix}"


def create_order(
    conn: Connection, principal: Principal, new: NewOrder, settings: Settings, now: datetime, *, notify: bool = True
) -> dict[str, Any]:
    """The order, with its payment unless ``create_payment`` is false (then it stays ``pending``
    until :func:`issue_payment`). A payment that cannot be made (method unavailable, total out
    of its range) refuses the whole order: nothing is written."""
    try:
        customer_phone = phone.normalise(new.customer_phone)
    except ValueError as exc:
        raise InvalidRequest(f"customer_phone {exc}", field="customer_phone", code="invalid_phone") from None
    if not new.items:
        raise InvalidRequest("items must list at least one item", field="items", code="invalid_items")
    total = sum(item.quantity * item.price for item in new.items)
    if total <= 0:
        raise InvalidRequest("the order's total must be more than 0 rupiah", field="items", code="invalid_total")
    items = json.dumps([{"name": i.name, "quantity": i.quantity, "price": i.price} for i in new.items])
    insert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(store_orders)
    values = {
        "merchant_id": principal.merchant_id,
        "mode": principal.mode,
        "customer_name": new.customer_name,
        "customer_phone": customer_phone,
        "items": items,
        "total": total,
        "notes": new.notes,
        "status": OrderStatus.PENDING,
        "created_at": now,
        "updated_at": now,
    }
    order_id = None
    for _ in range(_MAX_NUMBER_ATTEMPTS):
        # 36⁴ numbers a day: a taken one (by any merchant: numbers are global) is drawn again.
        statement = insert.values(order_number=new_order_number(now), **values).on_conflict_do_nothing(
            index_elements=["order_number"]
        )
        order_id = conn.execute(statement.returning(store_orders.c.id)).scalar()
        if order_id is not None:
            break
    if order_id is None:
        raise Conflict("no order number is free today; try again", code="order_number_exhausted")
    if new.create_payment:
        _attach_payment(conn, principal, order_id, new.payment_method, settings, now)
    row = _by_id(conn, order_id)
    _emit(conn, "order.created", row, settings.public_url, now, notify=notify)
    return row


def issue_payment(
    conn: Connection,
    principal: Principal,
    order_number: str,
    payment_method: str | None,
    settings: Settings,
    now: datetime,
    *,
    notify: bool = True,
) -> dict[str, Any]:
    """A payment for an order that has none yet, or whose payment expired or was cancelled:
    the order (again) waits for this one, and the buyer gets its link."""
    order = get_order(conn, principal, order_number)
    if order["payment_id"] is not None and payment_service.is_stale(
        {"status": order["payment_status"], "expires_at": order["payment_expires_at"]}, now
    ):
        payment_service.expire_due(conn, now, settings.public_url, payment_id=order["payment_id"])
        order = get_order(conn, principal, order_number)
    if order["status"] not in PAYABLE:
        raise _refusal(order, OrderStatus.WAITING_PAYMENT)
    if order["payment_status"] == "pending":
        raise Conflict(
            f"order {order_number} already has a pending payment ({order['invoice_id']}); "
            "a new one can be issued once it has expired or been cancelled",
            code="payment_pending",
        )
    _attach_payment(conn, principal, order["id"], payment_method or order["payment_method"] or "qris", settings, now)
    row = _by_id(conn, order["id"])
    _emit(conn, "order.waiting_payment", row, settings.public_url, now, notify=notify)
    return row


def _attach_payment(
    conn: Connection, principal: Principal, order_id: int, method: str, settings: Settings, now: datetime
) -> None:
    order = conn.execute(select(store_orders).where(store_orders.c.id == order_id)).mappings().one()
    names = ", ".join(f"{i['name']} x{i['quantity']}" for i in json.loads(order["items"]))
    payment = payment_service.create_payment(
        conn,
        principal,
        payment_service.NewPayment(
            amount=order["total"],
            payment_method=method,
            description=f"Pesanan {order['order_number']}: {names}"[:1000],
            customer_name=order["customer_name"],
            customer_phone=order["customer_phone"],
        ),
        settings,
        now,
    )
    conn.execute(
        update(store_orders)
        .where(store_orders.c.id == order_id)
        .values(status=OrderStatus.WAITING_PAYMENT, payment_id=payment["id"], updated_at=now)
    )


# The orders a batch of paid payments pays, still waiting for their money: now paid.
_MARK_PAID: Statement[dict[str, int]] = Statement(
    update(store_orders)
    .where(
        in_list(store_orders.c.payment_id, "payment_ids"),
        or_(*(store_orders.c.status == const(status) for status in PAYABLE)),
    )
    .values(status=const(OrderStatus.PAID))
    .returning(store_orders.c.id),
    column_keys=["paid_at", "updated_at"],
    name="mark_orders_paid",
)


def mark_paid(conn: Conn, paid: Iterable[Mapping[Any, Any]], public_url: str, now: datetime) -> int:
    """Orders whose payment is among ``paid`` (payment rows just set to paid, in this
    transaction) become ``paid``, with ``order.paid`` and the buyer's message. One statement when
    none of them is an order's, which is the common case for a batch of matched credits."""
    payment_ids = [p["id"] for p in paid]
    if not payment_ids:
        return 0
    rows = statements.scalars(conn, _MARK_PAID, {"payment_ids": payment_ids, "paid_at": now, "updated_at": now})
    if rows:
        # The order's event and message are SQLAlchemy's: on the event loop (kasir.db.loop), the
        # unit paying them runs again on a thread.
        core = statements.on_sqlalchemy(conn)
        for order_id in sorted(rows):
            _emit(core, "order.paid", _by_id(core, order_id), public_url, now, notify=True)
    return len(rows)


def process(
    conn: Connection, principal: Principal, order_number: str, settings: Settings, now: datetime, *, notify: bool = True
) -> dict[str, Any]:
    """``paid`` → ``processing``: the merchant is preparing it."""
    return _move(
        conn,
        principal,
        order_number,
        OrderStatus.PROCESSING,
        MOVES_FROM[OrderStatus.PROCESSING],
        settings,
        now,
        notify=notify,
    )


def complete(
    conn: Connection, principal: Principal, order_number: str, settings: Settings, now: datetime, *, notify: bool = True
) -> dict[str, Any]:
    return _move(
        conn,
        principal,
        order_number,
        OrderStatus.COMPLETED,
        MOVES_FROM[OrderStatus.COMPLETED],
        settings,
        now,
        notify=notify,
    )


def cancel(
    conn: Connection, principal: Principal, order_number: str, settings: Settings, now: datetime, *, notify: bool = True
) -> dict[str, Any]:
    """Any order not yet completed. Its pending payment is cancelled with it, so it can no
    longer be paid; a paid order keeps its paid payment (refunds are the merchant's, by hand)."""
    order = get_order(conn, principal, order_number)
    payment_id = order["payment_id"]
    if payment_id is not None:
        # Payment before order, the order matching locks them in, so the two never deadlock.
        locked = purposes.lock(conn, payment_id)
        if payment_service.is_stale(locked, now):
            payment_service.expire_due(conn, now, settings.public_url, payment_id=payment_id)
    row = _move(
        conn,
        principal,
        order_number,
        OrderStatus.CANCELLED,
        MOVES_FROM[OrderStatus.CANCELLED],
        settings,
        now,
        notify=notify,
        emit=False,
    )
    if payment_id is not None and purposes.cancel_pending(conn, payment_id, settings.public_url, now):
        row = _by_id(conn, row["id"])
    # After the payment: the event shows the order as it ends, payment cancelled.
    _emit(conn, "order.cancelled", row, settings.public_url, now, notify=notify)
    return row


def take_step(
    conn: Connection,
    principal: Principal,
    order_number: str,
    step: str,
    settings: Settings,
    now: datetime,
    *,
    notify: bool = True,
    payment_method: str | None = None,
) -> dict[str, Any]:
    """One of :data:`STEPS` by its name, as the API's calls and the dashboard's buttons name them."""
    if step == "process":
        return process(conn, principal, order_number, settings, now, notify=notify)
    if step == "complete":
        return complete(conn, principal, order_number, settings, now, notify=notify)
    if step == "cancel":
        return cancel(conn, principal, order_number, settings, now, notify=notify)
    if step == "payment":
        return issue_payment(conn, principal, order_number, payment_method, settings, now, notify=notify)
    raise ValueError(f"not a step: {step!r}")


def allowed_steps(order: Mapping[str, Any]) -> list[str]:
    """The steps ``order`` (as :func:`get_order` reads it, its stale payment already expired)
    can take now; any other is refused with its reason."""
    status = order["status"]
    steps = [
        step
        for step, to in (("process", OrderStatus.PROCESSING), ("complete", OrderStatus.COMPLETED))
        if status in MOVES_FROM[to]
    ]
    if status in PAYABLE and order["payment_status"] != "pending":
        steps.append("payment")
    if status in MOVES_FROM[OrderStatus.CANCELLED]:
        steps.append("cancel")
    return steps


_TIMESTAMP_COLUMN: dict[str, str] = {
    OrderStatus.PROCESSING: "processing_at",
    OrderStatus.COMPLETED: "completed_at",
    OrderStatus.CANCELLED: "cancelled_at",
}


def _move(
    conn: Connection,
    principal: Principal,
    order_number: str,
    to: str,
    allowed_from: tuple[str, ...],
    settings: Settings,
    now: datetime,
    *,
    notify: bool,
    emit: bool = True,
) -> dict[str, Any]:
    order = get_order(conn, principal, order_number)
    # The status guard makes the change happen in exactly one of two racing transactions.
    changed = conn.execute(
        update(store_orders)
        .where(store_orders.c.id == order["id"], store_orders.c.status.in_(allowed_from))
        .values(status=to, updated_at=now, **{_TIMESTAMP_COLUMN[to]: now})
        .returning(store_orders.c.id)
    ).scalar()
    if changed is None:
        raise _refusal(_by_id(conn, order["id"]), to)
    row = _by_id(conn, order["id"])
    if emit:
        _emit(conn, f"order.{to}", row, settings.public_url, now, notify=notify)
    return row


def _refusal(order: Mapping[str, Any], target: str) -> Conflict:
    number, current = order["order_number"], order["status"]
    if current == target:
        return Conflict(f"order {number} is already {current}", code=f"order_already_{current}")
    if current == OrderStatus.COMPLETED:
        what = "cancelled" if target == OrderStatus.CANCELLED else "changed"
        return Conflict(f"order {number} is completed; a completed order cannot be {what}", code="order_completed")
    if current == OrderStatus.CANCELLED:
        return Conflict(f"order {number} is cancelled; a cancelled order cannot be {target}", code="order_cancelled")
    if current in (OrderStatus.PENDING, OrderStatus.WAITING_PAYMENT):
        return Conflict(
            f"order {number} is {current}: it can be {target} only once it is paid (status paid or processing)",
            code="order_not_paid",
        )
    if target == OrderStatus.WAITING_PAYMENT:
        return Conflict(f"order {number} is already paid ({current}); it needs no payment", code="order_already_paid")
    return Conflict(f"order {number} is {current}; it cannot become {target}", code="order_invalid_transition")


def _emit(
    conn: Connection, event: str, row: Mapping[str, Any], public_url: str, now: datetime, *, notify: bool
) -> None:
    store_name = lookup.name_of(conn, row["merchant_id"]) or ""
    record_event(
        conn,
        merchant_id=row["merchant_id"],
        mode=row["mode"],
        type=event,
        payload=event_payload(event, row, public_url, store_name, int(now.timestamp())),
        created_at=now,
        payment_id=row["payment_id"],
        notify_phone=row["customer_phone"] if notify else None,
    )


def _by_id(conn: Connection, order_id: int) -> dict[str, Any]:
    return dict(conn.execute(ORDER_WITH_PAYMENT.where(store_orders.c.id == order_id)).mappings().one())


def get_order(conn: Connection, principal: Principal, order_number: str) -> dict[str, Any]:
    """An order of this merchant in this mode; any other, foreign or absent, is 404."""
    number = order_number.strip().upper()
    row = (
        conn.execute(
            ORDER_WITH_PAYMENT.where(
                store_orders.c.order_number == number,
                store_orders.c.merchant_id == principal.merchant_id,
                store_orders.c.mode == principal.mode,
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"order {order_number} not found", code="order_not_found")
    return dict(row)


def list_orders(conn: Connection, principal: Principal, flt: OrderFilter) -> tuple[list[dict[str, Any]], int]:
    """One page of orders, newest first, and how many match in all."""
    where = [store_orders.c.merchant_id == principal.merchant_id, store_orders.c.mode == principal.mode]
    if flt.status:
        where.append(store_orders.c.status == flt.status)
    if flt.start_date:
        where.append(store_orders.c.created_at >= wib_day_start(flt.start_date))
    if flt.end_date:
        where.append(store_orders.c.created_at < wib_day_start(flt.end_date + timedelta(days=1)))
    if flt.search:
        term = flt.search
        found = [
            store_orders.c.order_number.icontains(term, autoescape=True),
            store_orders.c.customer_name.icontains(term, autoescape=True),
            store_orders.c.customer_phone.contains(term, autoescape=True),
            purposes.invoice_contains(term),
        ]
        with contextlib.suppress(ValueError):  # "0812-3456-7890" finds the buyer stored as 62812…
            found.append(store_orders.c.customer_phone.contains(phone.normalise(term), autoescape=True))
        where.append(or_(*found))
    condition = and_(*where)
    total = conn.execute(select(func.count()).select_from(_WITH_PAYMENT).where(condition)).scalar_one()
    rows = conn.execute(
        ORDER_WITH_PAYMENT.where(condition)
        .order_by(store_orders.c.created_at.desc(), store_orders.c.id.desc())
        .limit(flt.limit)
        .offset(flt.offset)
    ).mappings()
    return [dict(r) for r in rows], total
