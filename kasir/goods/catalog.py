"""A merchant's digital goods: files, hidden contents, product images. Create, list, deactivate,
and the check create-payment makes on the ids it is given. No HTTP, no commit of its own."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, Connection, Select, Table, and_, bindparam, insert, select, update

from kasir.clock import to_wire
from kasir.db import statements
from kasir.db.statements import Conn, Statement
from kasir.db.tables import digital_files, hidden_contents, product_images
from kasir.errors import InvalidRequest, NotFound
from kasir.merchants.service import Principal

CONTENT_TYPES = ("text", "link", "license_key")
MAX_TITLE = 200
MAX_BODY = 20_000
MAX_FILENAME = 255

# What create-payment's id fields refer to, and the code a wrong id answers.
ATTACHMENTS: dict[str, tuple[Table, str]] = {
    "file_id": (digital_files, "file_not_found"),
    "content_id": (hidden_contents, "content_not_found"),
    "product_image_id": (product_images, "product_image_not_found"),
}


def clean_filename(name: str | None, fallback: str) -> str:
    """A name safe to show and to put in Content-Disposition: the last path component, printable,
    at most 255 characters."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable() and ch not in '"<>|:*?').strip(" .")
    return base[:MAX_FILENAME] or fallback


def _scoped(table: Table, principal: Principal) -> Any:
    return (table.c.merchant_id == principal.merchant_id) & (table.c.mode == principal.mode)


def _list(conn: Connection, table: Table, principal: Principal, active_only: bool) -> list[dict[str, Any]]:
    query = select(table).where(_scoped(table, principal)).order_by(table.c.id)
    if active_only:
        query = query.where(table.c.active.is_(True))
    return [dict(row) for row in conn.execute(query).mappings()]


_MAX_ID = 2**63 - 1  # a path id past BIGINT names nothing (and must not reach the driver)


def _get(conn: Connection, table: Table, principal: Principal, item_id: int, what: str) -> dict[str, Any]:
    if not 0 < item_id <= _MAX_ID:
        raise NotFound(f"{what} {item_id} not found", code=f"{what.replace(' ', '_')}_not_found")
    row = conn.execute(select(table).where(_scoped(table, principal), table.c.id == item_id)).mappings().first()
    if row is None:
        raise NotFound(f"{what} {item_id} not found", code=f"{what.replace(' ', '_')}_not_found")
    return dict(row)


def _deactivate(
    conn: Connection, table: Table, principal: Principal, item_id: int, what: str, now: datetime
) -> dict[str, Any]:
    current = _get(conn, table, principal, item_id, what)
    if not current["active"]:
        return current  # deactivating twice is the same as once
    conn.execute(update(table).where(table.c.id == item_id).values(active=False, deactivated_at=now))
    return _get(conn, table, principal, item_id, what)


def _insert(conn: Connection, table: Table, values: dict[str, Any]) -> dict[str, Any]:
    row = conn.execute(insert(table).values(**values).returning(*table.c)).mappings().one()
    return dict(row)


# --- files ------------------------------------------------------------------------------------


def create_file(
    conn: Connection,
    principal: Principal,
    *,
    filename: str,
    content_type: str,
    size: int,
    sha256: str,
    now: datetime,
) -> dict[str, Any]:
    return _insert(
        conn,
        digital_files,
        {
            "merchant_id": principal.merchant_id,
            "mode": principal.mode,
            "filename": filename,
            "content_type": content_type,
            "size": size,
            "sha256": sha256,
            "storage_key": sha256,
            "active": True,
            "created_at": now,
        },
    )


def list_files(conn: Connection, principal: Principal, active_only: bool = True) -> list[dict[str, Any]]:
    return _list(conn, digital_files, principal, active_only)


def get_file(conn: Connection, principal: Principal, file_id: int) -> dict[str, Any]:
    return _get(conn, digital_files, principal, file_id, "file")


def deactivate_file(conn: Connection, principal: Principal, file_id: int, now: datetime) -> dict[str, Any]:
    return _deactivate(conn, digital_files, principal, file_id, "file", now)


def file_view(row: Mapping[str, Any]) -> dict[str, Any]:
    """Seed 004's list-files fields first (id, filename, size, active)."""
    return {
        "id": row["id"],
        "filename": row["filename"],
        "size": row["size"],
        "active": bool(row["active"]),
        "content_type": row["content_type"],
        "sha256": row["sha256"],
        "created_at": to_wire(row["created_at"]),
    }


# --- hidden contents --------------------------------------------------------------------------


def check_content(title: Any, kind: Any, body: Any) -> tuple[str, str, str]:
    if not isinstance(title, str) or not title.strip():
        raise InvalidRequest("title is required", field="title", code="missing_title")
    if len(title.strip()) > MAX_TITLE:
        raise InvalidRequest(f"title is at most {MAX_TITLE} characters", field="title", code="title_too_long")
    if kind not in CONTENT_TYPES:
        raise InvalidRequest(f"type must be one of {', '.join(CONTENT_TYPES)}", field="type", code="invalid_type")
    if not isinstance(body, str) or not body.strip():
        raise InvalidRequest(
            "content is required: what the buyer sees once paid", field="content", code="missing_content"
        )
    if len(body) > MAX_BODY:
        raise InvalidRequest(f"content is at most {MAX_BODY} characters", field="content", code="content_too_long")
    if kind == "link":
        parts = urlsplit(body.strip())
        # Shown as a link on the pay page: a javascript: or data: URL would run there.
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidRequest("a link must be an http:// or https:// URL", field="content", code="invalid_url")
        body = body.strip()
    return title.strip(), kind, body


def create_content(
    conn: Connection, principal: Principal, *, title: Any, kind: Any, body: Any, now: datetime
) -> dict[str, Any]:
    title, kind, body = check_content(title, kind, body)
    return _insert(
        conn,
        hidden_contents,
        {
            "merchant_id": principal.merchant_id,
            "mode": principal.mode,
            "title": title,
            "type": kind,
            "body": body,
            "active": True,
            "created_at": now,
        },
    )


def list_contents(conn: Connection, principal: Principal, active_only: bool = True) -> list[dict[str, Any]]:
    return _list(conn, hidden_contents, principal, active_only)


def get_content(conn: Connection, principal: Principal, content_id: int) -> dict[str, Any]:
    return _get(conn, hidden_contents, principal, content_id, "content")


def deactivate_content(conn: Connection, principal: Principal, content_id: int, now: datetime) -> dict[str, Any]:
    return _deactivate(conn, hidden_contents, principal, content_id, "content", now)


def paid_content(conn: Connection, content_id: int) -> dict[str, Any] | None:
    """What a paid payment's pay page shows of its hidden content: title, type and body."""
    row = conn.execute(
        select(hidden_contents.c.title, hidden_contents.c.type, hidden_contents.c.body).where(
            hidden_contents.c.id == content_id
        )
    ).first()
    return None if row is None else {"title": row.title, "type": row.type, "body": row.body}


def content_view(row: Mapping[str, Any], *, with_body: bool = False) -> dict[str, Any]:
    """Seed 004's list-contents fields (id, title, type, active); the body only when asked for
    one content by its owner."""
    view = {
        "id": row["id"],
        "title": row["title"],
        "type": row["type"],
        "active": bool(row["active"]),
        "created_at": to_wire(row["created_at"]),
    }
    if with_body:
        view["content"] = row["body"]
    return view


# --- product images ---------------------------------------------------------------------------


def create_image(
    conn: Connection,
    principal: Principal,
    *,
    filename: str,
    width: int,
    height: int,
    size: int,
    storage_key: str,
    thumbnail_key: str,
    now: datetime,
) -> dict[str, Any]:
    return _insert(
        conn,
        product_images,
        {
            "public_id": "img_" + secrets.token_urlsafe(18),
            "merchant_id": principal.merchant_id,
            "mode": principal.mode,
            "filename": filename,
            "width": width,
            "height": height,
            "size": size,
            "storage_key": storage_key,
            "thumbnail_key": thumbnail_key,
            "active": True,
            "created_at": now,
        },
    )


def list_images(conn: Connection, principal: Principal, active_only: bool = True) -> list[dict[str, Any]]:
    return _list(conn, product_images, principal, active_only)


def get_image(conn: Connection, principal: Principal, image_id: int) -> dict[str, Any]:
    return _get(conn, product_images, principal, image_id, "image")


def deactivate_image(conn: Connection, principal: Principal, image_id: int, now: datetime) -> dict[str, Any]:
    return _deactivate(conn, product_images, principal, image_id, "image", now)


S = TypeVar("S", bound=Select[Any])


def with_image(query: S, image_id: ColumnElement[Any], *, active_only: bool = False) -> S:
    """``query`` outer-joined to the product image ``image_id`` names, with what a pay page
    shows of it: ``image_public_id``, ``image_width``, ``image_height`` (None without one, or
    with ``active_only`` when the image was deactivated). For the pay page's one statement,
    composed by kasir.payments, and a payment link's page (kasir.links)."""
    joined = product_images.c.id == image_id
    if active_only:
        joined = and_(joined, product_images.c.active.is_(True))
    return query.outerjoin(product_images, joined).add_columns(  # type: ignore[return-value]
        product_images.c.public_id.label("image_public_id"),
        product_images.c.width.label("image_width"),
        product_images.c.height.label("image_height"),
    )


def image_files(conn: Connection, public_id: str) -> tuple[str, str] | None:
    """The stored photo and thumbnail (their storage keys) of the image ``public_id``, or None:
    what ``/media/…`` serves, to anyone (the pay page is public)."""
    row = conn.execute(
        select(product_images.c.storage_key, product_images.c.thumbnail_key).where(
            product_images.c.public_id == public_id
        )
    ).first()
    return None if row is None else (row.storage_key, row.thumbnail_key)


def image_url(public_url: str, row: Mapping[str, Any], *, thumbnail: bool = False) -> str:
    return f"{public_url}/media/{row['public_id']}{'-thumb' if thumbnail else ''}.webp"


def image_view(row: Mapping[str, Any], public_url: str) -> dict[str, Any]:
    """Seed 004's list-images fields first (id, filename, url, active)."""
    return {
        "id": row["id"],
        "filename": row["filename"],
        "url": image_url(public_url, row),
        "active": bool(row["active"]),
        "thumbnail_url": image_url(public_url, row, thumbnail=True),
        "width": row["width"],
        "height": row["height"],
        "size": row["size"],
        "created_at": to_wire(row["created_at"]),
    }


# --- what create-payment attaches -------------------------------------------------------------


def _attachment_statement(table: Table) -> Statement[dict[str, int]]:
    return Statement(
        select(table.c.id).where(
            table.c.merchant_id == bindparam("merchant_id"),
            table.c.mode == bindparam("mode"),
            table.c.id == bindparam("id"),
            table.c.active.is_(True),
        ),
        name=f"active_{table.name}",
    )


_ACTIVE_ATTACHMENT = {field: _attachment_statement(table) for field, (table, _code) in ATTACHMENTS.items()}


def check_attachments(conn: Conn, principal: Principal, ids: Mapping[str, int | None]) -> None:
    """Each id given must name an active item of this merchant in this mode; anything else (absent,
    another merchant's, deactivated) is the same 400, so ids cannot be probed."""
    for field, item_id in ids.items():
        if item_id is None:
            continue
        _table, code = ATTACHMENTS[field]
        params = {"merchant_id": principal.merchant_id, "mode": principal.mode, "id": item_id}
        if statements.first(conn, _ACTIVE_ATTACHMENT[field], params) is None:
            raise InvalidRequest(f"{field} {item_id} does not name an active item of yours", field=field, code=code)
