"""Payment links: create, list, get, change, deactivate, and a buyer's claim of a use, which makes
the buyer's own payment through ``kasir.payments.service.create_payment`` (so unique codes,
matching, events and callbacks are a payment's like any other). No HTTP, no commit of its own.

A use is held by a payment made through the link that is pending and not past its expiry, or
paid; an expired or cancelled one frees its use (docs/links.md, "Uses"). The count and the new
payment happen in one transaction that holds the link's row: ``SELECT … FOR UPDATE`` on
PostgreSQL; on SQLite every write transaction begins ``IMMEDIATE`` (kasir.db.engine), so it holds
the database's only write lock already. Two buyers racing for a link's last use therefore queue,
and the second counts the first one's payment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, insert, select, update

from kasir import idempotency
from kasir.alerts import service as alerts
from kasir.config import Settings
from kasir.db.tables import payment_links
from kasir.errors import Conflict, InvalidRequest, KasirError, NotFound
from kasir.goods import catalog
from kasir.links import fields, slugs
from kasir.merchants import lookup
from kasir.merchants.service import Principal
from kasir.money import rupiah
from kasir.payments import purposes
from kasir.payments.methods import METHODS
from kasir.payments.service import NewPayment, available_method, create_payment, get_payment
from kasir.payments.views import PaymentRow

MAX_LIST = 100
_SLUG_ATTEMPTS = 5  # 95 random bits: a collision is for the tests that force one


class LinkGone(KasirError):
    """The link cannot be paid any more and never will be as it is: deactivated or expired."""

    status_code = 410
    code = "link_inactive"


@dataclass(frozen=True, slots=True)
class Usage:
    """What a link's payments add up to, at one instant."""

    paid: int = 0  # payments paid
    paid_total: int = 0  # the money they brought in, unique codes included (their paid_amount)
    pending: int = 0  # payments waiting to be paid and not past their expiry: each holds a use

    @property
    def held(self) -> int:
        return self.paid + self.pending


@dataclass(frozen=True, slots=True)
class Buyer:
    """What the public page asked the buyer: checked by kasir.web.link_page."""

    name: str
    phone: str | None = None
    amount: int | None = None  # the buyer's choice, on a link with an open amount


# --- the merchant's side ------------------------------------------------------------------------


def _scoped(principal: Principal) -> Any:
    return and_(payment_links.c.merchant_id == principal.merchant_id, payment_links.c.mode == principal.mode)


def _not_found(public_id: str) -> NotFound:
    return NotFound(f"payment link {public_id!r} not found", code="link_not_found")


def get_link(conn: Connection, principal: Principal, public_id: str, *, lock: bool = False) -> dict[str, Any]:
    """The caller's link ``public_id``; any other, foreign, the other mode's or absent, is 404."""
    if not slugs.plausible_link_id(public_id):
        raise _not_found(public_id)
    query = select(payment_links).where(_scoped(principal), payment_links.c.public_id == public_id)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    if row is None:
        raise _not_found(public_id)
    return dict(row)


def list_links(
    conn: Connection,
    principal: Principal,
    *,
    active: bool | None = None,
    limit: int = 50,
    before: str | None = None,
) -> list[dict[str, Any]]:
    """Newest first; ``before``: a link id, the links made before it (the next page)."""
    query = select(payment_links).where(_scoped(principal))
    if active is not None:
        query = query.where(payment_links.c.active.is_(active))
    if before is not None:
        query = query.where(payment_links.c.id < get_link(conn, principal, before)["id"])
    rows = conn.execute(query.order_by(payment_links.c.id.desc()).limit(limit)).mappings()
    return [dict(row) for row in rows]


def _check_against_database(
    conn: Connection, principal: Principal, values: Mapping[str, Any], changes: Mapping[str, Any], settings: Settings
) -> None:
    """What ``fields.resolve`` cannot see: whether the method takes payments for this merchant in
    this mode, and whether the goods' ids are theirs. Only what the request sets is checked, so a
    title can still be changed after, say, the link's file was deactivated."""
    if "payment_method" in changes:
        available_method(conn, principal, METHODS[values["payment_method"]], settings)
    catalog.check_attachments(
        conn, principal, {name: values[name] for name in fields.ATTACHMENT_FIELDS if changes.get(name) is not None}
    )


def create_link(
    conn: Connection, principal: Principal, params: Mapping[str, Any], settings: Settings, now: datetime
) -> dict[str, Any]:
    changes = fields.parse_changes(params)
    values = fields.resolve(None, changes, settings, now)
    _check_against_database(conn, principal, values, {**changes, "payment_method": values["payment_method"]}, settings)
    row = {
        **values,
        "public_id": slugs.new_link_id(),
        "merchant_id": principal.merchant_id,
        "mode": principal.mode,
        "created_at": now,
        "updated_at": now,
        "deactivated_at": None if values["active"] else now,
    }
    for _ in range(_SLUG_ATTEMPTS):
        slug = slugs.new_slug()
        if conn.execute(select(payment_links.c.id).where(payment_links.c.slug == slug)).first() is None:
            break
    else:
        raise Conflict("could not pick a free slug for the link; try again", code="slug_exhausted")
    inserted = conn.execute(insert(payment_links).values(**row, slug=slug).returning(*payment_links.c))
    return dict(inserted.mappings().one())


def change_link(
    conn: Connection,
    principal: Principal,
    public_id: str,
    params: Mapping[str, Any],
    settings: Settings,
    now: datetime,
) -> dict[str, Any]:
    """PATCH: the fields sent change, the others stay. Locks the link, as a claim does, so that a
    change and a buyer's claim never interleave."""
    changes = fields.parse_changes(params)
    if not changes:
        raise InvalidRequest(f"send the fields to change: {', '.join(fields.FIELDS)}", code="nothing_to_change")
    current = get_link(conn, principal, public_id, lock=True)
    values = fields.resolve(current, changes, settings, now)
    # A form sends every field: only what differs from the link is a change to check.
    changed = {name: value for name, value in changes.items() if value != current[name]}
    _check_against_database(conn, principal, values, changed, settings)
    if values["active"] and not current["active"]:
        values["deactivated_at"] = None
    elif not values["active"] and current["active"]:
        values["deactivated_at"] = now
    conn.execute(update(payment_links).where(payment_links.c.id == current["id"]).values(**values, updated_at=now))
    return get_link(conn, principal, public_id)


def deactivate_link(conn: Connection, principal: Principal, public_id: str, now: datetime) -> dict[str, Any]:
    """DELETE: the link stops taking buyers; it and its payments stay (they keep their link_id).
    Deactivating twice is deactivating once."""
    current = get_link(conn, principal, public_id, lock=True)
    if current["active"]:
        conn.execute(
            update(payment_links)
            .where(payment_links.c.id == current["id"])
            .values(active=False, deactivated_at=now, updated_at=now)
        )
    return get_link(conn, principal, public_id)


def usage_of(conn: Connection, public_ids: Iterable[str], now: datetime) -> dict[str, Usage]:
    """Each link's paid count, money received and pending uses, in one query (ix_payments_link)."""
    wanted = list(public_ids)
    found = purposes.link_usage(conn, wanted, now)
    return {public_id: Usage(*found[public_id]) if public_id in found else Usage() for public_id in wanted}


def link_payments(
    conn: Connection, principal: Principal, link: Mapping[str, Any], *, limit: int = 20, offset: int = 0
) -> list[dict[str, Any]]:
    """The payments made through ``link``, newest first."""
    return [dict(row) for row in purposes.of_link(conn, principal, link["public_id"], limit=limit, offset=offset)]


def count_payments(conn: Connection, link: Mapping[str, Any]) -> int:
    return purposes.count_of_link(conn, link["public_id"])


# --- the buyer's side ---------------------------------------------------------------------------


def refusal(link: Mapping[str, Any], usage: Usage, now: datetime) -> KasirError | None:
    """Why nobody can pay through ``link`` now, or None when a buyer can."""
    if not link["active"]:
        return LinkGone(f"payment link {link['public_id']} is no longer active", code="link_inactive")
    if link["expires_at"] is not None and link["expires_at"] <= now:
        return LinkGone(f"payment link {link['public_id']} has expired", code="link_expired")
    if link["max_paid_uses"] is not None and usage.held >= link["max_paid_uses"]:
        return Conflict(f"payment link {link['public_id']} has no use left", code="link_used_up")
    return None


def find_for_page(conn: Connection, slug: str) -> dict[str, Any] | None:
    """The link behind ``/l/<slug>`` with what its page shows: its shop's name
    (``merchant_name``) and its photo (``image_public_id``, ``image_width``, ``image_height``)."""
    if not slugs.plausible_slug(slug):
        return None
    row = (
        conn.execute(
            catalog.with_image(
                lookup.with_merchant(select(payment_links), payment_links.c.merchant_id, merchant_name="name"),
                payment_links.c.product_image_id,
                active_only=True,
            ).where(payment_links.c.slug == slug)
        )
        .mappings()
        .first()
    )
    return None if row is None else dict(row)


def _buyer_amount(link: Mapping[str, Any], buyer: Buyer) -> int:
    if link["amount"] is not None:
        return int(link["amount"])
    low, high = link["amount_min"], link["amount_max"]
    if buyer.amount is None:
        raise InvalidRequest("amount is required: this link lets the buyer choose it", field="amount")
    if not low <= buyer.amount <= high:
        raise InvalidRequest(
            f"amount must be between Rp {rupiah(low)} and Rp {rupiah(high)}",
            field="amount",
            code="amount_out_of_range",
        )
    return buyer.amount


# The merchant's idempotency keys (kasir.idempotency) hold the forms already sent: written in
# the transaction of the payment, swept after KASIR_IDEMPOTENCY_TTL like the API's.
def _form_key(once: str) -> str:
    return f"link-form:{once}"


def _form_fingerprint(slug: str) -> str:
    return idempotency.fingerprint(slugs.page_path(slug), {})


def _sent_before(conn: Connection, principal: Principal, slug: str, once: str) -> str | None:
    sent = idempotency.replay(conn, principal, _form_key(once), _form_fingerprint(slug))
    return None if sent is None else str(sent.body["invoice_id"])


def sent_before(conn: Connection, link: Mapping[str, Any], once: str) -> str | None:
    """The invoice the form ``once`` of ``link`` made when it was sent before, or None."""
    principal = Principal(merchant_id=link["merchant_id"], username="", mode=link["mode"], key_hash="")
    return _sent_before(conn, principal, link["slug"], once)


def claim(
    conn: Connection, slug: str, buyer: Buyer, settings: Settings, now: datetime, *, once: str | None = None
) -> PaymentRow:
    """Take one use of the link behind ``slug`` for ``buyer``: the new payment's row. Refused, with
    nothing written, when the link is inactive or expired (``LinkGone``), has no use left
    (``Conflict`` ``link_used_up``), or the buyer's amount is out of its range.

    ``once``: the nonce of the form sent (kasir.web.link_form_token). The same form sent again
    answers the payment it made the first time, even once the link is used up by it."""
    if not slugs.plausible_slug(slug):
        raise NotFound("payment link not found", code="link_not_found")
    locked = (
        conn.execute(select(payment_links).where(payment_links.c.slug == slug).with_for_update()).mappings().first()
    )
    if locked is None:
        raise NotFound("payment link not found", code="link_not_found")
    link = dict(locked)
    username = lookup.username_of(conn, link["merchant_id"])
    # The link acts for its merchant in its mode, as an API key of theirs would.
    principal = Principal(
        merchant_id=link["merchant_id"], username=username, mode=link["mode"], key_hash=f"link:{link['public_id']}"
    )
    if once is not None:
        sent = _sent_before(conn, principal, slug, once)
        if sent is not None:
            return get_payment(conn, principal, sent)
    usage = usage_of(conn, [link["public_id"]], now)[link["public_id"]]
    refused = refusal(link, usage, now)
    if refused is not None:
        raise refused
    amount = _buyer_amount(link, buyer)
    row = create_payment(
        conn,
        principal,
        NewPayment(
            amount=amount,
            payment_method=link["payment_method"],
            description=link["title"],
            customer_name=buyer.name,
            customer_phone=buyer.phone,
            redirect_url=link["redirect_url"],
            file_id=link["file_id"],
            content_id=link["content_id"],
            product_image_id=link["product_image_id"],
            link_id=link["public_id"],
        ),
        settings,
        now,
    )
    if once is not None:
        stored = idempotency.StoredResponse(303, {"invoice_id": row["invoice_id"]})
        idempotency.remember(conn, principal, _form_key(once), _form_fingerprint(slug), stored, now)
    cap = link["max_paid_uses"]
    # A reusable link's last use taken: the owner hears of it (kasir.alerts). A single-use link
    # being used is what it is for, not news.
    if link["reusable"] and cap is not None and usage.held + 1 >= cap:
        alerts.raise_alert(
            conn,
            merchant_id=link["merchant_id"],
            mode=link["mode"],
            cause=alerts.LINK_EXHAUSTED,
            subject=link["public_id"],
            summary=f"Link pembayaran «{link['title']}» habis: {cap} dari {cap} pemakaian sudah diambil, "
            "pembeli berikutnya ditolak.",
            page=f"/dashboard/links/{link['public_id']}",
            now=now,
        )
    return row
